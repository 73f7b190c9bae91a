//! What `status` shows and the metrics read, on PostgreSQL (the types are `report`'s).
//! Times are shown as on SQLite: UTC, `YYYY-MM-DD HH:MM:SS.SSS`.

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::{due, PostgresQueue};
use crate::config::LONGEST_LEASE;
use crate::queue::report::{
    proof_counts_sql, BatchRow, Cell, Count, Gauges, PendingRow, ProofCount, Report, Sender,
    NAMESPACE_GAUGES, NEWEST_HOLDS,
};
use crate::queue::{ClaimedRow, QueueError, HELD_VIDEO};
use crate::vocabulary::RowStatus;

/// A time column, shown as SQLite stores them, under the name `alias`.
pub(super) fn shown(column: &str, alias: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS {alias}")
}

/// A column read as a whole number, else as text, else NULL (the schema types every
/// column: no value of another type can be stored).
pub(super) fn cell(row: &PgRow, column: &str) -> Cell {
    if let Ok(n) = row.try_get::<Option<i64>, _>(column) {
        return n.map_or(Cell::Null, Cell::Integer);
    }
    if let Ok(n) = row.try_get::<Option<i32>, _>(column) {
        return n.map_or(Cell::Null, |n| Cell::Integer(n.into()));
    }
    match row.try_get::<Option<String>, _>(column) {
        Ok(text) => text.map_or(Cell::Null, Cell::Text),
        Err(_) => Cell::Text("(unreadable)".into()),
    }
}

impl PostgresQueue {
    pub async fn due_page(
        &self,
        after: (&str, i64),
        limit: usize,
    ) -> Result<Vec<(String, ClaimedRow)>, QueueError> {
        let sql = format!(
            "SELECT id, video_no, unique_id FROM deletion_queue AS q
              WHERE q.status = 'pending' AND {} AND (q.unique_id, q.id) > ($1, $2)
                AND NOT {HELD_VIDEO}
              ORDER BY q.unique_id, q.id LIMIT $3",
            due("q")
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
                    video_no: Some(r.get("video_no")),
                    refusals: 0,
                    in_doubt: false,
                    first_missed: None,
                };
                (r.get("unique_id"), row)
            })
            .collect())
    }

    pub async fn report(&self, last: u32) -> Result<Report, QueueError> {
        let mut counts: Vec<Count> = sqlx::query(
            "SELECT unique_id, status, count(*) AS n FROM deletion_queue
              GROUP BY unique_id, status ORDER BY unique_id, status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .iter()
        .map(|r| Count {
            unique_id: cell(r, "unique_id"),
            status: cell(r, "status"),
            rows: r.get("n"),
        })
        .collect();
        counts.sort_by_key(|c| {
            let status = c.status.to_string();
            (c.unique_id.to_string(), RowStatus::rank(&status))
        });
        let oldest_pending = sqlx::query(&format!(
            "SELECT id, video_no, unique_id, {}, due_at, attempts, last_error
               FROM deletion_queue WHERE status = 'pending' ORDER BY id LIMIT 1",
            shown("enqueued_at", "enqueued_at")
        ))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .map(|r| PendingRow {
            id: r.get("id"),
            video_no: cell(&r, "video_no"),
            unique_id: cell(&r, "unique_id"),
            enqueued_at: cell(&r, "enqueued_at"),
            due_at: cell(&r, "due_at"),
            attempts: cell(&r, "attempts"),
            last_error: cell(&r, "last_error"),
        });
        let last_batches = sqlx::query(&format!(
            "SELECT id, unique_id, ids_count, attempt, outcome, http_status, api_code, api_msg,
                    error, {}, duration_ms
               FROM deletion_batches ORDER BY id DESC LIMIT $1",
            shown("started_at", "started_at")
        ))
        .bind(i64::from(last))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .iter()
        .map(|r| BatchRow {
            id: r.get("id"),
            unique_id: cell(r, "unique_id"),
            ids_count: cell(r, "ids_count"),
            attempt: cell(r, "attempt"),
            outcome: cell(r, "outcome"),
            http_status: cell(r, "http_status"),
            api_code: cell(r, "api_code"),
            api_msg: cell(r, "api_msg"),
            error: cell(r, "error"),
            started_at: cell(r, "started_at"),
            duration_ms: cell(r, "duration_ms"),
        })
        .collect();
        let impossible_leases = self.impossible_leases().await?;
        let sender = sqlx::query(
            "SELECT holder, extract(epoch FROM until - clock_timestamp())::float8 AS s
               FROM sender_lease",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .map(|r| Sender {
            holder: cell(&r, "holder"),
            remaining_seconds: r.get("s"),
        });
        let proofs = sqlx::query(&proof_counts_sql())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?
            .iter()
            .map(|r| ProofCount {
                status: cell(r, "status"),
                proof: cell(r, "proof"),
                rows: r.get("n"),
            })
            .collect();
        Ok(Report {
            counts,
            proofs,
            oldest_pending,
            unreadable_due: self.unreadable_due().await?,
            impossible_leases,
            last_batches,
            sender,
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

    /// Rows by namespace and status, and how long the oldest due row not yet settled
    /// (pending or in flight) has been due.
    pub async fn gauges(&self, namespaces: Option<usize>) -> Result<Gauges, QueueError> {
        let counts = sqlx::query(
            "SELECT status, proof, count(*) AS n FROM deletion_queue GROUP BY status, proof",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .iter()
        .map(|r| (r.get("status"), r.get("proof"), r.get("n")))
        .collect();
        let namespaces = match namespaces {
            None => Vec::new(),
            Some(top) => sqlx::query(&NAMESPACE_GAUGES.replace("?1", "$1"))
                .bind(top as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.error(e))?
                .iter()
                .map(|r| (r.get("unique_id"), r.get("status"), r.get("n")))
                .collect(),
        };
        let oldest: Option<f64> = sqlx::query_scalar(&format!(
            "SELECT extract(epoch FROM now() - min(q.due))::float8
               FROM deletion_queue AS q WHERE q.status IN ('pending', 'in_flight') AND {}",
            due("q")
        ))
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

    /// The schema refuses every `due_at` it cannot read, so none is waiting: 0, unless a
    /// superuser switched the constraint off.
    /// Rows in flight under a lease this program never grants (none, or too far ahead).
    pub async fn impossible_leases(&self) -> Result<i64, QueueError> {
        sqlx::query_scalar(&format!(
            "SELECT count(*) FROM deletion_queue WHERE status = 'in_flight'
                AND (lease_until IS NULL OR lease_until > now() + make_interval(secs => {}))",
            LONGEST_LEASE.as_secs()
        ))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))
    }

    pub async fn unreadable_due(&self) -> Result<i64, QueueError> {
        sqlx::query_scalar(
            "SELECT count(*) FROM deletion_queue
              WHERE status IN ('pending', 'in_flight') AND due IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))
    }
}
