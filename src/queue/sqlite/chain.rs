//! The settlement chain: tamper evidence for the record of what was deleted.
//!
//! Every transaction that records a request, or settles rows (or puts settled rows back),
//! appends one entry to `settlement_chain`, in commit order (SQLite has one writer, and the
//! entry is written in the same transaction, after the write lock is taken). An entry holds
//! the rows with their new status, the request's whole record as it then stood and the
//! API's answer, and `hash` = SHA-256 of
//! `[prev, seq, settled_at, kind, batch_id, namespace, rows, code, msg, request]` as compact
//! JSON (`request` left out of entries written before it existed), `prev` being the
//! previous entry's hash (the anchor's for the first). Editing an entry, removing one, or
//! editing what it vouches for in `deletion_queue` or `deletion_batches` is found by
//! [`SqliteQueue::verify_chain`]. The head is logged after every pass, so a copy of it lives
//! outside the database.

use futures_util::StreamExt;
use sqlx::Row;

pub use super::statements::returned;
use super::statements::RECORD;
use super::{QueueError, SqliteQueue};
pub use crate::queue::chain::{
    append, digest, impossible, prunable, record_anchor, ChainEntry, Entry, Kind, QueueRow,
    RequestRecord, Verdict, Verifier,
};
use crate::queue::driver::Statements;
use crate::vocabulary::RowStatus;

/// A time as the daemon writes `settled_at` (`strftime('%Y-%m-%d %H:%M:%f')`), as a GLOB:
/// required of rows queued since proofs were recorded (older versions may have written
/// others).
const WRITTEN: &str =
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]";

impl SqliteQueue {
    /// The chain's head: the last entry's sequence number and hash.
    pub async fn chain_head(&self) -> Result<(i64, String), QueueError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        conn.chain_head().await.map_err(|e| self.error(e))
    }

    /// Recomputes the chain from its anchor, and compares it with the tables
    /// ([`Verifier`]). One read transaction: a daemon at work meanwhile changes nothing it
    /// sees.
    pub async fn verify_chain(&self) -> Result<Verdict, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let (anchor_seq, anchor_hash, since, requests_from, rows_from): (
            i64,
            String,
            String,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT seq, hash, since, requests_from, rows_from FROM settlement_anchor",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let mut verifier = Verifier::new((anchor_seq, anchor_hash), &since, rows_from);
        let mut entries = sqlx::query(
            "SELECT seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash,
                    request
               FROM settlement_chain ORDER BY seq",
        )
        .fetch(&mut *tx);
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| self.error(e))?;
            let text = |column: &str| entry.try_get::<String, _>(column).unwrap_or_default();
            verifier.entry(ChainEntry {
                seq: entry.try_get("seq").unwrap_or(-1),
                settled_at: text("settled_at"),
                kind: text("kind"),
                batch_id: entry.try_get("batch_id").unwrap_or(None),
                namespace: text("namespace"),
                rows: text("rows"),
                code: entry.try_get("code").unwrap_or(None),
                msg: entry.try_get("msg").unwrap_or(None),
                prev: text("prev"),
                hash: text("hash"),
                request: entry.try_get("request").unwrap_or(None),
            });
        }
        drop(entries);
        let sql = format!(
            "SELECT id, {RECORD} AS record, api_code, api_msg,
                    (id >= ?1 OR id < 1) AND NOT ({}) AS must
               FROM deletion_batches b ORDER BY id",
            prunable("?2")
        );
        let mut requests = sqlx::query(&sql)
            .bind(requests_from)
            .bind(&since)
            .fetch(&mut *tx);
        while let Some(request) = requests.next().await {
            let request = request.map_err(|e| self.error(e))?;
            verifier.request(RequestRecord {
                id: request.get("id"),
                record: request.try_get("record").ok(),
                api_code: request.try_get("api_code").unwrap_or(None),
                api_msg: request.try_get("api_msg").unwrap_or(None),
                must: request.try_get::<bool, _>("must").unwrap_or(true),
            });
        }
        drop(requests);
        verifier.requests_done();
        let settled = RowStatus::sql_list(&RowStatus::SETTLED);
        // Why a settled row's time cannot be true (`Impossible::ALL`, by position), and
        // whether the row needs an entry: all do but those queued before proofs were
        // recorded (an id below `rows_from`) and settled, readably and possibly, before
        // the chain began (the anchor's `since` before any prune).
        let sql = format!(
            "SELECT id, status, video_no, unique_id, proof, why, covered FROM (
               SELECT q.id, q.status, q.video_no, q.unique_id, q.proof,
                      CASE WHEN q.status NOT IN ({settled}) THEN NULL
                           WHEN julianday(q.settled_at) IS NULL
                                OR substr(q.settled_at, 5, 1) IS NOT '-'
                                OR (q.id >= ?3 AND q.settled_at NOT GLOB '{WRITTEN}') THEN 0
                           WHEN julianday(q.settled_at) > julianday('now', '+60 seconds') THEN 4
                           WHEN julianday(q.settled_at) < julianday(q.enqueued_at) THEN 1
                           WHEN julianday(q.settled_at) < julianday(b.started_at) THEN 2
                           WHEN ?2 > 0 AND julianday(q.settled_at) < julianday(?1)
                                AND julianday(q.updated_at) < julianday(?1) THEN 3
                      END AS why,
                      q.status IN ({settled})
                        AND (q.id >= ?3 OR NOT coalesce(?2 = 0
                                 AND julianday(q.settled_at) < julianday(?1), 0))
                        AS covered
                 FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id)
              ORDER BY id"
        );
        let mut rows = sqlx::query(&sql)
            .bind(&since)
            .bind(anchor_seq)
            .bind(rows_from)
            .fetch(&mut *tx);
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| self.error(e))?;
            let text = |column: &str| row.try_get::<String, _>(column).unwrap_or_default();
            verifier.row(QueueRow {
                id: row.get("id"),
                status: text("status"),
                video_no: text("video_no"),
                unique_id: text("unique_id"),
                proof: row.try_get("proof").ok().flatten(),
                covered: row.try_get::<bool, _>("covered").unwrap_or(true),
                impossible: impossible(row.try_get("why").ok().flatten()),
            });
        }
        Ok(verifier.finish())
    }
}
