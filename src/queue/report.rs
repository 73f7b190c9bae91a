//! What `status` shows (counts by namespace and status, settled rows by proof, the oldest
//! pending row, the last requests, the sender, the holds) and what the metrics read,
//! written once over a [`Driver`]. Read-only.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::driver::{Driver, Statements, Turn};
use super::{holds, ClaimedRow, Hold, Queue, QueueError};
use crate::config::LONGEST_LEASE;
use crate::metrics::{GaugeSource, Gauges};
use crate::printable;
use crate::vocabulary::{Proof, RowStatus};

#[derive(Debug, Serialize)]
pub struct Report {
    pub counts: Vec<Count>,
    /// Settled rows by status and what proves them (`unrecorded`: settled before proofs
    /// were recorded).
    pub proofs: Vec<ProofCount>,
    pub oldest_pending: Option<PendingRow>,
    /// Rows whose `due_at` could not be read: never sent early, never due.
    pub unreadable_due: i64,
    /// Rows in flight under a lease this program never grants (unreadable, or too far
    /// ahead): the next pass takes them back.
    pub impossible_leases: i64,
    pub last_batches: Vec<BatchRow>,
    /// Who holds the sender's lease (`lead`), when anyone ever did.
    pub sender: Option<Sender>,
    /// Legal holds in force (`hold list` names them).
    pub holds: i64,
    /// The newest of them (at most `NEWEST_HOLDS`), with their reasons.
    pub newest_holds: Vec<Hold>,
}

/// How many holds `status` shows with their reasons.
pub const NEWEST_HOLDS: i64 = 5;

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

/// What `status` shows; the `last` requests.
pub async fn report<D: Driver>(driver: &D, last: u32) -> Result<Report, QueueError> {
    let run = async {
        let mut tx = driver.single(Turn::Read).await?;
        let mut counts = tx.count_rows().await?;
        // Statuses in the order a row goes through them, not alphabetically.
        counts.sort_by_key(|c| {
            let status = c.status.to_string();
            (c.unique_id.to_string(), RowStatus::rank(&status))
        });
        Ok(Report {
            counts,
            proofs: tx.proof_counts(Proof::UNRECORDED).await?,
            oldest_pending: tx.oldest_pending().await?,
            unreadable_due: tx.unreadable_due().await?,
            impossible_leases: tx.impossible_leases(LONGEST_LEASE).await?,
            last_batches: tx.last_requests(last).await?,
            sender: tx.sender_lease().await?,
            holds: tx.count_holds().await?,
            newest_holds: Vec::new(),
        })
    };
    let mut report = run.await.map_err(|e| driver.error(e))?;
    report.newest_holds = holds::list(driver, Some(NEWEST_HOLDS)).await?;
    Ok(report)
}

/// What the metrics read at each scrape: rows by status and proof (and by namespace, for
/// the `namespaces` largest), and how long the oldest due row not yet settled has been due.
/// In-flight rows count: with the API down, a pass holds the due rows for most of each
/// interval, and an age read from pending rows alone fell to 0 whenever it did, so the
/// stall alert never held.
pub async fn gauges<D: Driver>(
    driver: &D,
    namespaces: Option<usize>,
) -> Result<Gauges, QueueError> {
    let run = async {
        let mut tx = driver.single(Turn::Read).await?;
        let namespaces = match namespaces {
            None => Vec::new(),
            Some(top) => tx.namespace_gauges(top).await?,
        };
        let oldest = tx.oldest_due().await?;
        Ok(Gauges {
            counts: tx.gauge_counts().await?,
            namespaces,
            oldest_due: oldest.map(|s| Duration::from_secs_f64(s.clamp(0.0, 1e12))),
            holds: tx.count_holds().await?,
        })
    };
    run.await.map_err(|e| driver.error(e))
}

/// Due pending rows in (namespace, id) order, `limit` at a time after `after`: what a pass
/// would claim and send (held videos aside), read without claiming it.
pub async fn due_page<D: Driver>(
    driver: &D,
    after: (&str, i64),
    limit: usize,
) -> Result<Vec<(String, ClaimedRow)>, QueueError> {
    let run = async {
        let mut tx = driver.single(Turn::Read).await?;
        tx.due_page(after, limit).await
    };
    run.await.map_err(|e| driver.error(e))
}

/// Rows whose `due_at` could not be read as a time (never due, never sent early).
pub async fn unreadable_due<D: Driver>(driver: &D) -> Result<i64, QueueError> {
    let run = async {
        let mut tx = driver.single(Turn::Read).await?;
        tx.unreadable_due().await
    };
    run.await.map_err(|e| driver.error(e))
}

/// Rows that are due and waiting: what `run --once` must leave at zero to succeed.
pub async fn due_pending<D: Driver>(driver: &D) -> Result<i64, QueueError> {
    let run = async {
        let mut tx = driver.single(Turn::Read).await?;
        tx.due_pending().await
    };
    run.await.map_err(|e| driver.error(e))
}

/// A scrape reads the queue's gauges.
impl GaugeSource for Queue {
    async fn read(&self, namespaces: Option<usize>) -> Result<Gauges, String> {
        self.gauges(namespaces).await.map_err(|e| e.to_string())
    }
}
