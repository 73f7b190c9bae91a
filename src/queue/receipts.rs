//! What `receipts` reads: one record per settled row, with the request that settled it and
//! what the lookups found. Streamed row by row, so that a million rows cost no more
//! memory than one.

use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use serde::Serialize;

use super::driver::{Driver, Statements, Turn};
use super::report::Cell;
use super::QueueError;
use crate::video::Namespace;
use crate::vocabulary::RowStatus;

/// Which settled rows: settled in `[since, until)`, of one namespace, of one status.
#[derive(Debug, Default)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub namespace: Option<Namespace>,
    pub status: Option<RowStatus>,
}

/// One settled row, every value as stored (see [`Cell`]).
#[derive(Debug, Serialize)]
pub struct Receipt {
    pub row_id: Cell,
    pub video_no: Cell,
    pub namespace: Cell,
    pub status: Cell,
    pub queued_at: Cell,
    pub due_at: Cell,
    pub settled_at: Cell,
    /// Requests the row was in.
    pub attempts: Cell,
    /// The request that settled it, when one did.
    pub batch_id: Cell,
    pub sent_at: Cell,
    pub http_status: Cell,
    pub api_code: Cell,
    pub api_msg: Cell,
    /// The last lookup before sending that listed it.
    pub listed_at: Cell,
    /// The first lookup that did not list it.
    pub missed_at: Cell,
    /// The lookup after deleting that no longer listed it: the deletion verified.
    pub checked_at: Cell,
    /// Times the API answered for it and still listed it after.
    pub relisted: Cell,
    pub note: Cell,
    /// Who queued it: empty for a producer, `rule:NAME` for a lifecycle rule.
    pub source: Cell,
    /// What proves its status (a [`crate::vocabulary::Proof`]); `unrecorded` for a row
    /// settled before proofs were recorded.
    pub proof: Cell,
}

impl Receipt {
    /// The column names, in order (the CSV header).
    pub const COLUMNS: [&'static str; 20] = [
        "row_id",
        "video_no",
        "namespace",
        "status",
        "queued_at",
        "due_at",
        "settled_at",
        "attempts",
        "batch_id",
        "sent_at",
        "http_status",
        "api_code",
        "api_msg",
        "listed_at",
        "missed_at",
        "checked_at",
        "relisted",
        "note",
        "source",
        "proof",
    ];

    /// The values, in the order of [`Self::COLUMNS`].
    pub fn values(&self) -> [&Cell; 20] {
        [
            &self.row_id,
            &self.video_no,
            &self.namespace,
            &self.status,
            &self.queued_at,
            &self.due_at,
            &self.settled_at,
            &self.attempts,
            &self.batch_id,
            &self.sent_at,
            &self.http_status,
            &self.api_code,
            &self.api_msg,
            &self.listed_at,
            &self.missed_at,
            &self.checked_at,
            &self.relisted,
            &self.note,
            &self.source,
            &self.proof,
        ]
    }

    /// A receipt from its row, each value read by `cell` under the statement's column
    /// name.
    pub(crate) fn from_cells(cell: impl Fn(&str) -> Cell) -> Self {
        Self {
            row_id: cell("id"),
            video_no: cell("video_no"),
            namespace: cell("unique_id"),
            status: cell("status"),
            queued_at: cell("enqueued_at"),
            due_at: cell("due_at"),
            settled_at: cell("settled_at"),
            attempts: cell("attempts"),
            batch_id: cell("batch_id"),
            sent_at: cell("sent_at"),
            http_status: cell("http_status"),
            api_code: cell("api_code"),
            api_msg: cell("api_msg"),
            listed_at: cell("listed_at"),
            missed_at: cell("missed_at"),
            checked_at: cell("checked_at"),
            relisted: cell("relisted"),
            note: cell("last_error"),
            source: cell("source"),
            proof: cell("proof"),
        }
    }
}

impl Filter {
    /// The statuses it selects: one, or every settled one.
    pub fn statuses(&self) -> Vec<&'static str> {
        match self.status {
            Some(status) => vec![status.as_str()],
            None => RowStatus::SETTLED.iter().map(|s| s.as_str()).collect(),
        }
    }
}

/// How many rows `receipts` would write (for its progress line).
pub async fn count<D: Driver>(driver: &D, filter: &Filter) -> Result<i64, QueueError> {
    let run = async {
        let mut tx = driver.single(Turn::Read).await?;
        tx.count_receipts(filter).await
    };
    run.await.map_err(|e| driver.error(e))
}

/// The settled rows `filter` selects, in queue order, one at a time.
pub fn stream<'a, D: Driver>(
    driver: &'a D,
    filter: &'a Filter,
) -> BoxStream<'a, Result<Receipt, QueueError>> {
    driver
        .receipts(filter)
        .map(move |row| row.map_err(|e| driver.error(e)))
        .boxed()
}
