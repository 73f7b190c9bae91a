//! What `receipts` reads: one record per settled row, with the request that settled it and
//! what the lookups found. Streamed row by row, so that a million rows cost no more
//! memory than one.

use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;

use super::report::Cell;
use super::upkeep::sql_time;
use super::{QueueError, SqliteQueue};
use crate::video::Namespace;
use crate::vocabulary::{Proof, RowStatus};

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

    fn read(row: &SqliteRow) -> Self {
        Self::from_cells(|column| Cell::read(row, column))
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

impl SqliteQueue {
    /// How many rows `receipts` would write (for its progress line).
    pub async fn count_receipts(&self, filter: &Filter) -> Result<i64, QueueError> {
        let sql = format!("SELECT count(*) FROM deletion_queue AS q WHERE {WHERE}");
        let (statuses, since, until, namespace) = parameters(filter);
        sqlx::query_scalar(&sql)
            .bind(statuses)
            .bind(since)
            .bind(until)
            .bind(namespace)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }

    /// The settled rows `filter` selects, in queue order, one at a time.
    pub fn receipts<'a>(
        &'a self,
        filter: &'a Filter,
        sql: &'a str,
    ) -> BoxStream<'a, Result<Receipt, QueueError>> {
        let (statuses, since, until, namespace) = parameters(filter);
        sqlx::query(sql)
            .bind(statuses)
            .bind(since)
            .bind(until)
            .bind(namespace)
            .fetch(&self.pool)
            .map(move |row| {
                row.map(|row| Receipt::read(&row))
                    .map_err(|e| self.error(e))
            })
            .boxed()
    }
}

/// The statement [`SqliteQueue::receipts`] runs (built once by the caller, who keeps it alive
/// for the stream).
pub fn receipts_sql() -> String {
    format!(
        "SELECT q.id, q.video_no, q.unique_id, q.status, q.enqueued_at, q.due_at, q.settled_at,
                q.attempts, q.batch_id, b.started_at AS sent_at, b.http_status, b.api_code,
                b.api_msg, q.listed_at, q.missed_at, q.checked_at, q.relisted, q.last_error,
                q.source, coalesce(q.proof, '{}') AS proof
           FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id
          WHERE {WHERE}
          ORDER BY q.id",
        Proof::UNRECORDED
    )
}

/// The filter, as the statements above use it: ?1 statuses (JSON), ?2 since, ?3 until,
/// ?4 namespace.
const WHERE: &str = "q.status IN (SELECT value FROM json_each(?1))
    AND (?2 IS NULL OR q.settled_at >= ?2) AND (?3 IS NULL OR q.settled_at < ?3)
    AND (?4 IS NULL OR q.unique_id = ?4)";

/// The filter's values for ?1 to ?4.
fn parameters(filter: &Filter) -> (String, Option<String>, Option<String>, Option<&str>) {
    let statuses: Vec<&str> = match filter.status {
        Some(status) => vec![status.as_str()],
        None => RowStatus::SETTLED.iter().map(|s| s.as_str()).collect(),
    };
    (
        serde_json::Value::from(statuses).to_string(),
        filter.since.map(sql_time),
        filter.until.map(sql_time),
        filter.namespace.as_ref().map(Namespace::as_str),
    )
}
