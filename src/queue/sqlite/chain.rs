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

use std::collections::HashMap;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::{Row, SqliteConnection};

use super::{QueueError, SqliteQueue};
pub use crate::queue::chain::{digest, Entry, Kind};
use crate::vocabulary::RowStatus;

/// The rows an `UPDATE … RETURNING id, video_no, status` changed.
pub fn returned(rows: &[sqlx::sqlite::SqliteRow]) -> Vec<(i64, String, String)> {
    rows.iter()
        .map(|row| {
            (
                row.get::<i64, _>("id"),
                row.try_get::<String, _>("video_no").unwrap_or_default(),
                row.try_get::<String, _>("status").unwrap_or_default(),
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

/// Appends `entry` in the caller's transaction, which must already hold the write lock
/// (it has written): the head it reads is then the true last one.
pub async fn append(conn: &mut SqliteConnection, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let Entry {
        kind,
        batch_id,
        namespace,
        mut rows,
        code,
        msg,
    } = entry;
    // A settlement of nothing is no entry; a request and its answer always are (the
    // entry vouches for the request's record).
    if rows.is_empty() && !matches!(kind, Kind::Request | Kind::Answer | Kind::Carry) {
        return Ok(());
    }
    rows.sort();
    let request = match batch_id {
        Some(batch) => request_record(conn, batch).await?,
        None => None,
    };
    let (last, prev) = head(conn).await?;
    let seq = last + 1;
    let settled_at = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    let rows = serde_json::to_string(&rows).unwrap_or_default();
    let hash = digest(
        &prev,
        seq,
        &settled_at,
        kind.as_str(),
        batch_id,
        namespace,
        &rows,
        code,
        msg,
        request.as_deref(),
    );
    sqlx::query(
        "INSERT INTO settlement_chain
            (seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash, request)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .bind(seq)
    .bind(settled_at)
    .bind(kind.as_str())
    .bind(batch_id)
    .bind(namespace)
    .bind(rows)
    .bind(code)
    .bind(msg)
    .bind(prev)
    .bind(hash)
    .bind(request)
    .execute(conn)
    .await
    .map(drop)
}

/// Every column of a request's record, as one JSON array written by SQLite: the same text
/// when the chain is written and when it is verified, unless a byte of the record changed.
/// Whether `prune` with `cutoff` (an SQL parameter) removes a request record (once no chain
/// entry names it): started before the cutoff, answered, and no row points at it. For
/// `deletion_batches` aliased `b`.
pub(super) fn prunable(cutoff: &str) -> String {
    format!(
        "b.started_at < {cutoff} AND b.outcome <> 'sending'
         AND NOT EXISTS (SELECT 1 FROM deletion_queue q WHERE q.batch_id = b.id)"
    )
}

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

/// A row's video number and namespace, as 8 bytes of their SHA-256.
fn fingerprint(video_no: &str, namespace: &str) -> u64 {
    let hash = Sha256::digest(format!("{video_no}\n{namespace}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(bytes)
}

/// What `verify_chain` found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Where the chain starts: the last entry pruned (0 and zeros before any prune).
    pub anchor: (i64, String),
    pub entries: u64,
    /// The last entry's hash (the anchor's when the chain is empty).
    pub head: String,
    /// Each mismatch, in words; the first few only.
    pub problems: Vec<String>,
    /// Mismatches found in all.
    pub mismatches: u64,
}

/// What an entry says of the request it names.
enum Vouched {
    /// Its whole record (`RECORD`), as it stood when the entry was written.
    Record(String),
    /// An answer's code and message (entries written before they held the record).
    Answer(Option<String>, Option<String>),
}

/// How many mismatches are described; the rest are counted.
const DESCRIBED: usize = 20;

impl Verdict {
    fn problem(&mut self, what: String) {
        self.mismatches += 1;
        if self.problems.len() < DESCRIBED {
            self.problems.push(what);
        }
    }
}

impl SqliteQueue {
    /// The chain's head: the last entry's sequence number and hash.
    pub async fn chain_head(&self) -> Result<(i64, String), QueueError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        head(&mut conn).await.map_err(|e| self.error(e))
    }

    /// Recomputes the chain from its anchor, and compares it with the tables: every entry's
    /// hash, every request's record, every settled row's status. One read transaction: a
    /// daemon at work meanwhile changes nothing it sees.
    pub async fn verify_chain(&self) -> Result<Verdict, QueueError> {
        let mut verdict = Verdict::default();
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let (anchor_seq, anchor_hash, since, requests_from): (i64, String, String, i64) =
            sqlx::query_as("SELECT seq, hash, since, requests_from FROM settlement_anchor")
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
        verdict.anchor = (anchor_seq, anchor_hash.clone());
        let mut expected = (anchor_seq + 1, anchor_hash);
        // Each row's latest status in the chain, with a fingerprint of its video number and
        // namespace (a million rows: some tens of MB).
        let mut latest: HashMap<i64, (u8, Option<u64>)> = HashMap::new();
        // What the latest entry naming each request says of its record.
        let mut vouched: HashMap<i64, (i64, Vouched)> = HashMap::new();
        let mut entries = sqlx::query(
            "SELECT seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash,
                    request
               FROM settlement_chain ORDER BY seq",
        )
        .fetch(&mut *tx);
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| self.error(e))?;
            let text = |column: &str| entry.try_get::<String, _>(column).unwrap_or_default();
            let seq: i64 = entry.try_get("seq").unwrap_or(-1);
            let batch_id: Option<i64> = entry.try_get("batch_id").unwrap_or(None);
            let code: Option<String> = entry.try_get("code").unwrap_or(None);
            let msg: Option<String> = entry.try_get("msg").unwrap_or(None);
            let request: Option<String> = entry.try_get("request").unwrap_or(None);
            let kind = text("kind");
            let (want_seq, want_prev) = &expected;
            if seq != *want_seq {
                verdict.problem(format!(
                    "entry {want_seq} is missing (the next is {seq}): entries were removed"
                ));
            }
            let recomputed = digest(
                &text("prev"),
                seq,
                &text("settled_at"),
                &kind,
                batch_id,
                &text("namespace"),
                &text("rows"),
                code.as_deref(),
                msg.as_deref(),
                request.as_deref(),
            );
            if text("prev") != *want_prev || recomputed != text("hash") {
                verdict.problem(format!(
                    "entry {seq} does not match its hash or its predecessor's: the chain was edited"
                ));
            }
            // A request's entry settles nothing: its rows are only in flight.
            if kind != Kind::Request.as_str() {
                let rows: Vec<(i64, String, String)> =
                    serde_json::from_str(&text("rows")).unwrap_or_default();
                let namespace = text("namespace");
                for (row, video_no, status) in rows {
                    let status = RowStatus::rank(&status) as u8;
                    // A `reopen` of every namespace (`*`) keeps what it knew of the row.
                    let print = match namespace.as_str() {
                        "*" => latest.get(&row).and_then(|(_, print)| *print),
                        _ => Some(fingerprint(&video_no, &namespace)),
                    };
                    latest.insert(row, (status, print));
                }
            }
            // The whole record since entries held it; before that, the answer's code and
            // message (a `duplicates` entry carries the refusal's reason instead).
            match (batch_id, request) {
                (Some(batch), Some(record)) => {
                    vouched.insert(batch, (seq, Vouched::Record(record)));
                }
                (Some(batch), None) if kind == Kind::Answer.as_str() => {
                    vouched.insert(batch, (seq, Vouched::Answer(code, msg)));
                }
                _ => {}
            }
            expected = (seq + 1, text("hash"));
            verdict.entries += 1;
        }
        drop(entries);
        verdict.head = expected.1;
        // Every request record against what the chain says of it; and every record written
        // since the chain held requests must be in it, but for one the last prune is still
        // removing (its entries gone, the record next: see `prune`).
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
            let batch: i64 = request.get("id");
            let must = request.try_get::<bool, _>("must").unwrap_or(true);
            let matches = match vouched.remove(&batch) {
                Some((seq, Vouched::Record(record))) => Some((
                    seq,
                    request.try_get::<String, _>("record").ok() == Some(record),
                )),
                Some((seq, Vouched::Answer(code, msg))) => {
                    let recorded = (
                        request
                            .try_get::<Option<String>, _>("api_code")
                            .unwrap_or(None),
                        request
                            .try_get::<Option<String>, _>("api_msg")
                            .unwrap_or(None),
                    );
                    Some((seq, recorded == (code, msg)))
                }
                None => None,
            };
            match matches {
                Some((_, true)) => {}
                Some((seq, false)) => verdict.problem(format!(
                    "request {batch} differs from chain entry {seq}: deletion_batches was edited"
                )),
                None if must => verdict.problem(format!(
                    "request {batch} has no chain entry: deletion_batches was edited"
                )),
                None => {}
            }
        }
        drop(requests);
        let mut missing: Vec<(i64, i64)> = vouched
            .into_iter()
            .map(|(batch, (seq, _))| (batch, seq))
            .collect();
        missing.sort_unstable();
        for (batch, seq) in missing {
            verdict.problem(format!(
                "request {batch} of chain entry {seq} is missing from deletion_batches"
            ));
        }
        let settled = RowStatus::sql_list(&RowStatus::SETTLED);
        let sql = format!(
            "SELECT id, status, video_no, unique_id,
                    status IN ({settled}) AND settled_at >= ?1 AS covered
               FROM deletion_queue ORDER BY id"
        );
        let mut rows = sqlx::query(&sql).bind(&since).fetch(&mut *tx);
        let pending = RowStatus::rank(RowStatus::Pending.as_str()) as u8;
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| self.error(e))?;
            let id: i64 = row.get("id");
            let status = row.try_get::<String, _>("status").unwrap_or_default();
            let covered = row.try_get::<bool, _>("covered").unwrap_or(true);
            let now = RowStatus::rank(&status) as u8;
            let settled = RowStatus::SETTLED.iter().any(|s| s.as_str() == status);
            let print = fingerprint(
                &row.try_get::<String, _>("video_no").unwrap_or_default(),
                &row.try_get::<String, _>("unique_id").unwrap_or_default(),
            );
            match latest.remove(&id) {
                Some((_, Some(chained))) if chained != print => verdict.problem(format!(
                    "row {id}: its video number or namespace differs from the chain: \
                         deletion_queue was edited"
                )),
                Some((chained, _)) if chained == now => {}
                // Put back by a reopen or a lookup, then claimed again: not settled.
                Some((chained, _)) if chained == pending && !settled => {}
                None if !covered => {}
                Some(_) => verdict.problem(format!(
                    "row {id} is {status} but the chain says otherwise: deletion_queue was edited"
                )),
                None => verdict.problem(format!(
                    "row {id} is {status} with no chain entry: deletion_queue was edited"
                )),
            }
        }
        // Rows the chain settled that the table no longer holds: prune removes a row only
        // with its entries (the same cutoff), so any left were deleted by hand.
        let mut gone: Vec<i64> = latest
            .into_iter()
            .filter(|(_, (status, _))| *status != pending)
            .map(|(id, _)| id)
            .collect();
        gone.sort_unstable();
        for id in gone {
            verdict.problem(format!(
                "row {id} is settled in the chain but missing from deletion_queue: it was deleted"
            ));
        }
        Ok(verdict)
    }
}
