//! What `status` shows: counts by namespace and status, the oldest pending row, and the
//! last requests with their outcomes; and what the metrics read. Read-only.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{
    count_impossible_leases, ClaimedRow, QueueError, SqliteQueue, COUNT_UNREADABLE_DUE, DUE,
};
use crate::printable;
use crate::queue::{Hold, HELD_VIDEO};
use crate::vocabulary::RowStatus;

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

/// Settled rows by status and proof, for `status` (the same SQL on both backends).
pub(crate) fn proof_counts_sql() -> String {
    format!(
        "SELECT status, coalesce(proof, '{}') AS proof, count(*) AS n FROM deletion_queue
          WHERE status IN ({}) GROUP BY status, proof ORDER BY status, proof",
        crate::vocabulary::Proof::UNRECORDED,
        RowStatus::sql_list(&RowStatus::SETTLED)
    )
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

/// How many bytes of a BLOB are shown.
const BLOB_SHOWN: usize = 32;

impl Cell {
    pub(super) fn read(row: &SqliteRow, column: &str) -> Self {
        use sqlx::{TypeInfo, ValueRef};
        // The type of the value stored, not the column's declared type.
        let kind = match row.try_get_raw(column) {
            Ok(raw) if raw.is_null() => return Self::Null,
            Ok(raw) => raw.type_info().name().to_owned(),
            Err(_) => return Self::Text("(unreadable)".into()),
        };
        let read = match kind.as_str() {
            "INTEGER" => row.try_get::<i64, _>(column).map(Self::Integer),
            "REAL" => row.try_get::<f64, _>(column).map(Self::Real),
            // Text that is not valid UTF-8 is shown with replacement characters.
            "TEXT" => row
                .try_get::<Vec<u8>, _>(column)
                .map(|bytes| Self::Text(String::from_utf8_lossy(&bytes).into_owned())),
            _ => row.try_get::<Vec<u8>, _>(column).map(|bytes| {
                let hex: String = bytes
                    .iter()
                    .take(BLOB_SHOWN)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let more = if bytes.len() > BLOB_SHOWN { "…" } else { "" };
                Self::Text(format!("x'{hex}'{more}"))
            }),
        };
        read.unwrap_or_else(|_| Self::Text("(unreadable)".into()))
    }

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

/// The queue's gauges for the metrics (`SqliteQueue::gauges`).
pub struct Gauges {
    /// (status, proof, rows); the proof `None` for rows not settled, or settled before
    /// proofs were recorded.
    pub counts: Vec<(String, Option<String>, i64)>,
    /// With `metrics.by_namespace`: (namespace, status, rows) of the largest namespaces by
    /// rows, at most the number asked; `None` for the others, summed.
    pub namespaces: Vec<(Option<String>, String, i64)>,
    /// How long the oldest due row not yet settled (pending, or in flight) has been due;
    /// `None` when no such row is.
    pub oldest_due: Option<Duration>,
    /// Legal holds in force.
    pub holds: i64,
}

/// How many characters of a text cell `status` shows.
const SHOWN: usize = 200;

impl SqliteQueue {
    /// Due pending rows in (namespace, id) order, `limit` at a time after `after`: what a
    /// pass would claim and send (held videos aside), read without claiming it.
    pub async fn due_page(
        &self,
        after: (&str, i64),
        limit: usize,
    ) -> Result<Vec<(String, ClaimedRow)>, QueueError> {
        let sql = format!(
            "SELECT id, video_no, unique_id FROM deletion_queue AS q
              WHERE status = 'pending' AND {DUE} AND (unique_id, id) > (?1, ?2)
                AND NOT {HELD_VIDEO}
              ORDER BY unique_id, id LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(after.0)
            .bind(after.1)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let row = ClaimedRow {
                    id: r.get("id"),
                    video_no: r.try_get("video_no").ok(),
                    refusals: 0,
                    in_doubt: false,
                    first_missed: None,
                };
                (text(r, "unique_id"), row)
            })
            .collect())
    }

    pub async fn report(&self, last: u32) -> Result<Report, QueueError> {
        let counts = sqlx::query(
            "SELECT unique_id, status, count(*) AS n FROM deletion_queue
              GROUP BY unique_id, status ORDER BY unique_id, status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .iter()
        .map(|r| Count {
            unique_id: Cell::read(r, "unique_id"),
            status: Cell::read(r, "status"),
            rows: r.get("n"),
        })
        .collect::<Vec<_>>();
        // Statuses in the order a row goes through them, not alphabetically.
        let mut counts = counts;
        counts.sort_by_key(|c| {
            let status = c.status.to_string();
            (c.unique_id.to_string(), RowStatus::rank(&status))
        });
        let oldest_pending = sqlx::query(
            "SELECT id, video_no, unique_id, enqueued_at, due_at, attempts, last_error
               FROM deletion_queue WHERE status = 'pending' ORDER BY id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .map(|r| PendingRow {
            id: r.get("id"),
            video_no: Cell::read(&r, "video_no"),
            unique_id: Cell::read(&r, "unique_id"),
            enqueued_at: Cell::read(&r, "enqueued_at"),
            due_at: Cell::read(&r, "due_at"),
            attempts: Cell::read(&r, "attempts"),
            last_error: Cell::read(&r, "last_error"),
        });
        let last_batches = sqlx::query(
            "SELECT id, unique_id, ids_count, attempt, outcome, http_status, api_code, api_msg,
                    error, started_at, duration_ms
               FROM deletion_batches ORDER BY id DESC LIMIT ?1",
        )
        .bind(last)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .iter()
        .map(|r| BatchRow {
            id: r.get("id"),
            unique_id: Cell::read(r, "unique_id"),
            ids_count: Cell::read(r, "ids_count"),
            attempt: Cell::read(r, "attempt"),
            outcome: Cell::read(r, "outcome"),
            http_status: Cell::read(r, "http_status"),
            api_code: Cell::read(r, "api_code"),
            api_msg: Cell::read(r, "api_msg"),
            error: Cell::read(r, "error"),
            started_at: Cell::read(r, "started_at"),
            duration_ms: Cell::read(r, "duration_ms"),
        })
        .collect();
        let proofs = sqlx::query(&proof_counts_sql())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?
            .iter()
            .map(|r| ProofCount {
                status: Cell::read(r, "status"),
                proof: Cell::read(r, "proof"),
                rows: r.get("n"),
            })
            .collect();
        Ok(Report {
            counts,
            proofs,
            oldest_pending,
            unreadable_due: self.unreadable_due().await?,
            impossible_leases: sqlx::query_scalar(&count_impossible_leases())
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.error(e))?,
            last_batches,
            sender: sqlx::query(
                "SELECT holder, coalesce((julianday(until) - julianday('now')) * 86400.0, 0) AS s
                   FROM sender_lease",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?
            .map(|r| Sender {
                holder: Cell::read(&r, "holder"),
                remaining_seconds: r.try_get("s").unwrap_or(0.0),
            }),
            holds: self.count_holds().await?,
            newest_holds: self.holds(Some(NEWEST_HOLDS)).await?,
        })
    }

    async fn count_holds(&self) -> Result<i64, QueueError> {
        sqlx::query_scalar("SELECT count(*) FROM legal_holds")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }

    /// What the metrics read at each scrape: rows by namespace and status, and how long
    /// the oldest due row not yet settled has been due. In-flight rows count: with the API
    /// down, a pass holds the due rows for most of each interval, and an age read from
    /// pending rows alone fell to 0 whenever it did, so the stall alert never held.
    pub async fn gauges(&self, namespaces: Option<usize>) -> Result<Gauges, QueueError> {
        let counts = sqlx::query(
            "SELECT status, proof, count(*) AS n FROM deletion_queue GROUP BY status, proof",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .iter()
        .map(|r| {
            (
                text(r, "status"),
                r.try_get("proof").ok().flatten(),
                r.get("n"),
            )
        })
        .collect();
        let namespaces = match namespaces {
            None => Vec::new(),
            Some(top) => sqlx::query(NAMESPACE_GAUGES)
                .bind(top as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.error(e))?
                .iter()
                .map(|r| {
                    use sqlx::ValueRef;
                    let namespace = match r.try_get_raw("unique_id").map(|v| v.is_null()) {
                        Ok(true) => None,
                        _ => Some(text(r, "unique_id")),
                    };
                    (namespace, text(r, "status"), r.get("n"))
                })
                .collect(),
        };
        let sql = format!(
            "SELECT (julianday('now') - min(julianday(due_at))) * 86400.0
               FROM deletion_queue WHERE status IN ('pending', 'in_flight') AND {DUE}"
        );
        let oldest: Option<f64> = sqlx::query_scalar(&sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(Gauges {
            counts,
            namespaces,
            oldest_due: oldest.map(|s| Duration::from_secs_f64(s.clamp(0.0, 1e12))),
            holds: self.count_holds().await?,
        })
    }

    /// Rows whose `due_at` could not be read as a time: failed by migration 0005 (their
    /// `last_error` names the value), or waiting and never due (which the schema now
    /// refuses, unless a producer got past its CHECK).
    pub async fn unreadable_due(&self) -> Result<i64, QueueError> {
        sqlx::query_scalar(COUNT_UNREADABLE_DUE)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }
}

/// Rows by namespace and status, for the `?1` namespaces with the most rows; the rest
/// summed under a NULL namespace. What a scrape returns is bounded by `?1`, whatever the
/// number of namespaces (the same SQL on PostgreSQL, `$1` for `?1`).
pub(crate) const NAMESPACE_GAUGES: &str = "
    WITH largest AS (SELECT unique_id FROM deletion_queue GROUP BY unique_id
                      ORDER BY count(*) DESC, unique_id LIMIT ?1)
    SELECT l.unique_id, q.status, count(*) AS n
      FROM deletion_queue AS q LEFT JOIN largest AS l ON l.unique_id = q.unique_id
     GROUP BY l.unique_id, q.status";

/// A column producers write, shown even when it is not valid text.
fn text(row: &sqlx::sqlite::SqliteRow, column: &str) -> String {
    row.try_get(column)
        .unwrap_or_else(|_| "(not valid text)".to_owned())
}
