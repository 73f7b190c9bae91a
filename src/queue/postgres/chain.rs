//! Appending to the settlement chain on PostgreSQL: as `sqlite::chain`, with the head read
//! under [`Lock::Chain`] so that entries from several daemons are in commit order.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{Lock, PostgresQueue};
pub use crate::queue::chain::{
    anchor_text, digest, impossible, prunable, ChainEntry, ChainRow, Entry, Kind, QueueRow,
    RequestRecord, Verdict, Verifier,
};
use crate::queue::QueueError;

/// The rows an `UPDATE … RETURNING id, video_no, status, proof` changed.
pub fn returned(rows: &[PgRow]) -> Vec<ChainRow> {
    rows.iter()
        .map(|row| {
            ChainRow(
                row.get("id"),
                row.get("video_no"),
                row.get("status"),
                row.try_get::<Option<String>, _>("proof").ok().flatten(),
            )
        })
        .collect()
}

/// Appends an entry for rows settled without a request (rows of one claim: one namespace),
/// as an `UPDATE … RETURNING id, video_no, status, unique_id` returned them.
pub async fn append_settled(
    conn: &mut PgConnection,
    kind: Kind,
    rows: &[PgRow],
) -> Result<(), sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let namespace: String = first.get("unique_id");
    append(
        conn,
        Entry::without_request(kind, &namespace, returned(rows)),
    )
    .await
}

/// As `sqlite::chain::record_anchor`.
pub async fn record_anchor(conn: &mut PgConnection) -> Result<(i64, String), sqlx::Error> {
    Lock::Chain.take(&mut *conn).await?;
    let (seq, hash, since, rows_from): (i64, String, String, i64) =
        sqlx::query_as("SELECT seq, hash, since, rows_from FROM settlement_anchor")
            .fetch_one(&mut *conn)
            .await?;
    append(
        conn,
        Entry::anchor(&anchor_text(seq, &hash, &since, rows_from)),
    )
    .await?;
    Ok((seq, hash))
}

/// Appends `entry` in the caller's transaction, after its row updates: takes the chain's
/// lock, reads the head, writes the entry.
pub async fn append(conn: &mut PgConnection, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    if entry.is_idle() {
        return Ok(());
    }
    Lock::Chain.take(conn).await?;
    let request = match entry.batch_id {
        Some(batch) => request_record(conn, batch).await?,
        None => None,
    };
    let e = entry.seal(head(conn).await?, request);
    sqlx::query(
        "INSERT INTO settlement_chain
            (seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash, request)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.seq)
    .bind(e.settled_at)
    .bind(e.kind)
    .bind(e.batch_id)
    .bind(e.namespace)
    .bind(e.rows)
    .bind(e.code)
    .bind(e.msg)
    .bind(e.prev)
    .bind(e.hash)
    .bind(e.request)
    .execute(conn)
    .await
    .map(drop)
}

/// Every column of a request's record as one JSON array, written by the server (whose
/// sessions are all UTC and ISO: the same text on every host).
pub(super) const RECORD: &str = "json_build_array(id, unique_id, ids_count, attempt, outcome, \
     http_status, api_code, api_msg, error, started_at, finished_at, duration_ms, sender)::text";

async fn request_record(
    conn: &mut PgConnection,
    batch: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT {RECORD} FROM deletion_batches WHERE id = $1"
    ))
    .bind(batch)
    .fetch_optional(conn)
    .await
}

/// The last entry's sequence number and hash, or the anchor's.
async fn head(conn: &mut PgConnection) -> Result<(i64, String), sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, hash FROM (
             (SELECT 0 AS o, seq, hash FROM settlement_chain ORDER BY seq DESC LIMIT 1)
             UNION ALL (SELECT 1, seq, hash FROM settlement_anchor)) AS h
         ORDER BY o LIMIT 1",
    )
    .fetch_one(conn)
    .await
}

impl PostgresQueue {
    /// The chain's head, as every pass logs it.
    pub async fn chain_head(&self) -> Result<(i64, String), QueueError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        head(&mut conn).await.map_err(|e| self.error(e))
    }
}
