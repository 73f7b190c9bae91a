//! Operator upkeep: failed rows back to pending, and old settled rows and batch records
//! removed, in small transactions so that producers and passes are never held up long.

use chrono::{DateTime, Utc};

use super::{chain, QueueError, SqliteQueue, NOW, UNREADABLE_DUE_MARK};
use crate::queue::Reopened;
use crate::video::Namespace;
use crate::vocabulary::RowStatus;

/// Rows or batch records removed per transaction.
const PRUNE_CHUNK: i64 = 1000;

/// What a prune removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: u64,
    pub batches: u64,
    /// The chain's new anchor (the last entry removed), when entries were removed: the
    /// hash an auditor's copy of the chain must reach at that entry.
    pub anchor: Option<(i64, String)>,
}

/// A time as the tables write it (UTC, SQLite's format).
pub(super) fn sql_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

impl SqliteQueue {
    /// Puts `failed` rows back to `pending`, due now: of one namespace if given, settled
    /// at or after `since` if given. Their attempts and last error are kept; their count
    /// of refusals starts again (a retry gets `isolation.confirmations` anew).
    ///
    /// Rows failed because their `due_at` could not be read are left failed: nobody knows
    /// when they were meant to go, and "now" could be early (`'+30 days'`). Returns the
    /// rows put back, and those left for that reason.
    pub async fn retry_failed(
        &self,
        namespace: Option<&Namespace>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Reopened, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let chosen = "status = 'failed'
                AND (?1 IS NULL OR unique_id = ?1)
                AND (?2 IS NULL OR settled_at >= ?2)";
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'pending', proof = NULL, settled_at = NULL, batch_id = NULL, due_at = {NOW},
                    refusals = 0, updated_at = {NOW}
              WHERE {chosen}
                AND (last_error IS NULL OR last_error NOT LIKE '{UNREADABLE_DUE_MARK}')
              RETURNING id, video_no, status"
        );
        let done = sqlx::query(&sql)
            .bind(namespace.map(Namespace::as_str))
            .bind(since.map(sql_time))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        let rows = chain::returned(&done);
        // The hold trigger runs after the statement, so RETURNING says `pending` of rows
        // it then held: read what they are now.
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deletion_queue
              WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'held'",
        )
        .bind(serde_json::Value::from(ids).to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let held = held.unsigned_abs();
        let reopened = Reopened {
            pending: rows.len() as u64 - held,
            held,
            left: 0,
        };
        // Rows of every namespace (`*`), when none was given.
        let entry = chain::Entry::without_request(
            chain::Kind::Reopen,
            namespace.map_or("*", Namespace::as_str),
            rows,
        );
        chain::append(&mut *tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        let left: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM deletion_queue WHERE {chosen}
                AND last_error LIKE '{UNREADABLE_DUE_MARK}'"
        ))
        .bind(namespace.map(Namespace::as_str))
        .bind(since.map(sql_time))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Reopened {
            left: left.unsigned_abs(),
            ..reopened
        })
    }

    /// Removes rows settled (deleted, failed or absent) and last changed before `before`
    /// (a check after the deletion writes a chain entry later than the settlement: the
    /// row stays as long as that entry does), then the chain's entries of the same time,
    /// then the records of requests started before it that no remaining row points at.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, QueueError> {
        let before = sql_time(before);
        let mut pruned = Pruned::default();
        loop {
            let _turn = self.write_turn().await;
            let sql = format!(
                "DELETE FROM deletion_queue WHERE id IN (
                    SELECT id FROM deletion_queue
                     WHERE status IN ({}) AND settled_at < ?1 AND updated_at < ?1 LIMIT ?2)",
                RowStatus::sql_list(&RowStatus::SETTLED)
            );
            let done = sqlx::query(&sql)
                .bind(&before)
                .bind(PRUNE_CHUNK)
                .execute(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            pruned.rows += done.rows_affected();
            if done.rows_affected() < PRUNE_CHUNK as u64 {
                break;
            }
        }
        // The settlement chain's entries of the same time go too: the last one removed
        // becomes the anchor that the first one kept points at.
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(
            "UPDATE settlement_anchor
                SET (seq, hash) = (SELECT seq, hash FROM settlement_chain WHERE settled_at < ?1
                                    ORDER BY seq DESC LIMIT 1),
                    since = ?1
              WHERE EXISTS (SELECT 1 FROM settlement_chain WHERE settled_at < ?1)",
        )
        .bind(&before)
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
            chain::prunable("?1")
        ))
        .bind(&before)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let removed = sqlx::query(
            "DELETE FROM settlement_chain WHERE seq <= (SELECT seq FROM settlement_anchor)",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        // Records kept while the entries naming them go: vouched for again, so that
        // every record since the chain held requests keeps an entry. (Chosen before the
        // removal, among the records it leaves without one; never a record that had none.)
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
        drop(_turn);
        // Then the records of requests: never one a kept chain entry vouches for.
        loop {
            let _turn = self.write_turn().await;
            let done = sqlx::query(
                // Never a request still awaiting its answer (a worker would record it), nor
                // one whose answer was never recorded (what it did is unknown), nor one a
                // row or a kept chain entry points at.
                &format!(
                    "DELETE FROM deletion_batches WHERE id IN (
                        SELECT b.id FROM deletion_batches b
                         WHERE {}
                           AND NOT EXISTS (SELECT 1 FROM settlement_chain c
                                            WHERE c.batch_id = b.id)
                         LIMIT ?2)",
                    chain::prunable("?1")
                ),
            )
            .bind(&before)
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
}
