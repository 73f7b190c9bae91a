//! The SQLite driver's statements: each binds its values to its SQL (`sql/NAME.sql`) and
//! reads its rows back. Producers write any SQLite type into any column: a cell that is not
//! what the daemon writes is read as "not valid" (`None`, empty, or doubt), never a panic.

use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{json_list, parse_time, seconds_from_now};
use crate::queue::chain::{ChainRow, Kind, Sealed};
use crate::queue::driver::{Answered, Missed, Statements, Unchecked};
use crate::queue::{ClaimedRow, RequestRecord};
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Outcome, Proof};

/// Every column of a request's record, as one JSON array written by SQLite: the same text
/// when the chain is written and when it is verified, unless a byte of the record changed.
/// Each value as SQLite's `quote()` writes it (text quoted, numbers bare, a BLOB as
/// `X'…'`, NULL): its type is part of what is vouched for, and no value can fail it.
pub const RECORD: &str = "json_array(quote(id), quote(unique_id), quote(ids_count), \
     quote(attempt), quote(outcome), quote(http_status), quote(api_code), quote(api_msg), \
     quote(error), quote(started_at), quote(finished_at), quote(duration_ms), quote(sender))";

/// The rows an `UPDATE … RETURNING id, video_no, status, proof` changed.
pub fn returned(rows: &[SqliteRow]) -> Vec<ChainRow> {
    rows.iter().map(chain_row).collect()
}

fn chain_row(row: &SqliteRow) -> ChainRow {
    ChainRow(
        row.try_get::<i64, _>("id").unwrap_or_default(),
        row.try_get::<String, _>("video_no").unwrap_or_default(),
        row.try_get::<String, _>("status").unwrap_or_default(),
        row.try_get::<Option<String>, _>("proof").ok().flatten(),
    )
}

/// A list of row ids, as `json_each` reads it.
fn id_list(rows: &[i64]) -> String {
    serde_json::Value::from(rows.to_vec()).to_string()
}

fn proof(p: Option<Proof>) -> Option<&'static str> {
    p.map(Proof::as_str)
}

impl Statements for SqliteConnection {
    async fn take_back_leases(&mut self, longest: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/take_back_leases.sql"))
            .bind(longest.as_secs() as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn free_unheld(&mut self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/free_unheld.sql"))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_rows(
        &mut self,
        token: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/claim_rows.sql"))
            .bind(token)
            .bind(seconds_from_now(lease))
            .bind(limit as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_duplicates(
        &mut self,
        token: &str,
        lease: Duration,
        most: usize,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/claim_duplicates.sql"))
            .bind(token)
            .bind(seconds_from_now(lease))
            .bind(most as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_namespace(&mut self, token: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(include_str!("sql/claim_namespace.sql"))
            .bind(token)
            .fetch_optional(self)
            .await?;
        Ok(row.and_then(|row| row.try_get::<String, _>("unique_id").ok()))
    }

    async fn hold_claimed(
        &mut self,
        token: &str,
        only: Option<&[VideoNo]>,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/hold_claimed.sql"))
            .bind(token)
            .bind(only.map(json_list))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn settle_from_history(
        &mut self,
        token: &str,
        proof: Proof,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/settle_from_history.sql"))
            .bind(token)
            .bind(proof.as_str())
            .bind(Kind::Answer.as_str())
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn claimed_rows(&mut self, token: &str) -> Result<Vec<ClaimedRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/claimed_rows.sql"))
            .bind(token)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|row| ClaimedRow {
                id: row.try_get("id").unwrap_or_default(),
                video_no: row.try_get("video_no").ok(),
                refusals: row.try_get::<i64, _>("refusals").unwrap_or(0),
                // Anything but a clear 0 is doubt: doubt only ever sends fewer videos to
                // `absent`.
                in_doubt: row.try_get::<i64, _>("in_doubt").map_or(true, |d| d != 0),
                first_missed: row
                    .try_get::<String, _>("missed_at")
                    .ok()
                    .and_then(|t| parse_time(&t)),
            })
            .collect())
    }

    async fn renew(&mut self, token: &str, lease: Duration) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("sql/renew.sql"))
            .bind(token)
            .bind(seconds_from_now(lease))
            .execute(self)
            .await
            .map(drop)
    }

    async fn release(&mut self, token: &str, last_error: Option<&str>) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/release.sql"))
            .bind(token)
            .bind(last_error)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn insert_request(
        &mut self,
        namespace: &Namespace,
        ids: usize,
        attempt: u32,
        sender: &str,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(include_str!("sql/insert_request.sql"))
            .bind(namespace.as_str())
            .bind(ids as i64)
            .bind(attempt)
            .bind(sender)
            .fetch_one(self)
            .await
    }

    async fn still_claimed(&mut self, token: &str, ids: &[VideoNo]) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(include_str!("sql/still_claimed.sql"))
            .bind(token)
            .bind(json_list(ids))
            .fetch_one(self)
            .await
    }

    async fn count_attempt(
        &mut self,
        token: &str,
        ids: &[VideoNo],
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/count_attempt.sql"))
            .bind(token)
            .bind(json_list(ids))
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn stamp_request(&mut self, batch: i64) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("sql/stamp_request.sql"))
            .bind(batch)
            .execute(self)
            .await
            .map(drop)
    }

    async fn record_answer(
        &mut self,
        batch: i64,
        record: &RequestRecord,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(include_str!("sql/record_answer.sql"))
            .bind(batch)
            .bind(record.outcome.as_str())
            .bind(record.http_status)
            .bind(&record.api_code)
            .bind(&record.api_msg)
            .bind(&record.error)
            .bind(record.duration.as_millis() as i64)
            .fetch_optional(self)
            .await?;
        Ok(row.and_then(|row| row.try_get::<String, _>("unique_id").ok()))
    }

    async fn settle_answered(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        answered: &Answered<'_>,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/settle_answered.sql"))
            .bind(token)
            .bind(json_list(ids))
            .bind(answered.status.as_str())
            .bind(answered.note)
            .bind(answered.batch)
            .bind(answered.refused)
            .bind(answered.lost)
            .bind(answered.check_after.map(|d| d.as_secs_f64()))
            .bind(proof(answered.proof.map(|p| p.0)))
            .bind(proof(answered.proof.map(|p| p.1)))
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn fail_duplicates(
        &mut self,
        batch: i64,
        ids: &[VideoNo],
        reason: &str,
        proof: Proof,
        most: usize,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/fail_duplicates.sql"))
            .bind(batch)
            .bind(json_list(ids))
            .bind(reason)
            .bind(most as i64)
            .bind(proof.as_str())
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn fail_unsent(
        &mut self,
        token: &str,
        row: i64,
        reason: &str,
        proof: Proof,
    ) -> Result<Option<(ChainRow, String)>, sqlx::Error> {
        let row = sqlx::query(include_str!("sql/fail_unsent.sql"))
            .bind(token)
            .bind(row)
            .bind(reason)
            .bind(proof.as_str())
            .fetch_optional(self)
            .await?;
        Ok(row.map(|row| {
            let namespace = row.try_get::<String, _>("unique_id").unwrap_or_default();
            (chain_row(&row), namespace)
        }))
    }

    async fn recent_requests(
        &mut self,
        sender: &str,
    ) -> Result<Vec<(i64, Option<f64>)>, sqlx::Error> {
        sqlx::query_as(include_str!("sql/recent_requests.sql"))
            .bind(sender)
            .fetch_all(self)
            .await
    }

    async fn last_answer_good(&mut self, within: Duration) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(include_str!("sql/last_answer_good.sql"))
            .bind(Outcome::Deleted.as_str())
            .bind(format!("-{:.3} seconds", within.as_secs_f64()))
            .fetch_optional(self)
            .await
    }

    async fn mark_listed(&mut self, token: &str, ids: &[VideoNo]) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/mark_listed.sql"))
            .bind(token)
            .bind(json_list(ids))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn settle_missed(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        missed: &Missed<'_>,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/settle_missed.sql"))
            .bind(token)
            .bind(json_list(ids))
            .bind(missed.status.as_str())
            .bind(missed.proof.0.as_str())
            .bind(missed.proof.1.as_str())
            .bind(missed.verifies)
            .bind(missed.note)
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn look_again(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        note: &str,
        after: Duration,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/look_again.sql"))
            .bind(token)
            .bind(json_list(ids))
            .bind(note)
            .bind(seconds_from_now(after))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_checks(
        &mut self,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Unchecked>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/claim_checks.sql"))
            .bind(seconds_from_now(lease))
            .bind(limit as i64)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.try_get("id").unwrap_or_default(),
                    row.try_get("video_no").ok(),
                    row.try_get("unique_id").ok(),
                )
            })
            .collect())
    }

    async fn postpone_checks(&mut self, rows: &[i64], after: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/postpone_checks.sql"))
            .bind(id_list(rows))
            .bind(seconds_from_now(after))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn drop_checks(&mut self, rows: &[i64]) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(include_str!("sql/drop_checks.sql"))
            .bind(id_list(rows))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn verify_checks(
        &mut self,
        rows: &[i64],
        gone: [(Proof, Proof); 2],
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/verify_checks.sql"))
            .bind(id_list(rows))
            .bind(gone[0].0.as_str())
            .bind(gone[0].1.as_str())
            .bind(gone[1].0.as_str())
            .bind(gone[1].1.as_str())
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn relist_checks(
        &mut self,
        rows: &[i64],
        note: &str,
        rounds: u32,
        proof: Proof,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(include_str!("sql/relist_checks.sql"))
            .bind(id_list(rows))
            .bind(note)
            .bind(rounds)
            .bind(proof.as_str())
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    /// Nothing to take: every transaction that appends has written already, so it holds
    /// SQLite's one write lock, and the head it reads is the true last one.
    async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn chain_head(&mut self) -> Result<(i64, String), sqlx::Error> {
        sqlx::query_as(include_str!("sql/chain_head.sql"))
            .fetch_one(self)
            .await
    }

    async fn request_record(&mut self, batch: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(&format!(
            "SELECT {RECORD} FROM deletion_batches WHERE id = ?1"
        ))
        .bind(batch)
        .fetch_optional(self)
        .await
    }

    async fn insert_entry(&mut self, e: &Sealed) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("sql/insert_entry.sql"))
            .bind(e.seq)
            .bind(&e.settled_at)
            .bind(e.kind)
            .bind(e.batch_id)
            .bind(&e.namespace)
            .bind(&e.rows)
            .bind(&e.code)
            .bind(&e.msg)
            .bind(&e.prev)
            .bind(&e.hash)
            .bind(&e.request)
            .execute(self)
            .await
            .map(drop)
    }

    async fn anchor(&mut self) -> Result<(i64, String, String, i64), sqlx::Error> {
        sqlx::query_as(include_str!("sql/anchor.sql"))
            .fetch_one(self)
            .await
    }
}
