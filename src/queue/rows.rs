//! What the statements read and bind, as plain data: shared by the driver's contract
//! (`queue::driver`) and the transactions that use it, so that neither imports the other's
//! module for a type. Values producers write are kept as stored ([`Cell`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::printable;
use crate::video::Namespace;
use crate::vocabulary::RowStatus;

/// The anchor row: where the chain starts (the last entry pruned, zeros before any prune),
/// since when, and the first request and row every settlement of which must have an entry.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub since: String,
    pub requests_from: i64,
    pub rows_from: i64,
}

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

/// The sender's lease as it stands.
#[derive(Debug, Serialize)]
pub struct Sender {
    pub holder: Cell,
    /// Seconds the lease runs from now; 0 or less: run out (nobody sends).
    pub remaining_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub unique_id: Cell,
    /// Checked by the schema, but a producer can switch CHECKs off.
    pub status: Cell,
    pub rows: i64,
}

#[derive(Debug, Serialize)]
pub struct ProofCount {
    pub status: Cell,
    pub proof: Cell,
    pub rows: i64,
}

#[derive(Debug, Serialize)]
pub struct PendingRow {
    pub id: i64,
    pub video_no: Cell,
    pub unique_id: Cell,
    pub enqueued_at: Cell,
    pub due_at: Cell,
    pub attempts: Cell,
    pub last_error: Cell,
}

/// Pending rows waiting for a second lookup (`status`): how many, the first's time (UTC).
#[derive(Debug, Serialize)]
pub struct AwaitingLookup {
    pub rows: i64,
    pub first: Cell,
}

#[derive(Debug, Serialize)]
pub struct BatchRow {
    pub id: i64,
    pub unique_id: Cell,
    pub ids_count: Cell,
    pub attempt: Cell,
    pub outcome: Cell,
    pub http_status: Cell,
    pub api_code: Cell,
    pub api_msg: Cell,
    pub error: Cell,
    pub started_at: Cell,
    pub duration_ms: Cell,
}

/// A value as stored, whatever its SQLite type. What `status` reads is input too: a
/// producer can write TEXT into `attempts` or a BLOB into `last_error` (SQLite keeps what
/// a column's affinity cannot convert), and reading those as the expected type panicked.
/// In JSON, a cell is its value (`null`, a number, a string); a BLOB is shown as
/// `x'…'` hex, cut.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    /// The value as it is, unescaped and whole (a BLOB as its hex, as shown): for files
    /// that quote it themselves (CSV). `None` for NULL.
    pub fn plain(&self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Integer(n) => Some(n.to_string()),
            Self::Real(x) => Some(x.to_string()),
            Self::Text(s) => Some(s.clone()),
        }
    }

    /// The value when it is a whole number.
    pub fn integer(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

/// Escaped (a namespace or an error can hold a newline or a direction override) and cut
/// (a producer's 10 MB value is shown as its start).
impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that a width (`{:<24}`) lines the columns up.
        let shown = match self {
            Self::Null => "-".to_owned(),
            Self::Integer(n) => n.to_string(),
            Self::Real(x) => x.to_string(),
            Self::Text(s) => printable::cut(s, SHOWN),
        };
        f.pad(&shown)
    }
}

/// How many characters of a text cell `status` shows.
const SHOWN: usize = 200;

/// One video of a page, as the snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshotted {
    pub video_no: String,
    pub create_ms: Option<i64>,
    /// `rules::Match::code`.
    pub matched: i64,
}

/// A listing that goes on, as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct ListingRow {
    pub id: i64,
    pub fingerprint: String,
    pub state: String,
    pub listed_at_ms: i64,
    pub note: Option<String>,
}

/// One namespace's counts, as stored (`sample`: a JSON list).
#[derive(Debug, sqlx::FromRow)]
pub struct TallyRow {
    pub namespace: String,
    pub listed: i64,
    pub matched: i64,
    pub unreadable: i64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    pub sample: Option<String>,
}

/// A legal hold, as `hold list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hold {
    pub video_no: String,
    /// `None`: the video in every namespace.
    pub namespace: Option<String>,
    pub reason: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub placed_at: String,
    /// Rows waiting `held` that this hold covers.
    pub rows_held: i64,
}

/// One namespace of a listing, as `rules plan --last` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamespaceTally {
    pub namespace: String,
    pub listed: i64,
    pub matched: i64,
    pub unreadable: i64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    /// The oldest matched video numbers.
    pub sample: Vec<String>,
}

/// A rule's last decided listing (else its latest), for `rules plan --last` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ListingReport {
    pub id: i64,
    pub rule: String,
    pub mode: String,
    pub state: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub confirmed: bool,
    pub listed: i64,
    pub matched: i64,
    pub unreadable: i64,
    pub enqueued: i64,
    pub already_queued: i64,
    pub note: Option<String>,
    /// A newer listing of the rule under way, if any (this one is the last decided).
    pub listing_now: Option<i64>,
    /// Read by a statement of its own (`tallies`).
    #[sqlx(skip)]
    pub namespaces: Vec<NamespaceTally>,
}
