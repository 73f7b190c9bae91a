//! The SQLite driver's statements: each binds its values to its SQL (`sql/NAME.sql`) and
//! reads its rows back. Producers write any SQLite type into any column: a cell that is not
//! what the daemon writes is read as "not valid" (`None`, empty, or doubt), never a panic.

use std::time::Duration;

use chrono::{DateTime, Utc};

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{json_list, parse_time, seconds_from_now};
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
pub(super) fn receipt(row: &SqliteRow) -> Receipt {
    Receipt::from_cells(|column| cell(row, column))
}

/// Every column of a request's record, as one JSON array written by SQLite: the same text
/// when the chain is written and when it is verified, unless a byte of the record changed.
/// Each value as SQLite's `quote()` writes it (text quoted, numbers bare, a BLOB as
/// `X'…'`, NULL): its type is part of what is vouched for, and no value can fail it.
macro_rules! record {
    () => {
        "json_array(quote(id), quote(unique_id), quote(ids_count), quote(attempt), \
         quote(outcome), quote(http_status), quote(api_code), quote(api_msg), quote(error), \
         quote(started_at), quote(finished_at), quote(duration_ms), quote(sender))"
    };
}

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

/// How many bytes of a BLOB are shown.
const BLOB_SHOWN: usize = 32;

/// A value as stored, whatever its SQLite type (a producer can write TEXT into `attempts`
/// or a BLOB into `last_error`): never decoded with a panic.
pub(super) fn cell(row: &SqliteRow, column: &str) -> Cell {
    use sqlx::{TypeInfo, ValueRef};
    // The type of the value stored, not the column's declared type.
    let kind = match row.try_get_raw(column) {
        Ok(raw) if raw.is_null() => return Cell::Null,
        Ok(raw) => raw.type_info().name().to_owned(),
        Err(_) => return Cell::Text("(unreadable)".into()),
    };
    let read = match kind.as_str() {
        "INTEGER" => row.try_get::<i64, _>(column).map(Cell::Integer),
        "REAL" => row.try_get::<f64, _>(column).map(Cell::Real),
        // Text that is not valid UTF-8 is shown with replacement characters.
        "TEXT" => row
            .try_get::<Vec<u8>, _>(column)
            .map(|bytes| Cell::Text(String::from_utf8_lossy(&bytes).into_owned())),
        _ => row.try_get::<Vec<u8>, _>(column).map(|bytes| {
            let hex: String = bytes
                .iter()
                .take(BLOB_SHOWN)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if bytes.len() > BLOB_SHOWN { "…" } else { "" };
            Cell::Text(format!("x'{hex}'{more}"))
        }),
    };
    read.unwrap_or_else(|_| Cell::Text("(unreadable)".into()))
}

/// A column producers write, shown even when it is not valid text.
fn text(row: &SqliteRow, column: &str) -> String {
    row.try_get(column)
        .unwrap_or_else(|_| "(not valid text)".to_owned())
}

/// The settled rows `filter` selects, streamed from `pool`.
pub(super) fn receipts<'a>(
    pool: &'a sqlx::SqlitePool,
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
fn filter_values(filter: &Filter) -> (String, Option<String>, Option<String>, Option<&str>) {
    (
        serde_json::Value::from(filter.statuses()).to_string(),
        filter.since.map(chain_time),
        filter.until.map(chain_time),
        filter.namespace.as_ref().map(Namespace::as_str),
    )
}

/// Rows a statement changed.
fn affected(
    done: Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error>,
) -> Result<u64, sqlx::Error> {
    done.map(|d| d.rows_affected())
}

fn proof(p: Option<Proof>) -> Option<&'static str> {
    p.map(Proof::as_str)
}

impl Statements for SqliteConnection {
    async fn take_back_leases(&mut self, longest: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("take_back_leases"))
            .bind(longest.as_secs() as i64)
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn free_unheld(&mut self, only: Option<&[VideoNo]>) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("free_unheld"))
            .bind(only.map(json_list))
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
        let done = sqlx::query(sql!("claim_duplicates"))
            .bind(token)
            .bind(seconds_from_now(lease))
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
        Ok(row.and_then(|row| row.try_get::<String, _>("unique_id").ok()))
    }

    async fn hold_claimed(
        &mut self,
        token: &str,
        only: Option<&[VideoNo]>,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("hold_claimed"))
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
        sqlx::query(sql!("renew"))
            .bind(token)
            .bind(seconds_from_now(lease))
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
            .bind(ids as i64)
            .bind(attempt)
            .bind(sender)
            .fetch_one(self)
            .await
    }

    async fn still_claimed(&mut self, token: &str, ids: &[VideoNo]) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("still_claimed"))
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
        let rows = sqlx::query(sql!("count_attempt"))
            .bind(token)
            .bind(json_list(ids))
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
        let rows = sqlx::query(sql!("settle_answered"))
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
        let rows = sqlx::query(sql!("fail_duplicates"))
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
        let row = sqlx::query(sql!("fail_unsent"))
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
        sqlx::query_as(sql!("recent_requests"))
            .bind(sender)
            .fetch_all(self)
            .await
    }

    async fn last_answer_good(&mut self, within: Duration) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(sql!("last_answer_good"))
            .bind(Outcome::Deleted.as_str())
            .bind(format!("-{:.3} seconds", within.as_secs_f64()))
            .fetch_optional(self)
            .await
    }

    async fn mark_listed(&mut self, token: &str, ids: &[VideoNo]) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("mark_listed"))
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
        let rows = sqlx::query(sql!("settle_missed"))
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
        let done = sqlx::query(sql!("look_again"))
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
        let rows = sqlx::query(sql!("claim_checks"))
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
        let done = sqlx::query(sql!("postpone_checks"))
            .bind(id_list(rows))
            .bind(seconds_from_now(after))
            .execute(self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn drop_checks(&mut self, rows: &[i64]) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("drop_checks"))
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
        let rows = sqlx::query(sql!("verify_checks"))
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
        let rows = sqlx::query(sql!("relist_checks"))
            .bind(id_list(rows))
            .bind(note)
            .bind(rounds)
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
            .bind(json_list(ids))
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
            .bind(json_list(ids))
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
            .bind(json_list(ids))
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
            .bind(json_list(ids))
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
        // The schema's CHECKs make these text, but a writer can switch CHECKs off: what is
        // stored is read as input, never decoded with a panic.
        Ok(rows
            .iter()
            .map(|r| {
                let text = |column: &str| {
                    r.try_get::<String, _>(column)
                        .unwrap_or_else(|_| "(not text)".to_owned())
                };
                Hold {
                    video_no: text("video_no"),
                    namespace: r
                        .try_get::<Option<String>, _>("unique_id")
                        .unwrap_or_else(|_| Some("(not text)".to_owned())),
                    reason: text("reason"),
                    placed_at: text("placed_at"),
                    rows_held: r.try_get("rows_held").unwrap_or(0),
                }
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
            .bind(since.map(chain_time))
            .fetch_all(self)
            .await?;
        Ok(returned(&rows))
    }

    async fn count_held(&mut self, rows: &[i64]) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql!("count_held"))
            .bind(id_list(rows))
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
            .bind(since.map(chain_time))
            .fetch_one(self)
            .await
    }

    async fn prune_rows(&mut self, before: DateTime<Utc>, most: usize) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql!("prune_rows"))
            .bind(chain_time(before))
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
            .bind(chain_time(before))
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
            .bind(chain_time(before))
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
                rows: r.try_get("n").unwrap_or_default(),
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
                rows: r.try_get("n").unwrap_or_default(),
            })
            .collect())
    }

    async fn oldest_pending(&mut self) -> Result<Option<PendingRow>, sqlx::Error> {
        let row = sqlx::query(sql!("oldest_pending"))
            .fetch_optional(self)
            .await?;
        Ok(row.map(|r| PendingRow {
            id: r.try_get("id").unwrap_or_default(),
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
            .bind(longest.as_secs() as i64)
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
                id: r.try_get("id").unwrap_or_default(),
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
            remaining_seconds: r.try_get("s").unwrap_or(0.0),
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
            .map(|r| {
                (
                    text(r, "status"),
                    r.try_get("proof").ok().flatten(),
                    r.try_get("n").unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn namespace_gauges(
        &mut self,
        top: usize,
    ) -> Result<Vec<(Option<String>, String, i64)>, sqlx::Error> {
        use sqlx::ValueRef;
        let rows = sqlx::query(sql!("namespace_gauges"))
            .bind(top as i64)
            .fetch_all(self)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let namespace = match r.try_get_raw("unique_id").map(|v| v.is_null()) {
                    Ok(true) => None,
                    _ => Some(text(r, "unique_id")),
                };
                (
                    namespace,
                    text(r, "status"),
                    r.try_get("n").unwrap_or_default(),
                )
            })
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
                    id: r.try_get("id").unwrap_or_default(),
                    video_no: r.try_get("video_no").ok(),
                    refusals: 0,
                    in_doubt: false,
                    first_missed: None,
                };
                (text(r, "unique_id"), row)
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
                .bind(serde_json::json!(namespaces).to_string())
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
        let rows: Vec<serde_json::Value> = videos
            .iter()
            .map(|v| serde_json::json!([v.video_no, v.create_ms, v.matched]))
            .collect();
        affected(
            sqlx::query(sql!("snapshot_page"))
                .bind(listing)
                .bind(namespace)
                .bind(serde_json::Value::Array(rows).to_string())
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

    /// Nothing to take: this process's writers take turns, and the insert's own check
    /// skips a video another process queued meanwhile.
    async fn lock_listing(&mut self, _listing: i64) -> Result<(), sqlx::Error> {
        Ok(())
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
        affected(
            sqlx::query(sql!("enqueue_videos"))
                .bind(serde_json::json!(videos).to_string())
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
        affected(
            sqlx::query(sql!("mark_enqueued"))
                .bind(listing)
                .bind(serde_json::json!(videos).to_string())
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
                .bind(serde_json::json!(keep).to_string())
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

    /// Nothing to take: every transaction that appends has written already, so it holds
    /// SQLite's one write lock, and the head it reads is the true last one.
    async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn chain_head(&mut self) -> Result<(i64, String), sqlx::Error> {
        sqlx::query_as(sql!("chain_head")).fetch_one(self).await
    }

    async fn request_record(&mut self, batch: i64) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(concat!(
            "SELECT ",
            record!(),
            " FROM deletion_batches WHERE id = ?1"
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
        Ok(())
    }

    fn chain_entries(&mut self) -> BoxStream<'_, Result<ChainEntry, sqlx::Error>> {
        sqlx::query(sql!("chain_entries"))
            .fetch(self)
            .map(|entry| {
                let entry = entry?;
                let text = |column: &str| entry.try_get::<String, _>(column).unwrap_or_default();
                Ok(ChainEntry {
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
                (id >= ?1 OR id < 1)
                AND NOT (b.started_at < ?2 AND b.outcome <> 'sending'
                         AND NOT EXISTS (SELECT 1 FROM deletion_queue q WHERE q.batch_id = b.id))
                AS must
               FROM deletion_batches b ORDER BY id"
        );
        sqlx::query(SQL)
            .bind(requests_from)
            .bind(since)
            .fetch(self)
            .map(|request| {
                let request = request?;
                Ok(ChainedRequest {
                    id: request.try_get("id").unwrap_or_default(),
                    record: request.try_get("record").ok(),
                    api_code: request.try_get("api_code").unwrap_or(None),
                    api_msg: request.try_get("api_msg").unwrap_or(None),
                    must: request.try_get::<bool, _>("must").unwrap_or(true),
                })
            })
            .boxed()
    }

    fn queue_rows<'a>(
        &'a mut self,
        anchor: &'a Anchor,
    ) -> BoxStream<'a, Result<QueueRow, sqlx::Error>> {
        sqlx::query(sql!("queue_rows"))
            .bind(&anchor.since)
            .bind(anchor.seq)
            .bind(anchor.rows_from)
            .fetch(self)
            .map(|row| {
                let row = row?;
                let text = |column: &str| row.try_get::<String, _>(column).unwrap_or_default();
                Ok(QueueRow {
                    id: row.try_get("id").unwrap_or_default(),
                    status: text("status"),
                    video_no: text("video_no"),
                    unique_id: text("unique_id"),
                    proof: row.try_get("proof").ok().flatten(),
                    covered: row.try_get::<bool, _>("covered").unwrap_or(true),
                    impossible: impossible(row.try_get("why").ok().flatten()),
                })
            })
            .boxed()
    }
}
