//! The PostgreSQL driver's statements: each binds its values to its SQL (`sql/NAME.sql`)
//! and reads its rows back. Lists are arrays (`ANY($n)`), durations seconds as `float8`.
//! Rows are read with `Row::get`, which would panic on a value of another type: here no
//! producer can store one (PostgreSQL types every column, and only the daemons' role, the
//! owner, can change a column's type), where SQLite keeps whatever is written.

use std::time::Duration;

use chrono::{DateTime, Utc};

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::texts;
use futures_util::stream::{BoxStream, StreamExt};

use crate::queue::chain::{
    chain_time, impossible, Anchor, ChainEntry, ChainRow, Kind, QueueRow,
    RequestRecord as ChainedRequest, Sealed,
};
use crate::queue::driver::{Answered, Missed, Statements, Unchecked};
use crate::queue::receipts::{Filter, Receipt};
use crate::queue::report::{BatchRow, Cell, Count, PendingRow, ProofCount, Sender};
use crate::queue::rules::{ListingRow, ListingState, ReportRow, Snapshotted, TallyRow};
use crate::queue::{ClaimedRow, Hold, RequestRecord};
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Outcome, Proof};

/// A settled row's receipt, each value read by `cell`.
pub(super) fn receipt(row: &PgRow) -> Receipt {
    Receipt::from_cells(|column| cell(row, column))
}

/// Every column of a request's record as one JSON array, written by the server (whose
/// sessions are all UTC and ISO: the same text on every host).
macro_rules! record {
    () => {
        "json_build_array(id, unique_id, ids_count, attempt, outcome, http_status, api_code, \
         api_msg, error, started_at, finished_at, duration_ms, sender)::text"
    };
}

/// The rows an `UPDATE … RETURNING id, video_no, status, proof` changed.
pub fn returned(rows: &[PgRow]) -> Vec<ChainRow> {
    rows.iter().map(chain_row).collect()
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

/// The settled rows `filter` selects, streamed from `pool`.
pub(super) fn receipts<'a>(
    pool: &'a sqlx::PgPool,
    filter: &'a Filter,
) -> BoxStream<'a, Result<Receipt, sqlx::Error>> {
    let (statuses, since, until, namespace) = filter_values(filter);
    sqlx::query(sql!("receipts"))
        .bind(statuses)
        .bind(since)
        .bind(until)
        .bind(namespace)
        .bind(Proof::UNRECORDED)
        .fetch(pool)
        .map(|row| row.map(|row| receipt(&row)))
        .boxed()
}

/// A receipts filter's values for the statements' first four parameters.
type FilterValues<'a> = (
    Vec<&'static str>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<&'a str>,
);

fn filter_values(filter: &Filter) -> FilterValues<'_> {
    (
        filter.statuses(),
        filter.since,
        filter.until,
        filter.namespace.as_ref().map(Namespace::as_str),
    )
}

/// Rows a statement changed.
fn affected(done: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> Result<u64, sqlx::Error> {
    done.map(|d| d.rows_affected())
}

/// The (namespace, video) pairs as two arrays, as `unnest` reads them.
fn columns(videos: &[(String, String)]) -> (Vec<&str>, Vec<&str>) {
    videos.iter().map(|(n, v)| (n.as_str(), v.as_str())).unzip()
}

/// The anchor's `since` as a time (the chain writes it as text); `None` when it is not one
/// (the verifier says so).
fn read_time(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn chain_row(row: &PgRow) -> ChainRow {
    ChainRow(
        row.get("id"),
        row.get("video_no"),
        row.get("status"),
        row.try_get("proof").ok().flatten(),
    )
}

fn proof(p: Option<Proof>) -> Option<&'static str> {
    p.map(Proof::as_str)
}

impl Statements for PgConnection {
    async fn take_back_leases(&mut self, longest: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("take_back_leases"))
            .bind(longest.as_secs() as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn free_unheld(&mut self, only: Option<&[VideoNo]>) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("free_unheld"))
            .bind(only.map(texts))
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
        let done = sqlx::query(sql!("claim_rows"))
            .bind(token)
            .bind(lease.as_secs_f64())
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
        let done = sqlx::query(sql!("claim_duplicates"))
            .bind(token)
            .bind(lease.as_secs_f64())
            .bind(most as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_namespace(&mut self, token: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(sql!("claim_namespace"))
            .bind(token)
            .fetch_optional(self)
            .await?;
        Ok(row.map(|row| row.get("unique_id")))
    }

    async fn hold_claimed(
        &mut self,
        token: &str,
        only: Option<&[VideoNo]>,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("hold_claimed"))
            .bind(token)
            .bind(only.map(texts))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn settle_from_history(
        &mut self,
        token: &str,
        proof: Proof,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("settle_from_history"))
            .bind(token)
            .bind(proof.as_str())
            .bind(Kind::Answer.as_str())
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn claimed_rows(&mut self, token: &str) -> Result<Vec<ClaimedRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("claimed_rows"))
            .bind(token)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|row| ClaimedRow {
                id: row.get("id"),
                video_no: Some(row.get("video_no")),
                refusals: row.get::<i32, _>("refusals").into(),
                in_doubt: row.get::<i32, _>("in_doubt") != 0,
                first_missed: row.get("missed_at"),
            })
            .collect())
    }

    async fn renew(&mut self, token: &str, lease: Duration) -> Result<(), sqlx::Error> {
        sqlx::query(sql!("renew"))
            .bind(token)
            .bind(lease.as_secs_f64())
            .execute(self)
            .await
            .map(drop)
    }

    async fn release(&mut self, token: &str, last_error: Option<&str>) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("release"))
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
        sqlx::query_scalar(sql!("insert_request"))
            .bind(namespace.as_str())
            .bind(ids as i32)
            .bind(attempt as i32)
            .bind(sender)
            .fetch_one(self)
            .await
    }

    async fn still_claimed(&mut self, token: &str, ids: &[VideoNo]) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("still_claimed"))
            .bind(token)
            .bind(texts(ids))
            .fetch_one(self)
            .await
    }

    async fn count_attempt(
        &mut self,
        token: &str,
        ids: &[VideoNo],
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("count_attempt"))
            .bind(token)
            .bind(texts(ids))
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn stamp_request(&mut self, batch: i64) -> Result<(), sqlx::Error> {
        sqlx::query(sql!("stamp_request"))
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
        let row = sqlx::query(sql!("record_answer"))
            .bind(batch)
            .bind(record.outcome.as_str())
            .bind(record.http_status.map(i32::from))
            .bind(&record.api_code)
            .bind(&record.api_msg)
            .bind(&record.error)
            .bind(record.duration.as_millis() as i64)
            .fetch_optional(self)
            .await?;
        Ok(row.map(|row| row.get("unique_id")))
    }

    async fn settle_answered(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        answered: &Answered<'_>,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("settle_answered"))
            .bind(token)
            .bind(texts(ids))
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
        let rows = sqlx::query(sql!("fail_duplicates"))
            .bind(batch)
            .bind(texts(ids))
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
        let row = sqlx::query(sql!("fail_unsent"))
            .bind(token)
            .bind(row)
            .bind(reason)
            .bind(proof.as_str())
            .fetch_optional(self)
            .await?;
        Ok(row.map(|row| {
            let namespace = row.get("unique_id");
            (chain_row(&row), namespace)
        }))
    }

    async fn recent_requests(
        &mut self,
        sender: &str,
    ) -> Result<Vec<(i64, Option<f64>)>, sqlx::Error> {
        sqlx::query_as(sql!("recent_requests"))
            .bind(sender)
            .fetch_all(self)
            .await
    }

    async fn last_answer_good(&mut self, within: Duration) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(sql!("last_answer_good"))
            .bind(Outcome::Deleted.as_str())
            .bind(within.as_secs_f64())
            .fetch_optional(self)
            .await
    }

    async fn mark_listed(&mut self, token: &str, ids: &[VideoNo]) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("mark_listed"))
            .bind(token)
            .bind(texts(ids))
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
        let rows = sqlx::query(sql!("settle_missed"))
            .bind(token)
            .bind(texts(ids))
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
        let done = sqlx::query(sql!("look_again"))
            .bind(token)
            .bind(texts(ids))
            .bind(note)
            .bind(after.as_secs_f64())
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_checks(
        &mut self,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Unchecked>, sqlx::Error> {
        let rows = sqlx::query(sql!("claim_checks"))
            .bind(lease.as_secs_f64())
            .bind(limit as i64)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get("id"),
                    Some(row.get("video_no")),
                    Some(row.get("unique_id")),
                )
            })
            .collect())
    }

    async fn postpone_checks(&mut self, rows: &[i64], after: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("postpone_checks"))
            .bind(rows)
            .bind(after.as_secs_f64())
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn drop_checks(&mut self, rows: &[i64]) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("drop_checks"))
            .bind(rows)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn verify_checks(
        &mut self,
        rows: &[i64],
        gone: [(Proof, Proof); 2],
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("verify_checks"))
            .bind(rows)
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
        let rows = sqlx::query(sql!("relist_checks"))
            .bind(rows)
            .bind(note)
            .bind(i64::from(rounds))
            .bind(proof.as_str())
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn insert_holds(
        &mut self,
        namespace: Option<&Namespace>,
        ids: &[VideoNo],
        reason: &str,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("insert_holds"))
            .bind(texts(ids))
            .bind(namespace.map(Namespace::as_str))
            .bind(reason)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn hold_pending(
        &mut self,
        namespace: Option<&Namespace>,
        ids: &[VideoNo],
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("hold_pending"))
            .bind(texts(ids))
            .bind(namespace.map(Namespace::as_str))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn held_elsewhere(
        &mut self,
        namespace: Option<&Namespace>,
        ids: &[VideoNo],
    ) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as(sql!("held_elsewhere"))
            .bind(texts(ids))
            .bind(namespace.map(Namespace::as_str))
            .fetch_one(self)
            .await
    }

    async fn delete_holds(
        &mut self,
        namespace: Option<&Namespace>,
        ids: &[VideoNo],
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("delete_holds"))
            .bind(texts(ids))
            .bind(namespace.map(Namespace::as_str))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn list_holds(&mut self, newest: Option<i64>) -> Result<Vec<Hold>, sqlx::Error> {
        let rows = sqlx::query(sql!("list_holds"))
            .bind(newest)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Hold {
                video_no: r.get("video_no"),
                namespace: r.get("unique_id"),
                reason: r.get("reason"),
                placed_at: r.get("placed_at"),
                rows_held: r.get("rows_held"),
            })
            .collect())
    }

    async fn reopen_failed(
        &mut self,
        namespace: Option<&Namespace>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ChainRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("reopen_failed"))
            .bind(namespace.map(Namespace::as_str))
            .bind(since)
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn count_held(&mut self, rows: &[i64]) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("count_held"))
            .bind(rows)
            .fetch_one(self)
            .await
    }

    async fn unreadable_failed(
        &mut self,
        namespace: Option<&Namespace>,
        since: Option<DateTime<Utc>>,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("unreadable_failed"))
            .bind(namespace.map(Namespace::as_str))
            .bind(since)
            .fetch_one(self)
            .await
    }

    async fn prune_rows(&mut self, before: DateTime<Utc>, most: usize) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("prune_rows"))
            .bind(before)
            .bind(most as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn move_anchor(&mut self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("move_anchor"))
            .bind(chain_time(before))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn carried_requests(
        &mut self,
        before: DateTime<Utc>,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        sqlx::query_as(sql!("carried_requests"))
            .bind(before)
            .fetch_all(self)
            .await
    }

    async fn drop_chain_prefix(&mut self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("drop_chain_prefix")).execute(self).await?;
        Ok(done.rows_affected())
    }

    async fn prune_requests(
        &mut self,
        before: DateTime<Utc>,
        most: usize,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("prune_requests"))
            .bind(before)
            .bind(most as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn count_rows(&mut self) -> Result<Vec<Count>, sqlx::Error> {
        let rows = sqlx::query(sql!("count_rows")).fetch_all(self).await?;
        Ok(rows
            .iter()
            .map(|r| Count {
                unique_id: cell(r, "unique_id"),
                status: cell(r, "status"),
                rows: r.get("n"),
            })
            .collect())
    }

    async fn proof_counts(&mut self, unrecorded: &str) -> Result<Vec<ProofCount>, sqlx::Error> {
        let rows = sqlx::query(sql!("proof_counts"))
            .bind(unrecorded)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|r| ProofCount {
                status: cell(r, "status"),
                proof: cell(r, "proof"),
                rows: r.get("n"),
            })
            .collect())
    }

    async fn oldest_pending(&mut self) -> Result<Option<PendingRow>, sqlx::Error> {
        let row = sqlx::query(sql!("oldest_pending"))
            .fetch_optional(self)
            .await?;
        Ok(row.map(|r| PendingRow {
            id: r.get("id"),
            video_no: cell(&r, "video_no"),
            unique_id: cell(&r, "unique_id"),
            enqueued_at: cell(&r, "enqueued_at"),
            due_at: cell(&r, "due_at"),
            attempts: cell(&r, "attempts"),
            last_error: cell(&r, "last_error"),
        }))
    }

    async fn unreadable_due(&mut self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("unreadable_due"))
            .fetch_one(self)
            .await
    }

    async fn impossible_leases(&mut self, longest: Duration) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("impossible_leases"))
            .bind(longest.as_secs_f64())
            .fetch_one(self)
            .await
    }

    async fn last_requests(&mut self, last: u32) -> Result<Vec<BatchRow>, sqlx::Error> {
        let rows = sqlx::query(sql!("last_requests"))
            .bind(i64::from(last))
            .fetch_all(self)
            .await?;
        Ok(rows
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
            .collect())
    }

    async fn sender_lease(&mut self) -> Result<Option<Sender>, sqlx::Error> {
        let row = sqlx::query(sql!("sender_lease"))
            .fetch_optional(self)
            .await?;
        Ok(row.map(|r| Sender {
            holder: cell(&r, "holder"),
            remaining_seconds: r.get("s"),
        }))
    }

    async fn count_holds(&mut self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("count_holds"))
            .fetch_one(self)
            .await
    }

    async fn gauge_counts(&mut self) -> Result<Vec<(String, Option<String>, i64)>, sqlx::Error> {
        let rows = sqlx::query(sql!("gauge_counts")).fetch_all(self).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("status"), r.get("proof"), r.get("n")))
            .collect())
    }

    async fn namespace_gauges(
        &mut self,
        top: usize,
    ) -> Result<Vec<(Option<String>, String, i64)>, sqlx::Error> {
        let rows = sqlx::query(sql!("namespace_gauges"))
            .bind(top as i64)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("unique_id"), r.get("status"), r.get("n")))
            .collect())
    }

    async fn oldest_due(&mut self) -> Result<Option<f64>, sqlx::Error> {
        sqlx::query_scalar(sql!("oldest_due")).fetch_one(self).await
    }

    async fn due_page(
        &mut self,
        after: (&str, i64),
        limit: usize,
    ) -> Result<Vec<(String, ClaimedRow)>, sqlx::Error> {
        let rows = sqlx::query(sql!("due_page"))
            .bind(after.0)
            .bind(after.1)
            .bind(limit as i64)
            .fetch_all(self)
            .await?;
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

    async fn due_pending(&mut self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("due_pending"))
            .fetch_one(self)
            .await
    }

    async fn count_receipts(&mut self, filter: &Filter) -> Result<i64, sqlx::Error> {
        let (statuses, since, until, namespace) = filter_values(filter);
        sqlx::query_scalar(sql!("count_receipts"))
            .bind(statuses)
            .bind(since)
            .bind(until)
            .bind(namespace)
            .fetch_one(self)
            .await
    }

    async fn open_listings(&mut self, rule: &str) -> Result<Vec<ListingRow>, sqlx::Error> {
        sqlx::query_as(sql!("open_listings"))
            .bind(rule)
            .fetch_all(self)
            .await
    }

    async fn supersede_listing(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("supersede_listing"))
                .bind(listing)
                .execute(self)
                .await,
        )
    }

    async fn drop_snapshot(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("drop_snapshot"))
                .bind(listing)
                .execute(self)
                .await,
        )
    }

    async fn namespaces_to_read(
        &mut self,
        listing: i64,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(sql!("namespaces_to_read"))
            .bind(listing)
            .fetch_all(self)
            .await
    }

    async fn insert_listing(
        &mut self,
        rule: &str,
        fingerprint: &str,
        mode: &str,
        listed_at_ms: i64,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("insert_listing"))
            .bind(rule)
            .bind(fingerprint)
            .bind(mode)
            .bind(listed_at_ms)
            .fetch_one(self)
            .await
    }

    async fn insert_listing_namespaces(
        &mut self,
        listing: i64,
        namespaces: &[String],
    ) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("insert_listing_namespaces"))
                .bind(listing)
                .bind(namespaces)
                .execute(self)
                .await,
        )
    }

    async fn snapshot_page(
        &mut self,
        listing: i64,
        namespace: &str,
        videos: &[Snapshotted],
    ) -> Result<u64, sqlx::Error> {
        let video_nos: Vec<&str> = videos.iter().map(|v| v.video_no.as_str()).collect();
        let create_ms: Vec<Option<i64>> = videos.iter().map(|v| v.create_ms).collect();
        let matched: Vec<i64> = videos.iter().map(|v| v.matched).collect();
        affected(
            sqlx::query(sql!("snapshot_page"))
                .bind(listing)
                .bind(namespace)
                .bind(&video_nos)
                .bind(&create_ms)
                .bind(&matched)
                .execute(self)
                .await,
        )
    }

    async fn advance_namespace(
        &mut self,
        listing: i64,
        namespace: &str,
        page: i64,
        last: bool,
        listed: i64,
    ) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("advance_namespace"))
                .bind(listing)
                .bind(namespace)
                .bind(page)
                .bind(last)
                .bind(listed)
                .execute(self)
                .await,
        )
    }

    async fn tally_namespaces(&mut self, listing: i64, sample: i64) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("tally_namespaces"))
                .bind(listing)
                .bind(sample)
                .execute(self)
                .await,
        )
    }

    async fn tally_listing(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("tally_listing"))
                .bind(listing)
                .execute(self)
                .await,
        )
    }

    async fn tallies(&mut self, listing: i64) -> Result<Vec<TallyRow>, sqlx::Error> {
        sqlx::query_as(sql!("tallies"))
            .bind(listing)
            .fetch_all(self)
            .await
    }

    async fn set_listing_state(
        &mut self,
        listing: i64,
        state: ListingState,
        note: Option<&str>,
    ) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("set_listing_state"))
                .bind(listing)
                .bind(state.as_str())
                .bind(note)
                .execute(self)
                .await,
        )
    }

    async fn trim_namespaces(&mut self, listing: i64, kept: i64) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("trim_namespaces"))
                .bind(listing)
                .bind(kept)
                .execute(self)
                .await,
        )
    }

    async fn trim_listings(&mut self, listing: i64, kept: i64) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("trim_listings"))
                .bind(listing)
                .bind(kept)
                .execute(self)
                .await,
        )
    }

    async fn lock_listing(&mut self, listing: i64) -> Result<(), sqlx::Error> {
        sqlx::query(sql!("lock_listing"))
            .bind(listing)
            .execute(self)
            .await
            .map(drop)
    }

    async fn todo_videos(
        &mut self,
        listing: i64,
        most: u64,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(sql!("todo_videos"))
            .bind(listing)
            .bind(most as i64)
            .fetch_all(self)
            .await
    }

    async fn enqueue_videos(
        &mut self,
        videos: &[(String, String)],
        source: &str,
    ) -> Result<u64, sqlx::Error> {
        let (namespaces, video_nos) = columns(videos);
        affected(
            sqlx::query(sql!("enqueue_videos"))
                .bind(namespaces)
                .bind(video_nos)
                .bind(source)
                .execute(self)
                .await,
        )
    }

    async fn mark_enqueued(
        &mut self,
        listing: i64,
        videos: &[(String, String)],
    ) -> Result<u64, sqlx::Error> {
        let (namespaces, video_nos) = columns(videos);
        affected(
            sqlx::query(sql!("mark_enqueued"))
                .bind(listing)
                .bind(namespaces)
                .bind(video_nos)
                .execute(self)
                .await,
        )
    }

    async fn count_enqueued(
        &mut self,
        listing: i64,
        inserted: u64,
        already: u64,
    ) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("count_enqueued"))
                .bind(listing)
                .bind(inserted as i64)
                .bind(already as i64)
                .execute(self)
                .await,
        )
    }

    async fn left_to_enqueue(&mut self, listing: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("left_to_enqueue"))
            .bind(listing)
            .fetch_one(self)
            .await
    }

    async fn confirm_listing(
        &mut self,
        rule: &str,
        fingerprint: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(sql!("confirm_listing"))
            .bind(rule)
            .bind(fingerprint)
            .fetch_optional(self)
            .await
    }

    async fn retire_listings(&mut self, keep: &[String]) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("retire_listings"))
                .bind(keep)
                .execute(self)
                .await,
        )
    }

    async fn drop_finished_snapshots(&mut self) -> Result<u64, sqlx::Error> {
        affected(
            sqlx::query(sql!("drop_finished_snapshots"))
                .execute(self)
                .await,
        )
    }

    async fn listing_reports(&mut self, rule: Option<&str>) -> Result<Vec<ReportRow>, sqlx::Error> {
        sqlx::query_as(sql!("listing_reports"))
            .bind(rule)
            .fetch_all(self)
            .await
    }

    /// Taken last in each transaction, after its row updates, so that no transaction
    /// holding it waits for a row: no deadlock.
    async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query(sql!("lock_chain"))
            .execute(self)
            .await
            .map(drop)
    }

    async fn chain_head(&mut self) -> Result<(i64, String), sqlx::Error> {
        sqlx::query_as(sql!("chain_head")).fetch_one(self).await
    }

    async fn request_record(&mut self, batch: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(concat!(
            "SELECT ",
            record!(),
            " FROM deletion_batches WHERE id = $1"
        ))
        .bind(batch)
        .fetch_optional(self)
        .await
    }

    async fn insert_entry(&mut self, e: &Sealed) -> Result<(), sqlx::Error> {
        sqlx::query(sql!("insert_entry"))
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

    async fn anchor(&mut self) -> Result<Anchor, sqlx::Error> {
        let (seq, hash, since, requests_from, rows_from) =
            sqlx::query_as(sql!("anchor")).fetch_one(self).await?;
        Ok(Anchor {
            seq,
            hash,
            since,
            requests_from,
            rows_from,
        })
    }

    async fn snapshot(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(self)
            .await
            .map(drop)
    }

    fn chain_entries(&mut self) -> BoxStream<'_, Result<ChainEntry, sqlx::Error>> {
        sqlx::query(sql!("chain_entries"))
            .fetch(self)
            .map(|entry| {
                let e = entry?;
                Ok(ChainEntry {
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
                })
            })
            .boxed()
    }

    fn request_records<'a>(
        &'a mut self,
        requests_from: i64,
        since: &'a str,
    ) -> BoxStream<'a, Result<ChainedRequest, sqlx::Error>> {
        // Must have an entry: recorded since the chain held requests, unless prune may
        // remove it (answered, started before the anchor's since, no row points at it).
        const SQL: &str = concat!(
            "SELECT id, ",
            record!(),
            " AS record, api_code, api_msg,
                (id >= $1 OR id < 1)
                AND NOT (b.started_at < $2 AND b.outcome <> 'sending'
                         AND NOT EXISTS (SELECT 1 FROM deletion_queue q WHERE q.batch_id = b.id))
                AS must
               FROM deletion_batches b ORDER BY id"
        );
        sqlx::query(SQL)
            .bind(requests_from)
            .bind(read_time(since))
            .fetch(self)
            .map(|request| {
                let r = request?;
                Ok(ChainedRequest {
                    id: r.get("id"),
                    record: r.get("record"),
                    api_code: r.get("api_code"),
                    api_msg: r.get("api_msg"),
                    // NULL: the anchor's since is no time (the verifier says so).
                    must: r.get::<Option<bool>, _>("must").unwrap_or(true),
                })
            })
            .boxed()
    }

    fn queue_rows<'a>(
        &'a mut self,
        anchor: &'a Anchor,
    ) -> BoxStream<'a, Result<QueueRow, sqlx::Error>> {
        sqlx::query(sql!("queue_rows"))
            .bind(read_time(&anchor.since))
            .bind(anchor.seq)
            .bind(anchor.rows_from)
            .fetch(self)
            .map(|row| {
                let r = row?;
                Ok(QueueRow {
                    id: r.get("id"),
                    status: r.get("status"),
                    video_no: r.get("video_no"),
                    unique_id: r.get("unique_id"),
                    proof: r.get("proof"),
                    covered: r.get::<Option<bool>, _>("covered").unwrap_or(true),
                    impossible: impossible(r.get("why")),
                })
            })
            .boxed()
    }
}
