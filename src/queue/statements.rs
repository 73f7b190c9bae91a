//! Every statement's Rust side, written once: which file holds its SQL, what it binds, and
//! how its rows are read. A driver expands [`statements_for!`] over its connection type;
//! what differs between backends is only what the expansion finds in the driver's module:
//!
//! - `sql!(NAME)`: the text of `queries/<backend>/NAME.sql`;
//! - how a list is bound (`list`, `ids`, `texts`: JSON text for SQLite's `json_each`, arrays
//!   for PostgreSQL's `ANY`), and a time (`time`, `since`: SQLite's text, PostgreSQL's
//!   `timestamptz`);
//! - how a cell is read (`int`, `shown`, `at`, `cell`; `float`, `flag`, `text` are here): SQLite keeps
//!   whatever a producer writes, so its readers turn an odd value into `None` (or "not
//!   valid"), never a panic;
//! - the locks a transaction takes (`lock_chain`, `lock_listing`, `snapshot`: PostgreSQL's
//!   rows of `queue_locks` and isolation; nothing on SQLite, which has one writer).
//!
//! Durations are bound as seconds (`f64`) on both. A statement missing from a backend's
//! folder fails the build (`include_str!`).

/// Expands into `impl Statements for $conn`, and `receipts_from($pool, …)`.
macro_rules! statements_for {
    ($conn:ty, $pool:ty) => {
        use std::time::Duration;

        use futures_util::stream::{BoxStream, StreamExt};

        use $crate::chain::{
            impossible, ChainEntry, ChainRow, ChainedRequest, Kind, QueueRow, Sealed,
        };
        use $crate::queue::driver::{Answered, Missed, Statements, Unchecked};
        use $crate::queue::rows::{
            Anchor, BatchRow, Count, Filter, Hold, ListingRow, PendingRow, ProofCount, Receipt,
            ReportRow, Sender, Snapshotted, TallyRow,
        };
        use $crate::queue::{ClaimedRow, RequestRecord};
        use $crate::video::Namespace;
        use $crate::vocabulary::{ListingState, Outcome, Proof};

        /// A number; `None` for NULL or a value of another type (an `Option` is asked for:
        /// SQLite decodes NULL as 0 otherwise).
        fn float(row: &Row, column: &str) -> Option<f64> {
            row.try_get(column).ok().flatten()
        }

        fn flag(row: &Row, column: &str) -> Option<bool> {
            row.try_get(column).ok().flatten()
        }

        /// Text; `None` for NULL or a value that is not valid text.
        fn text(row: &Row, column: &str) -> Option<String> {
            row.try_get(column).ok().flatten()
        }

        /// Text as the pass parses it: NULL is empty (an invalid video number, said so),
        /// another type `None` (not valid text).
        fn text_or_empty(row: &Row, column: &str) -> Option<String> {
            row.try_get::<Option<String>, _>(column)
                .ok()
                .map(Option::unwrap_or_default)
        }

        /// How a value producers wrote that is not text is shown.
        const NOT_TEXT: &str = "(not valid text)";

        /// The rows an `UPDATE … RETURNING id, video_no, status, proof` changed.
        fn chain_rows(rows: &[Row]) -> Vec<ChainRow> {
            rows.iter().map(chain_row).collect()
        }

        fn chain_row(r: &Row) -> ChainRow {
            ChainRow(
                int(r, "id").unwrap_or_default(),
                text(r, "video_no").unwrap_or_default(),
                text(r, "status").unwrap_or_default(),
                text(r, "proof"),
            )
        }

        /// The rows changed.
        fn changed(done: Result<Done, sqlx::Error>) -> Result<u64, sqlx::Error> {
            done.map(|d| d.rows_affected())
        }

        /// The settled rows `filter` selects, streamed from `pool`.
        pub(super) fn receipts_from<'a>(
            pool: &'a $pool,
            filter: &'a Filter,
        ) -> BoxStream<'a, Result<Receipt, sqlx::Error>> {
            sqlx::query(sql!("receipts"))
                .bind(texts(&filter.statuses()))
                .bind(filter.since.map(time))
                .bind(filter.until.map(time))
                .bind(filter.namespace.as_ref().map(Namespace::as_str))
                .bind(Proof::UNRECORDED)
                .fetch(pool)
                .map(|row| row.map(|r| Receipt::from_cells(|column| cell(&r, column))))
                .boxed()
        }

        impl Statements for $conn {
            async fn take_back_leases(&mut self, longest: Duration) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("take_back_leases"))
                        .bind(longest.as_secs() as i64)
                        .execute(self)
                        .await,
                )
            }

            async fn free_unheld(&mut self, only: Option<&[VideoNo]>) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("free_unheld"))
                        .bind(only.map(list))
                        .execute(self)
                        .await,
                )
            }

            async fn claim_rows(
                &mut self,
                token: &str,
                lease: Duration,
                limit: usize,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("claim_rows"))
                        .bind(token)
                        .bind(lease.as_secs_f64())
                        .bind(limit as i64)
                        .execute(self)
                        .await,
                )
            }

            async fn claim_duplicates(
                &mut self,
                token: &str,
                lease: Duration,
                most: usize,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("claim_duplicates"))
                        .bind(token)
                        .bind(lease.as_secs_f64())
                        .bind(most as i64)
                        .execute(self)
                        .await,
                )
            }

            async fn claim_namespace(
                &mut self,
                token: &str,
            ) -> Result<Option<String>, sqlx::Error> {
                let row = sqlx::query(sql!("claim_namespace"))
                    .bind(token)
                    .fetch_optional(self)
                    .await?;
                Ok(row.and_then(|r| text(&r, "unique_id")))
            }

            async fn hold_claimed(
                &mut self,
                token: &str,
                only: Option<&[VideoNo]>,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("hold_claimed"))
                        .bind(token)
                        .bind(only.map(list))
                        .execute(self)
                        .await,
                )
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
                Ok(chain_rows(&rows))
            }

            async fn claimed_rows(&mut self, token: &str) -> Result<Vec<ClaimedRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("claimed_rows"))
                    .bind(token)
                    .fetch_all(self)
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| ClaimedRow {
                        id: int(r, "id").unwrap_or_default(),
                        video_no: text_or_empty(r, "video_no"),
                        refusals: int(r, "refusals").unwrap_or(0),
                        // Doubt settles a missed video `deleted` (by a lost answer): only a
                        // number the daemon wrote counts; NULL or another type is none.
                        in_doubt: int(r, "in_doubt").unwrap_or(0) != 0,
                        first_missed: at(r, "missed_at"),
                    })
                    .collect())
            }

            async fn renew(&mut self, token: &str, lease: Duration) -> Result<(), sqlx::Error> {
                changed(
                    sqlx::query(sql!("renew"))
                        .bind(token)
                        .bind(lease.as_secs_f64())
                        .execute(self)
                        .await,
                )
                .map(drop)
            }

            async fn release(
                &mut self,
                token: &str,
                last_error: Option<&str>,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("release"))
                        .bind(token)
                        .bind(last_error)
                        .execute(self)
                        .await,
                )
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
                    .bind(i32::try_from(ids).unwrap_or(i32::MAX))
                    .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
                    .bind(sender)
                    .fetch_one(self)
                    .await
            }

            async fn still_claimed(
                &mut self,
                token: &str,
                videos: &[VideoNo],
            ) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(sql!("still_claimed"))
                    .bind(token)
                    .bind(list(videos))
                    .fetch_one(self)
                    .await
            }

            async fn count_attempt(
                &mut self,
                token: &str,
                videos: &[VideoNo],
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("count_attempt"))
                    .bind(token)
                    .bind(list(videos))
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
            }

            async fn stamp_request(&mut self, batch: i64) -> Result<(), sqlx::Error> {
                changed(
                    sqlx::query(sql!("stamp_request"))
                        .bind(batch)
                        .execute(self)
                        .await,
                )
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
                    .bind(i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX))
                    .fetch_optional(self)
                    .await?;
                Ok(row.and_then(|r| text(&r, "unique_id")))
            }

            async fn settle_answered(
                &mut self,
                token: &str,
                videos: &[VideoNo],
                answered: &Answered<'_>,
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("settle_answered"))
                    .bind(token)
                    .bind(list(videos))
                    .bind(answered.status.as_str())
                    .bind(answered.note)
                    .bind(answered.batch)
                    .bind(answered.refused)
                    .bind(answered.lost)
                    .bind(answered.check_after.map(|d| d.as_secs_f64()))
                    .bind(answered.proof.map(|p| p.0.as_str()))
                    .bind(answered.proof.map(|p| p.1.as_str()))
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
            }

            async fn fail_duplicates(
                &mut self,
                batch: i64,
                videos: &[VideoNo],
                reason: &str,
                proof: Proof,
                most: usize,
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("fail_duplicates"))
                    .bind(batch)
                    .bind(list(videos))
                    .bind(reason)
                    .bind(most as i64)
                    .bind(proof.as_str())
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
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
                Ok(row.map(|r| {
                    let namespace = text(&r, "unique_id").unwrap_or_default();
                    (chain_row(&r), namespace)
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

            async fn last_answer_good(
                &mut self,
                within: Duration,
            ) -> Result<Option<bool>, sqlx::Error> {
                sqlx::query_scalar(sql!("last_answer_good"))
                    .bind(Outcome::Deleted.as_str())
                    .bind(within.as_secs_f64())
                    .fetch_optional(self)
                    .await
            }

            async fn mark_listed(
                &mut self,
                token: &str,
                videos: &[VideoNo],
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("mark_listed"))
                        .bind(token)
                        .bind(list(videos))
                        .execute(self)
                        .await,
                )
            }

            async fn settle_missed(
                &mut self,
                token: &str,
                videos: &[VideoNo],
                missed: &Missed<'_>,
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("settle_missed"))
                    .bind(token)
                    .bind(list(videos))
                    .bind(missed.status.as_str())
                    .bind(missed.proof.0.as_str())
                    .bind(missed.proof.1.as_str())
                    .bind(missed.verifies)
                    .bind(missed.note)
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
            }

            async fn look_again(
                &mut self,
                token: &str,
                videos: &[VideoNo],
                note: &str,
                after: Duration,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("look_again"))
                        .bind(token)
                        .bind(list(videos))
                        .bind(note)
                        .bind(after.as_secs_f64())
                        .execute(self)
                        .await,
                )
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
                    .map(|r| {
                        (
                            int(r, "id").unwrap_or_default(),
                            text_or_empty(r, "video_no"),
                            text(r, "unique_id"),
                        )
                    })
                    .collect())
            }

            async fn postpone_checks(
                &mut self,
                rows: &[i64],
                after: Duration,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("postpone_checks"))
                        .bind(ids(rows))
                        .bind(after.as_secs_f64())
                        .execute(self)
                        .await,
                )
            }

            async fn drop_checks(&mut self, rows: &[i64]) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("drop_checks"))
                        .bind(ids(rows))
                        .execute(self)
                        .await,
                )
            }

            async fn verify_checks(
                &mut self,
                rows: &[i64],
                gone: [(Proof, Proof); 2],
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("verify_checks"))
                    .bind(ids(rows))
                    .bind(gone[0].0.as_str())
                    .bind(gone[0].1.as_str())
                    .bind(gone[1].0.as_str())
                    .bind(gone[1].1.as_str())
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
            }

            async fn relist_checks(
                &mut self,
                rows: &[i64],
                note: &str,
                rounds: u32,
                proof: Proof,
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("relist_checks"))
                    .bind(ids(rows))
                    .bind(note)
                    .bind(i64::from(rounds))
                    .bind(proof.as_str())
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
            }

            async fn insert_holds(
                &mut self,
                namespace: Option<&Namespace>,
                videos: &[VideoNo],
                reason: &str,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("insert_holds"))
                        .bind(list(videos))
                        .bind(namespace.map(Namespace::as_str))
                        .bind(reason)
                        .execute(self)
                        .await,
                )
            }

            async fn hold_pending(
                &mut self,
                namespace: Option<&Namespace>,
                videos: &[VideoNo],
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("hold_pending"))
                        .bind(list(videos))
                        .bind(namespace.map(Namespace::as_str))
                        .execute(self)
                        .await,
                )
            }

            async fn held_elsewhere(
                &mut self,
                namespace: Option<&Namespace>,
                videos: &[VideoNo],
            ) -> Result<(i64, i64), sqlx::Error> {
                sqlx::query_as(sql!("held_elsewhere"))
                    .bind(list(videos))
                    .bind(namespace.map(Namespace::as_str))
                    .fetch_one(self)
                    .await
            }

            async fn delete_holds(
                &mut self,
                namespace: Option<&Namespace>,
                videos: &[VideoNo],
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("delete_holds"))
                        .bind(list(videos))
                        .bind(namespace.map(Namespace::as_str))
                        .execute(self)
                        .await,
                )
            }

            async fn list_holds(&mut self, newest: Option<i64>) -> Result<Vec<Hold>, sqlx::Error> {
                let rows = sqlx::query(sql!("list_holds"))
                    .bind(newest)
                    .fetch_all(self)
                    .await?;
                // The schema's CHECKs make these text, but a writer can switch CHECKs off:
                // what is stored is read as input, never decoded with a panic.
                let named =
                    |r: &Row, column: &str| text(r, column).unwrap_or_else(|| "(not text)".into());
                Ok(rows
                    .iter()
                    .map(|r| Hold {
                        video_no: named(r, "video_no"),
                        namespace: shown(r, "unique_id", "(not text)"),
                        reason: named(r, "reason"),
                        placed_at: named(r, "placed_at"),
                        rows_held: int(r, "rows_held").unwrap_or(0),
                    })
                    .collect())
            }

            async fn count_rows(&mut self) -> Result<Vec<Count>, sqlx::Error> {
                let rows = sqlx::query(sql!("count_rows")).fetch_all(self).await?;
                Ok(rows
                    .iter()
                    .map(|r| Count {
                        unique_id: cell(r, "unique_id"),
                        status: cell(r, "status"),
                        rows: int(r, "n").unwrap_or_default(),
                    })
                    .collect())
            }

            async fn proof_counts(
                &mut self,
                unrecorded: &str,
            ) -> Result<Vec<ProofCount>, sqlx::Error> {
                let rows = sqlx::query(sql!("proof_counts"))
                    .bind(unrecorded)
                    .fetch_all(self)
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| ProofCount {
                        status: cell(r, "status"),
                        proof: cell(r, "proof"),
                        rows: int(r, "n").unwrap_or_default(),
                    })
                    .collect())
            }

            async fn oldest_pending(&mut self) -> Result<Option<PendingRow>, sqlx::Error> {
                let row = sqlx::query(sql!("oldest_pending"))
                    .fetch_optional(self)
                    .await?;
                Ok(row.map(|r| PendingRow {
                    id: int(&r, "id").unwrap_or_default(),
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
                        id: int(r, "id").unwrap_or_default(),
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
                    remaining_seconds: float(&r, "s").unwrap_or(0.0),
                }))
            }

            async fn count_holds(&mut self) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(sql!("count_holds"))
                    .fetch_one(self)
                    .await
            }

            async fn gauge_counts(
                &mut self,
            ) -> Result<Vec<(String, Option<String>, i64)>, sqlx::Error> {
                let rows = sqlx::query(sql!("gauge_counts")).fetch_all(self).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let status = shown(r, "status", NOT_TEXT).unwrap_or_default();
                        (status, text(r, "proof"), int(r, "n").unwrap_or_default())
                    })
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
                    .map(|r| {
                        let status = shown(r, "status", NOT_TEXT).unwrap_or_default();
                        (
                            shown(r, "unique_id", NOT_TEXT),
                            status,
                            int(r, "n").unwrap_or_default(),
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
                            id: int(r, "id").unwrap_or_default(),
                            video_no: text_or_empty(r, "video_no"),
                            refusals: 0,
                            in_doubt: false,
                            first_missed: None,
                        };
                        (shown(r, "unique_id", NOT_TEXT).unwrap_or_default(), row)
                    })
                    .collect())
            }

            async fn due_pending(&mut self) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(sql!("due_pending"))
                    .fetch_one(self)
                    .await
            }

            async fn count_receipts(&mut self, filter: &Filter) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(sql!("count_receipts"))
                    .bind(texts(&filter.statuses()))
                    .bind(filter.since.map(time))
                    .bind(filter.until.map(time))
                    .bind(filter.namespace.as_ref().map(Namespace::as_str))
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
                changed(
                    sqlx::query(sql!("supersede_listing"))
                        .bind(listing)
                        .execute(self)
                        .await,
                )
            }

            async fn drop_snapshot(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
                changed(
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
                changed(
                    sqlx::query(sql!("insert_listing_namespaces"))
                        .bind(listing)
                        .bind(texts(namespaces))
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
                let page: Vec<serde_json::Value> = videos
                    .iter()
                    .map(|v| serde_json::json!([v.video_no, v.create_ms, v.matched]))
                    .collect();
                changed(
                    sqlx::query(sql!("snapshot_page"))
                        .bind(listing)
                        .bind(namespace)
                        .bind(serde_json::Value::Array(page).to_string())
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
                changed(
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

            async fn tally_namespaces(
                &mut self,
                listing: i64,
                sample: i64,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("tally_namespaces"))
                        .bind(listing)
                        .bind(sample)
                        .execute(self)
                        .await,
                )
            }

            async fn tally_listing(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
                changed(
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
                changed(
                    sqlx::query(sql!("set_listing_state"))
                        .bind(listing)
                        .bind(state.as_str())
                        .bind(note)
                        .execute(self)
                        .await,
                )
            }

            async fn trim_namespaces(
                &mut self,
                listing: i64,
                kept: i64,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("trim_namespaces"))
                        .bind(listing)
                        .bind(kept)
                        .execute(self)
                        .await,
                )
            }

            async fn trim_listings(&mut self, listing: i64, kept: i64) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("trim_listings"))
                        .bind(listing)
                        .bind(kept)
                        .execute(self)
                        .await,
                )
            }

            async fn lock_listing(&mut self, listing: i64) -> Result<(), sqlx::Error> {
                lock_listing(self, listing).await
            }

            async fn todo_videos(
                &mut self,
                listing: i64,
                most: u64,
            ) -> Result<Vec<(String, String)>, sqlx::Error> {
                sqlx::query_as(sql!("todo_videos"))
                    .bind(listing)
                    .bind(i64::try_from(most).unwrap_or(i64::MAX))
                    .fetch_all(self)
                    .await
            }

            async fn enqueue_videos(
                &mut self,
                videos: &[(String, String)],
                source: &str,
            ) -> Result<u64, sqlx::Error> {
                changed(
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
                changed(
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
                changed(
                    sqlx::query(sql!("count_enqueued"))
                        .bind(listing)
                        .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
                        .bind(i64::try_from(already).unwrap_or(i64::MAX))
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
                changed(
                    sqlx::query(sql!("retire_listings"))
                        .bind(texts(keep))
                        .execute(self)
                        .await,
                )
            }

            async fn drop_finished_snapshots(&mut self) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("drop_finished_snapshots"))
                        .execute(self)
                        .await,
                )
            }

            async fn listing_reports(
                &mut self,
                rule: Option<&str>,
            ) -> Result<Vec<ReportRow>, sqlx::Error> {
                sqlx::query_as(sql!("listing_reports"))
                    .bind(rule)
                    .fetch_all(self)
                    .await
            }

            async fn reopen_failed(
                &mut self,
                namespace: Option<&Namespace>,
                since: Option<DateTime<Utc>>,
            ) -> Result<Vec<ChainRow>, sqlx::Error> {
                let rows = sqlx::query(sql!("reopen_failed"))
                    .bind(namespace.map(Namespace::as_str))
                    .bind(since.map(time))
                    .fetch_all(self)
                    .await?;
                Ok(chain_rows(&rows))
            }

            async fn count_held(&mut self, rows: &[i64]) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(sql!("count_held"))
                    .bind(ids(rows))
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
                    .bind(since.map(time))
                    .fetch_one(self)
                    .await
            }

            async fn prune_rows(
                &mut self,
                before: DateTime<Utc>,
                most: usize,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("prune_rows"))
                        .bind(time(before))
                        .bind(most as i64)
                        .execute(self)
                        .await,
                )
            }

            async fn move_anchor(&mut self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("move_anchor"))
                        .bind(chain_time(before))
                        .execute(self)
                        .await,
                )
            }

            async fn carried_requests(
                &mut self,
                before: DateTime<Utc>,
            ) -> Result<Vec<(i64, String)>, sqlx::Error> {
                sqlx::query_as(sql!("carried_requests"))
                    .bind(time(before))
                    .fetch_all(self)
                    .await
            }

            async fn drop_chain_prefix(&mut self) -> Result<u64, sqlx::Error> {
                changed(sqlx::query(sql!("drop_chain_prefix")).execute(self).await)
            }

            async fn prune_requests(
                &mut self,
                before: DateTime<Utc>,
                most: usize,
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("prune_requests"))
                        .bind(time(before))
                        .bind(most as i64)
                        .execute(self)
                        .await,
                )
            }

            async fn take_lease(
                &mut self,
                holder: &str,
                lease: Duration,
                longest: Duration,
            ) -> Result<(String, f64), sqlx::Error> {
                sqlx::query(sql!("take_lease"))
                    .bind(holder)
                    .bind(lease.as_secs_f64())
                    .bind(longest.as_secs_f64())
                    .execute(&mut *self)
                    .await?;
                let row = sqlx::query(sql!("lease_holder")).fetch_one(self).await?;
                Ok((
                    text(&row, "holder").unwrap_or_default(),
                    float(&row, "s").unwrap_or(0.0),
                ))
            }

            async fn resign(&mut self, holder: &str) -> Result<u64, sqlx::Error> {
                changed(sqlx::query(sql!("resign")).bind(holder).execute(self).await)
            }

            async fn insert_videos(
                &mut self,
                namespace: &Namespace,
                videos: &[VideoNo],
            ) -> Result<u64, sqlx::Error> {
                changed(
                    sqlx::query(sql!("insert_videos"))
                        .bind(list(videos))
                        .bind(namespace.as_str())
                        .execute(self)
                        .await,
                )
            }

            async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
                lock_chain(self).await
            }

            async fn chain_head(&mut self) -> Result<(i64, String), sqlx::Error> {
                sqlx::query_as(sql!("chain_head")).fetch_one(self).await
            }

            async fn request_record(&mut self, batch: i64) -> Result<Option<String>, sqlx::Error> {
                sqlx::query_scalar(sql!("request_record"))
                    .bind(batch)
                    .fetch_optional(self)
                    .await
            }

            async fn insert_entry(&mut self, e: &Sealed) -> Result<(), sqlx::Error> {
                changed(
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
                        .await,
                )
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
                snapshot(self).await
            }

            fn chain_entries(&mut self) -> BoxStream<'_, Result<ChainEntry, sqlx::Error>> {
                sqlx::query(sql!("chain_entries"))
                    .fetch(self)
                    .map(|entry| {
                        let e = entry?;
                        let or_empty = |column: &str| text(&e, column).unwrap_or_default();
                        Ok(ChainEntry {
                            seq: int(&e, "seq").unwrap_or(-1),
                            settled_at: or_empty("settled_at"),
                            kind: or_empty("kind"),
                            batch_id: int(&e, "batch_id"),
                            namespace: or_empty("namespace"),
                            rows: or_empty("rows"),
                            code: text(&e, "code"),
                            msg: text(&e, "msg"),
                            prev: or_empty("prev"),
                            hash: or_empty("hash"),
                            request: text(&e, "request"),
                        })
                    })
                    .boxed()
            }

            fn request_records<'a>(
                &'a mut self,
                requests_from: i64,
                since: &'a str,
            ) -> BoxStream<'a, Result<ChainedRequest, sqlx::Error>> {
                sqlx::query(sql!("request_records"))
                    .bind(requests_from)
                    .bind(since_value(since))
                    .fetch(self)
                    .map(|request| {
                        let r = request?;
                        Ok(ChainedRequest {
                            id: int(&r, "id").unwrap_or_default(),
                            record: text(&r, "record"),
                            api_code: text(&r, "api_code"),
                            api_msg: text(&r, "api_msg"),
                            // NULL (no start time, or an anchor's since that is no
                            // time, which the auditor names): not required.
                            must: flag(&r, "must").unwrap_or(false),
                        })
                    })
                    .boxed()
            }

            fn queue_rows<'a>(
                &'a mut self,
                anchor: &'a Anchor,
            ) -> BoxStream<'a, Result<QueueRow, sqlx::Error>> {
                sqlx::query(sql!("queue_rows"))
                    .bind(since_value(&anchor.since))
                    .bind(anchor.seq)
                    .bind(anchor.rows_from)
                    .fetch(self)
                    .map(|row| {
                        let r = row?;
                        let or_empty = |column: &str| text(&r, column).unwrap_or_default();
                        Ok(QueueRow {
                            id: int(&r, "id").unwrap_or_default(),
                            status: or_empty("status"),
                            video_no: or_empty("video_no"),
                            unique_id: or_empty("unique_id"),
                            proof: text(&r, "proof"),
                            // NULL (a row with no status): not a settled row.
                            covered: flag(&r, "covered").unwrap_or(false),
                            impossible: impossible(int(&r, "why")),
                        })
                    })
                    .boxed()
            }
        }
    };
}

pub(super) use statements_for;
