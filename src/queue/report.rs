//! What `status` shows: counts by namespace and status, the oldest pending row, and the
//! last requests with their outcomes. Read-only.

use serde::Serialize;
use sqlx::Row;

use super::{ClaimedRow, Queue, QueueError, COUNT_UNREADABLE_DUE, DUE};
use crate::vocabulary::RowStatus;

#[derive(Debug, Serialize)]
pub struct Report {
    pub counts: Vec<Count>,
    pub oldest_pending: Option<PendingRow>,
    /// Rows whose `due_at` could not be read: never sent early, never due.
    pub unreadable_due: i64,
    pub last_batches: Vec<BatchRow>,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub unique_id: String,
    pub status: String,
    pub rows: i64,
}

#[derive(Debug, Serialize)]
pub struct PendingRow {
    pub id: i64,
    pub video_no: String,
    pub unique_id: String,
    pub enqueued_at: String,
    pub due_at: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BatchRow {
    pub id: i64,
    pub unique_id: String,
    pub ids_count: i64,
    pub attempt: i64,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub api_code: Option<String>,
    pub api_msg: Option<String>,
    pub error: Option<String>,
    pub started_at: String,
    pub duration_ms: Option<i64>,
}

impl Queue {
    /// Due pending rows in (namespace, id) order, `limit` at a time after `after`: what a
    /// pass would claim, read without claiming it.
    pub async fn due_page(
        &self,
        after: (&str, i64),
        limit: usize,
    ) -> Result<Vec<(String, ClaimedRow)>, QueueError> {
        let sql = format!(
            "SELECT id, video_no, unique_id FROM deletion_queue
              WHERE status = 'pending' AND {DUE} AND (unique_id, id) > (?1, ?2)
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
            unique_id: text(r, "unique_id"),
            status: r.get("status"),
            rows: r.get("n"),
        })
        .collect::<Vec<_>>();
        // Statuses in the order a row goes through them, not alphabetically.
        let mut counts = counts;
        counts.sort_by_key(|c| (c.unique_id.clone(), RowStatus::rank(&c.status)));
        let oldest_pending = sqlx::query(
            "SELECT id, video_no, unique_id, enqueued_at, due_at, attempts, last_error
               FROM deletion_queue WHERE status = 'pending' ORDER BY id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?
        .map(|r| PendingRow {
            id: r.get("id"),
            video_no: text(&r, "video_no"),
            unique_id: text(&r, "unique_id"),
            enqueued_at: r.get("enqueued_at"),
            due_at: r.get("due_at"),
            attempts: r.get("attempts"),
            last_error: r.get("last_error"),
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
            unique_id: text(r, "unique_id"),
            ids_count: r.get("ids_count"),
            attempt: r.get("attempt"),
            outcome: r.get("outcome"),
            http_status: r.get("http_status"),
            api_code: r.get("api_code"),
            api_msg: r.get("api_msg"),
            error: r.get("error"),
            started_at: r.get("started_at"),
            duration_ms: r.get("duration_ms"),
        })
        .collect();
        Ok(Report {
            counts,
            oldest_pending,
            unreadable_due: self.unreadable_due().await?,
            last_batches,
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

/// A column producers write, shown even when it is not valid text.
fn text(row: &sqlx::sqlite::SqliteRow, column: &str) -> String {
    row.try_get(column)
        .unwrap_or_else(|_| "(not valid text)".to_owned())
}
