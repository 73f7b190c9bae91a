//! Operator upkeep on PostgreSQL, as on SQLite (`sqlite::upkeep`, `sqlite::receipts`):
//! `retry-failed`, `prune` (and retention), `receipts` and `receipts --verify`.

use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::Row;

use super::chain::{self, ChainEntry, QueueRow, RequestRecord, Verdict, Verifier};
use super::report::{cell, shown};
use super::PostgresQueue;
use crate::queue::driver::Statements;
use crate::queue::receipts::{Filter, Receipt};
use crate::queue::{Pruned, QueueError, Reopened};
use crate::video::Namespace;
use crate::vocabulary::RowStatus;

/// Rows or batch records removed per transaction.
const PRUNE_CHUNK: i64 = 1000;

/// A time as the chain writes it (UTC, text).
fn chain_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// The receipts' filter: $1 statuses, $2 since, $3 until, $4 namespace.
const WHERE: &str = "q.status = ANY($1) AND ($2::timestamptz IS NULL OR q.settled_at >= $2)
    AND ($3::timestamptz IS NULL OR q.settled_at < $3) AND ($4::text IS NULL OR q.unique_id = $4)";

fn statuses(filter: &Filter) -> Vec<String> {
    match filter.status {
        Some(status) => vec![status.as_str().to_owned()],
        None => RowStatus::SETTLED
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
    }
}

impl PostgresQueue {
    /// As `SqliteQueue::retry_failed` (no row here has an unreadable `due_at`: the schema
    /// refuses them, so none is left failed for that reason).
    pub async fn retry_failed(
        &self,
        namespace: Option<&Namespace>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Reopened, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let done = sqlx::query(
            "UPDATE deletion_queue
                SET status = 'pending', proof = NULL, settled_at = NULL, batch_id = NULL, refusals = 0,
                    due_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'),
                    updated_at = now()
              WHERE status = 'failed' AND ($1::text IS NULL OR unique_id = $1)
                AND ($2::timestamptz IS NULL OR settled_at >= $2)
              RETURNING id, video_no, status",
        )
        .bind(namespace.map(Namespace::as_str))
        .bind(since)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let rows = chain::returned(&done);
        let reopened = Reopened::of(&rows);
        let entry = chain::Entry::without_request(
            chain::Kind::Reopen,
            namespace.map_or("*", Namespace::as_str),
            rows,
        );
        chain::append(&mut *tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(reopened)
    }

    /// As `SqliteQueue::prune`: settled rows, then the chain's entries (the anchor moved to
    /// the last one removed, records they named carried), then request records.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, QueueError> {
        let mut pruned = Pruned::default();
        loop {
            let done = sqlx::query(&format!(
                "DELETE FROM deletion_queue WHERE id IN (
                    SELECT id FROM deletion_queue
                     WHERE status IN ({}) AND settled_at < $1 AND updated_at < $1 LIMIT $2)",
                RowStatus::sql_list(&RowStatus::SETTLED)
            ))
            .bind(before)
            .bind(PRUNE_CHUNK)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
            pruned.rows += done.rows_affected();
            if done.rows_affected() < PRUNE_CHUNK as u64 {
                break;
            }
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        tx.lock_chain().await.map_err(|e| self.error(e))?;
        sqlx::query(
            "UPDATE settlement_anchor
                SET (seq, hash) = (SELECT seq, hash FROM settlement_chain WHERE settled_at < $1
                                    ORDER BY seq DESC LIMIT 1),
                    since = $1
              WHERE EXISTS (SELECT 1 FROM settlement_chain WHERE settled_at < $1)",
        )
        .bind(chain_time(before))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let carried: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT b.id, b.unique_id FROM deletion_batches b
              WHERE b.id IN (SELECT batch_id FROM settlement_chain
                              WHERE seq <= (SELECT seq FROM settlement_anchor))
                AND NOT EXISTS (SELECT 1 FROM settlement_chain c
                                 WHERE c.batch_id = b.id
                                   AND c.seq > (SELECT seq FROM settlement_anchor))
                AND NOT ({})
              ORDER BY b.id",
            chain::prunable("$1")
        ))
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let removed = sqlx::query(
            "DELETE FROM settlement_chain WHERE seq <= (SELECT seq FROM settlement_anchor)",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        for (batch, namespace) in carried {
            let entry = chain::Entry::naming(chain::Kind::Carry, batch, &namespace, Vec::new());
            chain::append(&mut *tx, entry)
                .await
                .map_err(|e| self.error(e))?;
        }
        // The anchor moved: recorded in an entry of its own, which is the new head.
        if removed.rows_affected() > 0 {
            pruned.anchor = Some(
                chain::record_anchor(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?,
            );
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        loop {
            let done = sqlx::query(&format!(
                "DELETE FROM deletion_batches WHERE id IN (
                    SELECT b.id FROM deletion_batches b
                     WHERE {}
                       AND NOT EXISTS (SELECT 1 FROM settlement_chain c WHERE c.batch_id = b.id)
                     LIMIT $2)",
                chain::prunable("$1")
            ))
            .bind(before)
            .bind(PRUNE_CHUNK)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
            pruned.batches += done.rows_affected();
            if done.rows_affected() < PRUNE_CHUNK as u64 {
                break;
            }
        }
        Ok(pruned)
    }

    /// As `SqliteQueue::verify_chain`, in one repeatable-read transaction.
    pub async fn verify_chain(&self) -> Result<Verdict, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
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
        let since_text = since;
        let since = chrono::NaiveDateTime::parse_from_str(&since_text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|_| QueueError {
                place: self.place(),
                problem: "settlement_anchor.since is not a time: the anchor was edited".into(),
            })?;
        let mut verifier = Verifier::new((anchor_seq, anchor_hash), &since_text, rows_from);
        let mut entries = sqlx::query(
            "SELECT seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash,
                    request
               FROM settlement_chain ORDER BY seq",
        )
        .fetch(&mut *tx);
        while let Some(entry) = entries.next().await {
            let e = entry.map_err(|e| self.error(e))?;
            verifier.entry(ChainEntry {
                seq: e.get("seq"),
                settled_at: e.get("settled_at"),
                kind: e.get("kind"),
                batch_id: e.get("batch_id"),
                namespace: e.get("namespace"),
                rows: e.get("rows"),
                code: e.get("code"),
                msg: e.get("msg"),
                prev: e.get("prev"),
                hash: e.get("hash"),
                request: e.get("request"),
            });
        }
        drop(entries);
        let sql = format!(
            "SELECT id, {} AS record, api_code, api_msg,
                    (id >= $1 OR id < 1) AND NOT ({}) AS must
               FROM deletion_batches b ORDER BY id",
            chain::RECORD,
            chain::prunable("$2")
        );
        let mut requests = sqlx::query(&sql)
            .bind(requests_from)
            .bind(since)
            .fetch(&mut *tx);
        while let Some(request) = requests.next().await {
            let r = request.map_err(|e| self.error(e))?;
            verifier.request(RequestRecord {
                id: r.get("id"),
                record: r.get("record"),
                api_code: r.get("api_code"),
                api_msg: r.get("api_msg"),
                must: r.get("must"),
            });
        }
        drop(requests);
        verifier.requests_done();
        // As on SQLite (`SqliteQueue::verify_chain`).
        let settled = RowStatus::sql_list(&RowStatus::SETTLED);
        let sql = format!(
            "SELECT q.id, q.status, q.video_no, q.unique_id, q.proof,
                    CASE WHEN q.status NOT IN ({settled}) THEN NULL
                         WHEN q.settled_at IS NULL THEN 0
                         WHEN q.settled_at > now() + interval '60 seconds' THEN 4
                         WHEN q.settled_at < q.enqueued_at THEN 1
                         WHEN q.settled_at < b.started_at THEN 2
                         WHEN $2 > 0 AND q.settled_at < $1 AND q.updated_at < $1 THEN 3
                    END::int8 AS why,
                    q.status IN ({settled})
                      AND (q.id >= $3 OR NOT coalesce($2 = 0 AND q.settled_at < $1, false))
                      AS covered
               FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id
              ORDER BY q.id"
        );
        let mut rows = sqlx::query(&sql)
            .bind(since)
            .bind(anchor_seq)
            .bind(rows_from)
            .fetch(&mut *tx);
        while let Some(row) = rows.next().await {
            let r = row.map_err(|e| self.error(e))?;
            verifier.row(QueueRow {
                id: r.get("id"),
                status: r.get("status"),
                video_no: r.get("video_no"),
                unique_id: r.get("unique_id"),
                proof: r.try_get("proof").ok().flatten(),
                covered: r.try_get("covered").unwrap_or(true),
                impossible: chain::impossible(r.try_get("why").ok().flatten()),
            });
        }
        Ok(verifier.finish())
    }

    pub async fn count_receipts(&self, filter: &Filter) -> Result<i64, QueueError> {
        sqlx::query_scalar(&format!(
            "SELECT count(*) FROM deletion_queue AS q WHERE {WHERE}"
        ))
        .bind(statuses(filter))
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.namespace.as_ref().map(Namespace::as_str))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))
    }

    pub fn receipts<'a>(
        &'a self,
        filter: &'a Filter,
        sql: &'a str,
    ) -> BoxStream<'a, Result<Receipt, QueueError>> {
        sqlx::query(sql)
            .bind(statuses(filter))
            .bind(filter.since)
            .bind(filter.until)
            .bind(filter.namespace.as_ref().map(Namespace::as_str))
            .fetch(&self.pool)
            .map(move |row| {
                row.map(|row| Receipt::from_cells(|column| cell(&row, column)))
                    .map_err(|e| self.error(e))
            })
            .boxed()
    }
}

/// The statement [`PostgresQueue::receipts`] runs; times shown as on SQLite.
pub fn receipts_sql() -> String {
    format!(
        "SELECT q.id, q.video_no, q.unique_id, q.status, {}, q.due_at, {},
                q.attempts, q.batch_id, {}, b.http_status, b.api_code,
                b.api_msg, {}, {}, {}, q.relisted, q.last_error, q.source,
                coalesce(q.proof, '{}') AS proof
           FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id
          WHERE {WHERE}
          ORDER BY q.id",
        shown("q.enqueued_at", "enqueued_at"),
        shown("q.settled_at", "settled_at"),
        shown("b.started_at", "sent_at"),
        shown("q.listed_at", "listed_at"),
        shown("q.missed_at", "missed_at"),
        shown("q.checked_at", "checked_at"),
        crate::vocabulary::Proof::UNRECORDED,
    )
}
