//! Every statement's Rust side, written once: which file holds its SQL, what it binds, and
//! how its rows are read. A driver expands [`statements!`] over its connection type;
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

/// `bound!(query, "NAME", a, b)`: the statement in `queries/<backend>/NAME.sql` (the
/// driver's `sql!`) with its values bound in order (`query_scalar`, `query_as` alike).
macro_rules! bound {
    ($kind:ident, $name:literal $(, $value:expr)* $(,)?) => {
        sqlx::$kind(sql!($name))$(.bind($value))*
    };
}

/// `execute!(conn, "NAME", a, b)`: runs the statement; the rows it changed.
macro_rules! execute {
    ($conn:expr, $name:literal $(, $value:expr)* $(,)?) => {
        $crate::queue::statements::bound!(query, $name $(, $value)*)
            .execute($conn)
            .await
            .map(|done| done.rows_affected())
    };
}

/// Every statement, once: `statements!(trait)` declares them (`queue::driver`'s
/// `Statements`, with their docs) and `statements!(impl CONN, POOL)` implements them for a
/// driver's connection, with `receipts_from(POOL, …)`. Each is an `async fn` returning
/// `Result<T, sqlx::Error>` (declared as `impl Step<T>`), but the three that stream.
macro_rules! statements {
    (@each trait;
     async { $( $(#[$doc:meta])* async fn $name:ident($($param:tt)*)
                -> Result<$out:ty, sqlx::Error> $body:block )* }
     streams { $( $(#[$sdoc:meta])* fn $stream:ident<$lt:lifetime>($($sparam:tt)*)
                -> $sout:ty $sbody:block )* }) => {
        /// The statements, each one of the queue's SQL statements with the meaning its name
        /// says, run on a backend's connection (in a [`Session`]'s transaction, or on its
        /// own). Lists of ids are bound as the driver binds lists; `token` is a claim's.
        pub trait Statements: Send {
            $( $(#[$doc])* fn $name($($param)*) -> impl Step<$out>; )*
            $( $(#[$sdoc])* fn $stream<$lt>($($sparam)*) -> $sout; )*
        }
    };
    (@each impl $conn:ty, $pool:ty;
     async { $( $(#[$doc:meta])* async fn $name:ident($($param:tt)*)
                -> Result<$out:ty, sqlx::Error> $body:block )* }
     streams { $( $(#[$sdoc:meta])* fn $stream:ident<$lt:lifetime>($($sparam:tt)*)
                -> $sout:ty $sbody:block )* }) => {
        use std::time::Duration;

        use futures_util::stream::{BoxStream, StreamExt};

        use $crate::chain::{
            impossible, ChainEntry, ChainRow, ChainedRequest, Kind, QueueRow, Sealed,
        };
        use $crate::queue::driver::{Answered, Missed, Statements, Unchecked};
        use $crate::queue::statements::{bound, execute};
        use $crate::queue::rows::{
            Anchor, AwaitingLookup, BatchRow, Count, Filter, Hold, ListingReport, ListingRow, PendingRow,
            ProofCount, Receipt, Sender, Snapshotted, TallyRow,
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


        /// The settled rows `filter` selects, streamed from `pool`.
        pub(super) fn receipts_from<'a>(
            pool: &'a $pool,
            filter: &'a Filter,
        ) -> BoxStream<'a, Result<Receipt, sqlx::Error>> {
            bound!(
                query,
                "receipts",
                texts(&filter.statuses()),
                filter.since.map(time),
                filter.until.map(time),
                filter.namespace.as_ref().map(Namespace::as_str),
                Proof::UNRECORDED
            )
                .fetch(pool)
                .map(|row| row.map(|r| Receipt::from_cells(|column| cell(&r, column))))
                .boxed()
        }

        impl Statements for $conn {
            $( async fn $name($($param)*) -> Result<$out, sqlx::Error> $body )*
            $( fn $stream<$lt>($($sparam)*) -> $sout $sbody )*
        }
    };
    ($($how:tt)*) => { $crate::queue::statements::statements! { @each $($how)*;
    async {
        // Claims.
        /// Rows in flight whose lease ran out, or that this program could not have granted
        /// (unreadable, or more than `longest` ahead), back to pending, saying why.
        async fn take_back_leases(&mut self, longest: Duration) -> Result<u64, sqlx::Error> {
            execute!(self, "take_back_leases", longest.as_secs() as i64)
        }

        /// Held rows (of `only` these videos, when given) no hold covers any longer, back to
        /// pending.
        async fn free_unheld(&mut self, only: Option<&[VideoNo]>) -> Result<u64, sqlx::Error> {
            execute!(self, "free_unheld", only.map(list))
        }

        /// The oldest due pending rows of the namespace of the oldest (at most `limit`, none
        /// of a video another claim holds), in flight under `token` for `lease`.
        async fn claim_rows(
            &mut self, token: &str, lease: Duration, limit: usize,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "claim_rows", token, lease.as_secs_f64(), limit as i64)
        }

        /// The due pending duplicates of the claim's videos (at most `most`), claimed too.
        async fn claim_duplicates(
            &mut self, token: &str, lease: Duration, most: usize,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "claim_duplicates", token, lease.as_secs_f64(), most as i64)
        }

        /// Whether a row outside the claim, of any status, has one of its videos (a
        /// duplicate to take, or an earlier deletion to settle from).
        async fn claim_has_duplicates(&mut self, token: &str) -> Result<bool, sqlx::Error> {
            bound!(query_scalar, "claim_has_duplicates", token).fetch_one(self).await
        }

        /// The claim's namespace (`None`: not text).
        async fn claim_namespace(&mut self, token: &str) -> Result<Option<String>, sqlx::Error> {
            let row = bound!(query, "claim_namespace", token).fetch_optional(self).await?;
            Ok(row.and_then(|r| text(&r, "unique_id")))
        }

        /// The claim's rows (of `only` these videos, when given) under a legal hold: `held`,
        /// out of the claim.
        async fn hold_claimed(
            &mut self, token: &str, only: Option<&[VideoNo]>,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "hold_claimed", token, only.map(list))
        }

        /// The claim's rows of videos an answer entry of the chain settles `deleted` (for a
        /// request that carried that row): settled from it with `proof`.
        async fn settle_from_history(
            &mut self, token: &str, proof: Proof,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows =
                bound!(query, "settle_from_history", token, proof.as_str(), Kind::Answer.as_str())
                    .fetch_all(self)
                    .await?;
            Ok(chain_rows(&rows))
        }

        /// The rows the claim holds, in id order.
        async fn claimed_rows(&mut self, token: &str) -> Result<Vec<ClaimedRow>, sqlx::Error> {
            let rows = bound!(query, "claimed_rows", token).fetch_all(self).await?;
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

        /// The lease of every row the claim holds whose lease ends within `short_of`,
        /// `lease` from now.
        async fn renew(
            &mut self, token: &str, lease: Duration, short_of: Duration,
        ) -> Result<(), sqlx::Error> {
            execute!(self, "renew", token, lease.as_secs_f64(), short_of.as_secs_f64()).map(drop)
        }

        /// Every row the claim holds back to pending (`last_error` when given).
        async fn release(
            &mut self, token: &str, last_error: Option<&str>,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "release", token, last_error)
        }

        // Requests.
        /// A request's record, `sending`; its id.
        async fn insert_request(
            &mut self, namespace: &Namespace, ids: usize, attempt: u32, sender: &str,
        ) -> Result<i64, sqlx::Error> {
            bound!(
                query_scalar,
                "insert_request",
                namespace.as_str(),
                i32::try_from(ids).unwrap_or(i32::MAX),
                i32::try_from(attempt).unwrap_or(i32::MAX),
                sender
            )
            .fetch_one(self)
            .await
        }

        /// One more attempt on the claim's rows of these videos still in flight (PostgreSQL:
        /// locked to the end of the transaction), now in doubt; listed `listed` ago by the
        /// lookup before this request, when there was one (a miss before it cleared).
        async fn count_attempt(
            &mut self, token: &str, videos: &[VideoNo], listed: Option<Duration>,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let ago = listed.map(|ago| ago.as_secs_f64());
            let rows =
                bound!(query, "count_attempt", token, list(videos), ago).fetch_all(self).await?;
            Ok(chain_rows(&rows))
        }

        /// The request's `started_at`: now (as late as the transaction allows).
        async fn stamp_request(&mut self, batch: i64) -> Result<(), sqlx::Error> {
            execute!(self, "stamp_request", batch).map(drop)
        }

        /// The answer on the request's record; its namespace.
        async fn record_answer(
            &mut self, batch: i64, record: &RequestRecord,
        ) -> Result<Option<String>, sqlx::Error> {
            let row = bound!(
                query,
                "record_answer",
                batch,
                record.outcome.as_str(),
                record.http_status.map(i32::from),
                &record.api_code,
                &record.api_msg,
                &record.error,
                i64::try_from(record.duration.as_millis()).unwrap_or(i64::MAX)
            )
            .fetch_optional(self)
            .await?;
            Ok(row.and_then(|r| text(&r, "unique_id")))
        }

        /// The answer on the claim's rows of these videos.
        async fn settle_answered(
            &mut self, token: &str, videos: &[VideoNo], answered: &Answered<'_>,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows = bound!(
                query,
                "settle_answered",
                token,
                list(videos),
                answered.status.as_str(),
                answered.note,
                answered.batch,
                answered.refused,
                answered.lost,
                answered.check_after.map(|d| d.as_secs_f64()),
                answered.proof.map(|p| p.0.as_str()),
                answered.proof.map(|p| p.1.as_str())
            )
            .fetch_all(self)
            .await?;
            Ok(chain_rows(&rows))
        }

        /// Due pending rows of these videos in the request's namespace (at most `most`),
        /// failed with `reason` and `proof`.
        async fn fail_duplicates(
            &mut self, batch: i64, videos: &[VideoNo], reason: &str, proof: Proof, most: usize,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows = bound!(
                query,
                "fail_duplicates",
                batch,
                list(videos),
                reason,
                most as i64,
                proof.as_str()
            )
            .fetch_all(self)
            .await?;
            Ok(chain_rows(&rows))
        }

        /// One of the claim's rows failed unsent; with its namespace.
        async fn fail_unsent(
            &mut self, token: &str, row: i64, reason: &str, proof: Proof,
        ) -> Result<Option<(ChainRow, String)>, sqlx::Error> {
            let row = bound!(query, "fail_unsent", token, row, reason, proof.as_str())
                .fetch_optional(self)
                .await?;
            Ok(row.map(|r| {
                let namespace = text(&r, "unique_id").unwrap_or_default();
                (chain_row(&r), namespace)
            }))
        }

        /// Requests started in the last two seconds by a sender other than `sender` (at most
        /// 100, newest first): id, and seconds ago (`None`: unreadable).
        async fn recent_requests(
            &mut self, sender: &str,
        ) -> Result<Vec<(i64, Option<f64>)>, sqlx::Error> {
            bound!(query_as, "recent_requests", sender).fetch_all(self).await
        }

        /// Whether the newest answered request was `deleted`, answered within `within`,
        /// and its duration in milliseconds.
        async fn last_answer_good(
            &mut self, within: Duration,
        ) -> Result<Option<(Option<bool>, Option<i64>)>, sqlx::Error> {
            bound!(
                query_as,
                "last_answer_good",
                Outcome::Deleted.as_str(),
                within.as_secs_f64()
            )
            .fetch_optional(self)
            .await
        }

        // Lookups.
        /// The claim's rows of these videos were listed by a lookup now.
        async fn mark_listed(
            &mut self, token: &str, videos: &[VideoNo],
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "mark_listed", token, list(videos))
        }

        /// The claim's rows of these videos, missed, settled as `missed` says.
        async fn settle_missed(
            &mut self, token: &str, videos: &[VideoNo], missed: &Missed<'_>,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows = bound!(
                query,
                "settle_missed",
                token,
                list(videos),
                missed.status.as_str(),
                missed.proof.0.as_str(),
                missed.proof.1.as_str(),
                missed.verifies,
                missed.note
            )
            .fetch_all(self)
            .await?;
            Ok(chain_rows(&rows))
        }

        /// The claim's rows of these videos, missed, pending again to be looked up `after`.
        async fn look_again(
            &mut self, token: &str, videos: &[VideoNo], note: &str, after: Duration,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "look_again", token, list(videos), note, after.as_secs_f64())
        }

        /// Deleted rows of one namespace whose check is due (at most `limit`), their check
        /// pushed `lease` ahead (the claim).
        async fn claim_checks(
            &mut self, lease: Duration, limit: usize,
        ) -> Result<Vec<Unchecked>, sqlx::Error> {
            let rows = bound!(query, "claim_checks", lease.as_secs_f64(), limit as i64)
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

        /// These deleted rows checked again `after` from now.
        async fn postpone_checks(
            &mut self, rows: &[i64], after: Duration,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "postpone_checks", ids(rows), after.as_secs_f64())
        }

        /// These deleted rows not checked any more.
        async fn drop_checks(&mut self, rows: &[i64]) -> Result<u64, sqlx::Error> {
            execute!(self, "drop_checks", ids(rows))
        }

        /// These deleted rows no longer listed: their proof now checked (`gone`: each proof
        /// before → after), `checked_at` where a lookup listed them before our request.
        async fn verify_checks(
            &mut self, rows: &[i64], gone: [(Proof, Proof); 2],
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows = bound!(
                query,
                "verify_checks",
                ids(rows),
                gone[0].0.as_str(),
                gone[0].1.as_str(),
                gone[1].0.as_str(),
                gone[1].1.as_str()
            )
            .fetch_all(self)
            .await?;
            Ok(chain_rows(&rows))
        }

        /// These deleted rows still listed: pending again (in doubt), or failed with `proof`
        /// after `rounds` rounds.
        async fn relist_checks(
            &mut self, rows: &[i64], note: &str, rounds: u32, proof: Proof,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows =
                bound!(query, "relist_checks", ids(rows), note, i64::from(rounds), proof.as_str())
                    .fetch_all(self)
                    .await?;
            Ok(chain_rows(&rows))
        }

        // Legal holds.
        /// A hold on each video in `namespace` (`None`: every namespace); one already placed
        /// there keeps its first reason.
        async fn insert_holds(
            &mut self, namespace: Option<&Namespace>, videos: &[VideoNo], reason: &str,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "insert_holds", list(videos), namespace.map(Namespace::as_str), reason)
        }

        /// Pending rows of these videos in `namespace` (`None`: every one) set held.
        async fn hold_pending(
            &mut self, namespace: Option<&Namespace>, videos: &[VideoNo],
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "hold_pending", list(videos), namespace.map(Namespace::as_str))
        }

        /// Of these videos in `namespace`: rows in flight now, and videos seen deleted.
        async fn held_elsewhere(
            &mut self, namespace: Option<&Namespace>, videos: &[VideoNo],
        ) -> Result<(i64, i64), sqlx::Error> {
            bound!(query_as, "held_elsewhere", list(videos), namespace.map(Namespace::as_str))
                .fetch_one(self)
                .await
        }

        /// How many of these videos a legal hold covers in the namespace.
        async fn held_among(
            &mut self, namespace: &Namespace, videos: &[VideoNo],
        ) -> Result<i64, sqlx::Error> {
            bound!(query_scalar, "held_among", namespace.as_str(), list(videos))
                .fetch_one(self)
                .await
        }

        /// The holds placed on these videos in `namespace` (`None`: the every-namespace ones).
        async fn delete_holds(
            &mut self, namespace: Option<&Namespace>, videos: &[VideoNo],
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "delete_holds", list(videos), namespace.map(Namespace::as_str))
        }

        /// The `newest` holds (`None`: all), newest first.
        async fn list_holds(&mut self, newest: Option<i64>) -> Result<Vec<Hold>, sqlx::Error> {
            let rows = bound!(query, "list_holds", newest).fetch_all(self).await?;
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

        // What `status` and the metrics read.
        async fn count_rows(&mut self) -> Result<Vec<Count>, sqlx::Error> {
            let rows = bound!(query, "count_rows").fetch_all(self).await?;
            Ok(rows
                .iter()
                .map(|r| Count {
                    unique_id: cell(r, "unique_id"),
                    status: cell(r, "status"),
                    rows: int(r, "n").unwrap_or_default(),
                })
                .collect())
        }

        /// Settled rows by status and proof (`unrecorded` for rows settled without one).
        async fn proof_counts(&mut self, unrecorded: &str) -> Result<Vec<ProofCount>, sqlx::Error> {
            let rows = bound!(query, "proof_counts", unrecorded).fetch_all(self).await?;
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
            let row = bound!(query, "oldest_pending").fetch_optional(self).await?;
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
            bound!(query_scalar, "unreadable_due").fetch_one(self).await
        }

        /// Rows in flight under a lease this program never grants (more than `longest` ahead).
        async fn impossible_leases(&mut self, longest: Duration) -> Result<i64, sqlx::Error> {
            bound!(query_scalar, "impossible_leases", longest.as_secs() as i64)
                .fetch_one(self)
                .await
        }

        /// The `last` requests, newest first.
        async fn last_requests(&mut self, last: u32) -> Result<Vec<BatchRow>, sqlx::Error> {
            let rows = bound!(query, "last_requests", i64::from(last)).fetch_all(self).await?;
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
            let row = bound!(query, "sender_lease").fetch_optional(self).await?;
            Ok(row.map(|r| Sender {
                holder: cell(&r, "holder"),
                remaining_seconds: float(&r, "s").unwrap_or(0.0),
            }))
        }

        async fn count_holds(&mut self) -> Result<i64, sqlx::Error> {
            bound!(query_scalar, "count_holds").fetch_one(self).await
        }

        /// (status, proof, rows).
        async fn gauge_counts(
            &mut self,
        ) -> Result<Vec<(String, Option<String>, i64)>, sqlx::Error> {
            let rows = bound!(query, "gauge_counts").fetch_all(self).await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let status = shown(r, "status", NOT_TEXT).unwrap_or_default();
                    (status, text(r, "proof"), int(r, "n").unwrap_or_default())
                })
                .collect())
        }

        /// (namespace, status, rows) of the `top` largest namespaces; the rest under `None`.
        async fn namespace_gauges(
            &mut self, top: usize,
        ) -> Result<Vec<(Option<String>, String, i64)>, sqlx::Error> {
            let rows = bound!(query, "namespace_gauges", top as i64).fetch_all(self).await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let status = shown(r, "status", NOT_TEXT).unwrap_or_default();
                    (shown(r, "unique_id", NOT_TEXT), status, int(r, "n").unwrap_or_default())
                })
                .collect())
        }

        /// Seconds since the oldest due row not yet settled came due.
        async fn oldest_due(&mut self) -> Result<Option<f64>, sqlx::Error> {
            bound!(query_scalar, "oldest_due").fetch_one(self).await
        }

        /// Due pending rows not held, in (namespace, id) order, `limit` after `after`.
        async fn due_page(
            &mut self, after: (&str, i64), limit: usize,
        ) -> Result<Vec<(String, ClaimedRow)>, sqlx::Error> {
            let rows =
                bound!(query, "due_page", after.0, after.1, limit as i64).fetch_all(self).await?;
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
            bound!(query_scalar, "due_pending").fetch_one(self).await
        }

        /// Pending rows waiting for their second lookup: how many, and the first's time.
        async fn awaiting_lookup(&mut self) -> Result<AwaitingLookup, sqlx::Error> {
            let r = bound!(query, "awaiting_lookup").fetch_one(self).await?;
            Ok(AwaitingLookup { rows: int(&r, "n").unwrap_or_default(), first: cell(&r, "first") })
        }

        /// How many settled rows `filter` selects.
        async fn count_receipts(&mut self, filter: &Filter) -> Result<i64, sqlx::Error> {
            bound!(
                query_scalar,
                "count_receipts",
                texts(&filter.statuses()),
                filter.since.map(time),
                filter.until.map(time),
                filter.namespace.as_ref().map(Namespace::as_str)
            )
            .fetch_one(self)
            .await
        }

        // The lifecycle rules' listings.
        /// Rule `rule`'s listings that go on, newest first (PostgreSQL: locked).
        async fn open_listings(&mut self, rule: &str) -> Result<Vec<ListingRow>, sqlx::Error> {
            bound!(query_as, "open_listings", rule).fetch_all(self).await
        }

        async fn supersede_listing(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
            execute!(self, "supersede_listing", listing)
        }

        async fn drop_snapshot(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
            execute!(self, "drop_snapshot", listing)
        }

        /// The listing's namespaces still to read, with the next page of each.
        async fn namespaces_to_read(
            &mut self, listing: i64,
        ) -> Result<Vec<(String, i64)>, sqlx::Error> {
            bound!(query_as, "namespaces_to_read", listing).fetch_all(self).await
        }

        async fn insert_listing(
            &mut self, rule: &str, fingerprint: &str, mode: &str, listed_at_ms: i64,
        ) -> Result<i64, sqlx::Error> {
            bound!(query_scalar, "insert_listing", rule, fingerprint, mode, listed_at_ms)
                .fetch_one(self)
                .await
        }

        async fn insert_listing_namespaces(
            &mut self, listing: i64, namespaces: &[String],
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "insert_listing_namespaces", listing, texts(namespaces))
        }

        /// One page's videos, kept once each; how many were new.
        async fn snapshot_page(
            &mut self, listing: i64, namespace: &str, videos: &[Snapshotted],
        ) -> Result<u64, sqlx::Error> {
            let page: Vec<serde_json::Value> = videos
                .iter()
                .map(|v| serde_json::json!([v.video_no, v.create_ms, v.matched]))
                .collect();
            execute!(
                self,
                "snapshot_page",
                listing,
                namespace,
                serde_json::Value::Array(page).to_string()
            )
        }

        /// The namespace has read `page` (`last`: the last), `listed` videos more.
        async fn advance_namespace(
            &mut self, listing: i64, namespace: &str, page: i64, last: bool, listed: i64,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "advance_namespace", listing, namespace, page, last, listed)
        }

        /// Counts per namespace from the snapshot, with a sample of `sample` videos.
        async fn tally_namespaces(
            &mut self, listing: i64, sample: i64,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "tally_namespaces", listing, sample)
        }

        /// The listing's counts, summed over its namespaces; decided now.
        async fn tally_listing(&mut self, listing: i64) -> Result<u64, sqlx::Error> {
            execute!(self, "tally_listing", listing)
        }

        async fn tallies(&mut self, listing: i64) -> Result<Vec<TallyRow>, sqlx::Error> {
            bound!(query_as, "tallies", listing).fetch_all(self).await
        }

        async fn set_listing_state(
            &mut self, listing: i64, state: ListingState, note: Option<&str>,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "set_listing_state", listing, state.as_str(), note)
        }

        /// The counts of the listing's rule's finished listings but the last `kept`.
        async fn trim_namespaces(&mut self, listing: i64, kept: i64) -> Result<u64, sqlx::Error> {
            execute!(self, "trim_namespaces", listing, kept)
        }

        /// The listing's rule's finished listings but the last `kept`.
        async fn trim_listings(&mut self, listing: i64, kept: i64) -> Result<u64, sqlx::Error> {
            execute!(self, "trim_listings", listing, kept)
        }

        /// One enqueuer of the listing at a time (PostgreSQL; SQLite has one writer).
        async fn lock_listing(&mut self, listing: i64) -> Result<(), sqlx::Error> {
            lock_listing(self, listing).await
        }

        /// At most `most` matched videos (namespace, video) not enqueued yet, oldest first.
        async fn todo_videos(
            &mut self, listing: i64, most: u64,
        ) -> Result<Vec<(String, String)>, sqlx::Error> {
            bound!(query_as, "todo_videos", listing, i64::try_from(most).unwrap_or(i64::MAX))
                .fetch_all(self)
                .await
        }

        /// Queued as `source`, but a video the queue has any row of in that namespace.
        async fn enqueue_videos(
            &mut self, videos: &[(String, String)], source: &str,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "enqueue_videos", serde_json::json!(videos).to_string(), source)
        }

        async fn mark_enqueued(
            &mut self, listing: i64, videos: &[(String, String)],
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "mark_enqueued", listing, serde_json::json!(videos).to_string())
        }

        async fn count_enqueued(
            &mut self, listing: i64, inserted: u64, already: u64,
        ) -> Result<u64, sqlx::Error> {
            execute!(
                self,
                "count_enqueued",
                listing,
                i64::try_from(inserted).unwrap_or(i64::MAX),
                i64::try_from(already).unwrap_or(i64::MAX)
            )
        }

        async fn left_to_enqueue(&mut self, listing: i64) -> Result<i64, sqlx::Error> {
            bound!(query_scalar, "left_to_enqueue", listing).fetch_one(self).await
        }

        /// The rule's newest tripped listing under `fingerprint` goes on to be enqueued.
        async fn confirm_listing(
            &mut self, rule: &str, fingerprint: &str,
        ) -> Result<Option<i64>, sqlx::Error> {
            bound!(query_scalar, "confirm_listing", rule, fingerprint).fetch_optional(self).await
        }

        /// The listings that go on of rules not in `keep`, set aside.
        async fn retire_listings(&mut self, keep: &[String]) -> Result<u64, sqlx::Error> {
            execute!(self, "retire_listings", texts(keep))
        }

        async fn drop_finished_snapshots(&mut self) -> Result<u64, sqlx::Error> {
            execute!(self, "drop_finished_snapshots")
        }

        /// Each rule's last decided listing (else its latest), or only `rule`'s.
        async fn listing_reports(
            &mut self, rule: Option<&str>,
        ) -> Result<Vec<ListingReport>, sqlx::Error> {
            bound!(query_as, "listing_reports", rule).fetch_all(self).await
        }

        // Upkeep.
        /// Failed rows of `namespace` (`None`: every one) settled at or after `since` back to
        /// pending, due now (not those failed for an unreadable `due_at`).
        async fn reopen_failed(
            &mut self, namespace: Option<&Namespace>, since: Option<DateTime<Utc>>,
        ) -> Result<Vec<ChainRow>, sqlx::Error> {
            let rows =
                bound!(query, "reopen_failed", namespace.map(Namespace::as_str), since.map(time))
                    .fetch_all(self)
                    .await?;
            Ok(chain_rows(&rows))
        }

        /// How many of these rows are held now.
        async fn count_held(&mut self, rows: &[i64]) -> Result<i64, sqlx::Error> {
            bound!(query_scalar, "count_held", ids(rows)).fetch_one(self).await
        }

        /// Failed rows `reopen_failed` would leave for their unreadable `due_at`.
        async fn unreadable_failed(
            &mut self, namespace: Option<&Namespace>, since: Option<DateTime<Utc>>,
        ) -> Result<i64, sqlx::Error> {
            bound!(
                query_scalar,
                "unreadable_failed",
                namespace.map(Namespace::as_str),
                since.map(time)
            )
            .fetch_one(self)
            .await
        }

        /// At most `most` settled rows settled and last changed before `before`.
        async fn prune_rows(
            &mut self, before: DateTime<Utc>, most: usize,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "prune_rows", time(before), most as i64)
        }

        /// The anchor onto the last chain entry older than `before`, when there is one.
        async fn move_anchor(&mut self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
            execute!(self, "move_anchor", chain_time(before))
        }

        /// Request records (id, namespace) named only by entries up to the anchor, that prune
        /// keeps at `before`.
        async fn carried_requests(
            &mut self, before: DateTime<Utc>,
        ) -> Result<Vec<(i64, String)>, sqlx::Error> {
            bound!(query_as, "carried_requests", time(before)).fetch_all(self).await
        }

        /// The chain's entries up to the anchor.
        async fn drop_chain_prefix(&mut self) -> Result<u64, sqlx::Error> {
            execute!(self, "drop_chain_prefix")
        }

        /// At most `most` request records prune may remove at `before`.
        async fn prune_requests(
            &mut self, before: DateTime<Utc>, most: usize,
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "prune_requests", time(before), most as i64)
        }

        // The sender's lease, and producers' inserts.
        /// The sender's lease for `holder`, `lease` from now, unless another holder's runs
        /// (one run out, or more than `longest` ahead, is taken over); who holds it now, and
        /// for how many seconds more.
        async fn take_lease(
            &mut self, holder: &str, lease: Duration, longest: Duration,
        ) -> Result<(String, f64), sqlx::Error> {
            bound!(query, "take_lease", holder, lease.as_secs_f64(), longest.as_secs_f64())
                .execute(&mut *self)
                .await?;
            let row = bound!(query, "lease_holder").fetch_one(self).await?;
            Ok((text(&row, "holder").unwrap_or_default(), float(&row, "s").unwrap_or(0.0)))
        }

        /// `holder` gives the lease up.
        async fn resign(&mut self, holder: &str) -> Result<u64, sqlx::Error> {
            execute!(self, "resign", holder)
        }

        /// Videos queued in `namespace`, as a producer would.
        async fn insert_videos(
            &mut self, namespace: &Namespace, videos: &[VideoNo],
        ) -> Result<u64, sqlx::Error> {
            execute!(self, "insert_videos", list(videos), namespace.as_str())
        }

        // The schema.
        /// Whether sqlx's table of migrations exists yet.
        async fn migrations_exist(&mut self) -> Result<bool, sqlx::Error> {
            bound!(query_scalar, "migrations_exist").fetch_one(self).await
        }

        /// The migrations applied so far: version, and the checksum of what was run.
        async fn applied_migrations(&mut self) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
            bound!(query_as, "applied_migrations").fetch_all(self).await
        }

        // The chain.
        /// Whatever makes the head read next the true last one until commit (PostgreSQL: the
        /// chain lock; SQLite: the transaction has written already, so it is the one writer).
        async fn lock_chain(&mut self) -> Result<(), sqlx::Error> {
            lock_chain(self).await
        }

        /// The last entry's sequence number and hash, or the anchor's; and the whole
        /// record of request `batch`, as one text the chain hashes (`None` without one).
        async fn chain_head(
            &mut self, batch: Option<i64>,
        ) -> Result<(i64, String, Option<String>), sqlx::Error> {
            bound!(query_as, "chain_head", batch).fetch_one(self).await
        }

        /// Whether an `anchor` entry was recorded (none before the proofs' migration).
        async fn anchored(&mut self) -> Result<bool, sqlx::Error> {
            bound!(query_scalar, "anchored").fetch_one(self).await
        }

        async fn insert_entry(&mut self, e: &Sealed) -> Result<(), sqlx::Error> {
            execute!(
                self,
                "insert_entry",
                e.seq,
                &e.settled_at,
                e.kind,
                e.batch_id,
                &e.namespace,
                &e.rows,
                &e.code,
                &e.msg,
                &e.prev,
                &e.hash,
                &e.request
            )
            .map(drop)
        }

        /// The anchor row.
        async fn anchor(&mut self) -> Result<Anchor, sqlx::Error> {
            let (seq, hash, since, requests_from, rows_from) =
                bound!(query_as, "anchor").fetch_one(self).await?;
            Ok(Anchor { seq, hash, since, requests_from, rows_from })
        }

        /// What follows reads one snapshot of the database (PostgreSQL: repeatable read; an
        /// SQLite read transaction is one already).
        async fn snapshot(&mut self) -> Result<(), sqlx::Error> {
            snapshot(self).await
        }
    }
    streams {
    /// Every entry, in order.
        fn chain_entries<'a>(&'a mut self) -> BoxStream<'a, Result<ChainEntry, sqlx::Error>> {
            bound!(query, "chain_entries")
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

        /// Every request record, as the chain hashes it, and whether it must have an entry
        /// (from `requests_from`, unless prune may remove it at the anchor's `since`).
        fn request_records<'a>(
            &'a mut self, requests_from: i64, since: &'a str,
        ) -> BoxStream<'a, Result<ChainedRequest, sqlx::Error>> {
            bound!(query, "request_records", requests_from, since_value(since))
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

        /// Every row, as the verifier weighs it against the anchor.
        fn queue_rows<'a>(
            &'a mut self, anchor: &'a Anchor,
        ) -> BoxStream<'a, Result<QueueRow, sqlx::Error>> {
            bound!(query, "queue_rows", since_value(&anchor.since), anchor.seq, anchor.rows_from)
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
    } };
}

pub(crate) use {bound, execute, statements};
