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
use sqlx::{Row, SqliteConnection};

use super::{QueueError, SqliteQueue};
pub use crate::queue::chain::{
    anchor_text, digest, impossible, prunable, ChainEntry, ChainRow, Entry, Kind, QueueRow,
    RequestRecord, Verdict, Verifier,
};
use crate::vocabulary::RowStatus;

/// The rows an `UPDATE … RETURNING id, video_no, status, proof` changed.
pub fn returned(rows: &[sqlx::sqlite::SqliteRow]) -> Vec<ChainRow> {
    rows.iter()
        .map(|row| {
            ChainRow(
                row.get::<i64, _>("id"),
                row.try_get::<String, _>("video_no").unwrap_or_default(),
                row.try_get::<String, _>("status").unwrap_or_default(),
                row.try_get::<Option<String>, _>("proof").ok().flatten(),
            )
        })
        .collect()
}

/// Appends an entry for rows settled without a request, as an `UPDATE … RETURNING id,
/// video_no, status, unique_id` returned them (rows of one claim: one namespace).
pub async fn append_settled(
    conn: &mut SqliteConnection,
    kind: Kind,
    rows: &[sqlx::sqlite::SqliteRow],
) -> Result<(), sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let namespace = first.try_get::<String, _>("unique_id").unwrap_or_default();
    append(
        conn,
        Entry::without_request(kind, &namespace, returned(rows)),
    )
    .await
}

/// Records the anchor as it now stands in an `anchor` entry (after a prune moved it, or
/// when migration 0012 is applied); returns it.
pub async fn record_anchor(conn: &mut SqliteConnection) -> Result<(i64, String), sqlx::Error> {
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

/// Appends `entry` in the caller's transaction, which must already hold the write lock
/// (it has written): the head it reads is then the true last one.
pub async fn append(conn: &mut SqliteConnection, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    if entry.is_idle() {
        return Ok(());
    }
    let request = match entry.batch_id {
        Some(batch) => request_record(conn, batch).await?,
        None => None,
    };
    let e = entry.seal(head(conn).await?, request);
    sqlx::query(
        "INSERT INTO settlement_chain
            (seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash, request)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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

/// A time as the daemon writes `settled_at` (`strftime('%Y-%m-%d %H:%M:%f')`), as a GLOB:
/// required of rows queued since proofs were recorded (older versions may have written
/// others).
const WRITTEN: &str =
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]";

/// Every column of a request's record, as one JSON array written by SQLite: the same text
/// when the chain is written and when it is verified, unless a byte of the record changed.
/// Each value as SQLite's `quote()` writes it (text quoted, numbers bare, a BLOB as
/// `X'…'`, NULL): its type is part of what is vouched for, and no value can fail it.
const RECORD: &str = "json_array(quote(id), quote(unique_id), quote(ids_count), \
     quote(attempt), quote(outcome), quote(http_status), quote(api_code), quote(api_msg), \
     quote(error), quote(started_at), quote(finished_at), quote(duration_ms), quote(sender))";

async fn request_record(
    conn: &mut SqliteConnection,
    batch: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT {RECORD} FROM deletion_batches WHERE id = ?1"
    ))
    .bind(batch)
    .fetch_optional(conn)
    .await
}

/// The last entry's sequence number and hash, or the anchor's.
async fn head(conn: &mut SqliteConnection) -> Result<(i64, String), sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, hash FROM (SELECT seq, hash FROM settlement_chain ORDER BY seq DESC LIMIT 1)
         UNION ALL SELECT seq, hash FROM settlement_anchor
         LIMIT 1",
    )
    .fetch_one(conn)
    .await
}

impl SqliteQueue {
    /// The chain's head: the last entry's sequence number and hash.
    pub async fn chain_head(&self) -> Result<(i64, String), QueueError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        head(&mut conn).await.map_err(|e| self.error(e))
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
