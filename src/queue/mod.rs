//! The queue: the only module that knows the tables.
//!
//! Producers insert into `deletion_queue` directly; this module claims due rows under a
//! lease, records every request in `deletion_batches`, and settles rows. Every function is
//! one short write transaction (or a single statement) and none is open across an HTTP
//! call: producers must be able to insert while a pass runs.
//!
//! A row leaves `in_flight` only through `finish_request` (a recorded outcome),
//! `fail_unsent`, the claim's settlement from an earlier deletion of its video, `release`
//! (the claim's guard: worked out, shutdown, a stopped pass), `take_back_expired` (its
//! holder stopped renewing the lease), migration 0005 (a due_at it could not read), or
//! a legal hold (`claim` and `start_request` set a held video's rows `held`).
//!
//! [`Queue`] is the one type the rest of the program holds; each backend (`sqlite`, the
//! default) keeps its SQL to itself, and `Queue` hands each call to the one in use.

/// The text of the statement `queries/BACKEND/NAME.sql`, compiled in: a statement missing
/// from a backend's folder fails the build.
macro_rules! query_file {
    ($backend:literal, $name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/queries/",
            $backend,
            "/",
            $name,
            ".sql"
        ))
    };
}

pub mod chain;
/// The suite every driver passes, kept outside the drivers (as River's `riverdrivertest`).
#[cfg(test)]
#[path = "../../tests/conformance/queue.rs"]
mod conformance;
mod contract;
mod driver;
mod holds;
mod lease;
pub mod postgres;
pub mod receipts;
pub mod report;
pub mod rows;
pub mod rules;
mod schema;
pub mod sqlite;
mod statements;
mod store;
mod upkeep;

pub use contract::{Check, Checked, Miss, Settled, Store, Unchecked};
pub use holds::{Hold, HoldsChanged};
pub use lease::Lead;
pub use upkeep::{Pruned, Reopened};

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;

use crate::config::Database;
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::Outcome;

/// A database failure, described for an operator: what went wrong with which database
/// (a file, or a server named without its password), and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("database {place}: {problem}")]
pub struct QueueError {
    /// The database, printable: a file's path, or a server's address and database.
    place: String,
    problem: String,
}

/// Refuses a database that a newer memories-reaper migrated: this binary would not know
/// its rules (a daemon that ignored `legal_holds` would send held videos). `applied` are
/// the versions the database records, `known` this binary's migrations.
fn newer_schema(applied: &[i64], known: &sqlx::migrate::Migrator) -> Result<(), String> {
    let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    match applied.iter().filter(|v| **v > newest_known).max() {
        Some(newer) => Err(format!(
            "its schema is at migration {newer}, newer than this memories-reaper {} knows \
             ({newest_known}): upgrade this binary (in a rolling upgrade, stop the older \
             daemons before the first new one starts)",
            env!("CARGO_PKG_VERSION")
        )),
        None => Ok(()),
    }
}

/// `check`'s line for a current, writable queue (both backends say the same).
fn inspected(rows: i64, unreadable: i64, impossible: i64) -> String {
    let unreadable = match unreadable {
        0 => String::new(),
        n => format!(", {n} with an unreadable due_at (never sent; see `status`)"),
    };
    let impossible = match impossible {
        0 => String::new(),
        n => format!(
            ", {n} in flight under a lease memories-reaper never grants (the next pass takes \
             them back)"
        ),
    };
    format!("schema up to date, {rows} rows{unreadable}{impossible}, writable")
}

/// For the commands that do not migrate (all but `run` and `migrate`): the schema must be
/// this binary's. Upgrading it from such a command, while an older daemon still runs,
/// would let that daemon ignore what the upgrade adds (a hold placed on its queue).
fn current_schema(applied: &[i64], known: &sqlx::migrate::Migrator) -> Result<(), String> {
    newer_schema(applied, known)?;
    if applied.is_empty() {
        return Err(
            "has no queue yet; start a daemon or run `memories-reaper migrate` \
                    (as the daemons' user or role) to create it, or check the database named"
                .into(),
        );
    }
    let behind = known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .count();
    if behind > 0 {
        return Err(format!(
            "its schema is {} behind this memories-reaper {}: restart the \
             daemons on this version (they upgrade it), or stop them and run `memories-reaper \
             migrate`; an older daemon still running would ignore what the new schema adds",
            crate::printable::count(behind as u64, "migration", "migrations"),
            env!("CARGO_PKG_VERSION")
        ));
    }
    Ok(())
}

/// Identifies one claim: the rows it holds carry it in `claimed_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A token no other claim (in this process or another) will have.
    pub fn new() -> Self {
        Self(format!(
            "{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ClaimToken {
    fn default() -> Self {
        Self::new()
    }
}

/// Rows claimed together: one namespace, at most `batch.size` distinct video numbers, and
/// every due duplicate of those in the namespace. The values are as producers wrote them:
/// the pass parses them.
#[derive(Debug)]
pub struct Claim {
    pub token: ClaimToken,
    /// `None` when the stored value is not valid UTF-8 text.
    pub namespace: Option<String>,
    /// The rows to work; may be empty when every claimed row was settled from history.
    pub rows: Vec<ClaimedRow>,
    /// Rows queued again for a video already deleted, settled as deleted without sending.
    pub settled_before: u64,
    /// Rows of videos under a legal hold, set `held` instead of claimed.
    pub held: u64,
}

/// Whether a request may go out (`Store::start_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Recorded: send it.
    Request(BatchId),
    /// The claim no longer holds every id (its lease ran out, another worker took them):
    /// it must not go.
    Lost,
    /// A hold was placed on some of its videos since the claim: their rows are `held`
    /// now, and the request must not go (the claim's other rows go in a later one).
    Held(u64),
}

#[derive(Debug, Clone)]
pub struct ClaimedRow {
    pub id: i64,
    /// `None` when the stored value is not valid UTF-8 text.
    pub video_no: Option<String>,
    /// Times the API refused this row's video as a lone id (`isolation.confirmations`).
    pub refusals: i64,
    /// A request of ours may have deleted it: its answer was lost (`pass::verify`).
    pub in_doubt: bool,
    /// When a lookup first did not list it.
    pub first_missed: Option<chrono::DateTime<chrono::Utc>>,
}

/// The id of a `deletion_batches` row: one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchId(pub i64);

/// What was learnt from one request, as recorded in `deletion_batches`.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub api_code: Option<String>,
    pub api_msg: Option<String>,
    pub error: Option<String>,
    pub duration: Duration,
}

/// What a recorded answer does to the rows of the request.
#[derive(Debug, Clone)]
pub enum RowsEffect {
    /// Deleted; looked up again this much later (`[verify] after`), when given.
    Deleted { check_after: Option<Duration> },
    /// A lone id refused often enough: failed, the refusal counted.
    Failed(String),
    /// The rows stay held by the claim; the note becomes their `last_error`, and a
    /// refusal of a lone id is counted on them.
    Kept { note: String, refused: bool },
}

/// The queue, on whichever backend the configuration names.
#[derive(Debug, Clone)]
pub enum Queue {
    Sqlite(sqlite::SqliteQueue),
    Postgres(postgres::PostgresQueue),
}

/// Runs `$call` on the backend in use (each has a method of the same name and signature).
macro_rules! on_backend {
    ($queue:expr, $backend:ident => $call:expr) => {
        match $queue {
            Queue::Sqlite($backend) => $call,
            Queue::Postgres($backend) => $call,
        }
    };
}

/// Methods of [`Queue`], each running one transaction (written once, over `driver`) on
/// the driver in use: `fn NAME(&self, ARGS) -> T => TRANSACTION;` returns
/// `Result<T, QueueError>` from `TRANSACTION(driver, ARGS)`.
macro_rules! transactions {
    ($( $(#[$doc:meta])* $vis:vis async fn $name:ident(&$self:ident $(, $arg:ident: $ty:ty)* $(,)?)
        -> $out:ty => $run:path; )*) => {$(
        $(#[$doc])*
        $vis async fn $name(&$self $(, $arg: $ty)*) -> Result<$out, QueueError> {
            on_backend!($self, d => $run(d $(, $arg)*).await)
        }
    )*};
}

impl Queue {
    /// Opens (creating an SQLite file and its directory if need be) and migrates the
    /// database.
    pub async fn open(database: &Database, busy_timeout: Duration) -> Result<Self, QueueError> {
        Ok(match database {
            Database::File(path) => {
                Self::Sqlite(sqlite::SqliteQueue::open(path, busy_timeout, true).await?)
            }
            Database::Server(url) => {
                Self::Postgres(postgres::PostgresQueue::open(url, busy_timeout, true).await?)
            }
        })
    }

    /// Opens a queue that must exist already, with a current schema: the commands other
    /// than `run` and `migrate` would otherwise create one as whoever ran them, where a
    /// wrong path or database name pointed, or upgrade one under an older daemon.
    pub async fn open_existing(
        database: &Database,
        busy_timeout: Duration,
    ) -> Result<Self, QueueError> {
        match database {
            Database::File(path) if !path.exists() => Err(QueueError {
                place: crate::printable::path(path),
                problem: "does not exist yet; start the daemon or run `memories-reaper migrate` \
                          (as the service's user) to create it, or give the --config that names \
                          it"
                .into(),
            }),
            Database::File(path) => Ok(Self::Sqlite(
                sqlite::SqliteQueue::open(path, busy_timeout, false).await?,
            )),
            Database::Server(url) => Ok(Self::Postgres(
                postgres::PostgresQueue::open(url, busy_timeout, false).await?,
            )),
        }
    }

    /// Opens an existing database without changing it, for `check`: whether its schema is
    /// current, how many rows it holds, and whether this user can write to it.
    pub async fn inspect(
        database: &Database,
        busy_timeout: Duration,
    ) -> Result<String, QueueError> {
        match database {
            Database::File(path) => sqlite::SqliteQueue::inspect(path, busy_timeout).await,
            Database::Server(url) => postgres::PostgresQueue::inspect(url, busy_timeout).await,
        }
    }

    /// The migrations this process applied when it opened the database ("0005 strict
    /// due at"), oldest first; empty when the schema was already current.
    pub fn applied(&self) -> Vec<String> {
        on_backend!(self, q => q.applied())
    }

    /// The same queue under a new sender name (`deletion_batches.sender`): requests sent
    /// under the old name then count as another process's.
    pub fn under_new_sender(&self) -> Self {
        match self {
            Self::Sqlite(q) => Self::Sqlite(q.under_new_sender()),
            Self::Postgres(q) => Self::Postgres(q.under_new_sender()),
        }
    }

    /// The database, as errors and messages name it.
    pub fn location(&self) -> String {
        on_backend!(self, d => driver::Driver::location(d))
    }

    pub async fn close(&self) {
        on_backend!(self, q => q.close().await)
    }

    transactions! {
        /// Inserts video numbers as a producer would.
        pub async fn insert(
            &self, namespace: &Namespace, video_nos: &[VideoNo],
        ) -> u64 => store::insert;
        /// How many of these videos a legal hold covers in the namespace.
        pub async fn holds_covering(
            &self, namespace: &Namespace, video_nos: &[VideoNo],
        ) -> i64 => holds::covering;
        /// How many pending rows are due now.
        pub async fn due_pending(&self) -> i64 => report::due_pending;
        /// The settlement chain's head: its last entry's sequence number and hash.
        pub async fn chain_head(&self) -> (i64, String) => chain::head;
        /// Walks the settlement chain (`receipts --verify`).
        pub async fn verify_chain(&self) -> crate::chain::Audit => chain::verify;
        /// How many rows `receipts` would write (for its progress line).
        pub async fn count_receipts(&self, filter: &receipts::Filter) -> i64 => receipts::count;
        /// What `status` shows.
        pub async fn report(&self, last: u32) -> report::Report => report::report;
        /// What the metrics read at each scrape.
        pub async fn gauges(
            &self, namespaces: Option<usize>,
        ) -> crate::metrics::Gauges => report::gauges;
        /// Rows whose `due_at` could not be read as a time.
        pub async fn unreadable_due(&self) -> i64 => report::unreadable_due;
        /// `retry-failed`: failed rows back to pending (or `held`, under a legal hold).
        pub async fn retry_failed(
            &self, namespace: Option<&Namespace>, since: Option<DateTime<Utc>>,
        ) -> Reopened => upkeep::retry_failed;
        /// Takes or renews the sender's lease for `holder`, for `lease` from now on the
        /// database's clock, unless another holder's lease is still running.
        pub async fn lead(&self, holder: &str, lease: Duration) -> Lead => lease::lead;
        /// Gives the sender's lease up, if `holder` has it: a standby takes over at once.
        pub async fn resign(&self, holder: &str) -> () => lease::resign;
        /// `prune` and retention: settled rows and records older than `before`.
        pub async fn prune(&self, before: DateTime<Utc>) -> Pruned => upkeep::prune;
        /// Places a hold on each video, in `namespace` or (`None`) in every namespace, and
        /// sets their pending rows `held`. A video already held there keeps its first reason.
        pub async fn place_holds(
            &self, namespace: Option<&Namespace>, video_nos: &[VideoNo], reason: &str,
        ) -> HoldsChanged => holds::place;
        /// Releases the holds placed on these videos in `namespace` (or in every namespace),
        /// and puts back to `pending` the rows no other hold covers.
        pub async fn release_holds(
            &self, namespace: Option<&Namespace>, video_nos: &[VideoNo],
        ) -> HoldsChanged => holds::release;
        /// See `queue::rules` and each backend's `rules` for these.
        pub async fn open_rule_listing(
            &self, rule: &str, fingerprint: &str,
        ) -> Option<rules::OpenListing> => rules::open;
        pub async fn start_rule_listing(
            &self, rule: &str, fingerprint: &str, mode: &str, listed_at_ms: i64,
            namespaces: &[String],
        ) -> rules::OpenListing => rules::start;
        pub async fn record_rule_page(
            &self, listing: i64, namespace: &str, page: i64, videos: &[rules::Snapshotted],
            last: bool,
        ) -> u64 => rules::record_page;
        pub async fn tally_rule_listing(
            &self, listing: i64,
        ) -> Vec<rules::NamespaceTally> => rules::tally;
        pub async fn set_rule_listing(
            &self, listing: i64, state: rules::ListingState, note: Option<&str>,
        ) -> () => rules::set;
        pub async fn enqueue_rule_listing(
            &self, listing: i64, source: &str, limit: u64,
        ) -> rules::RuleEnqueued => rules::enqueue;
        pub async fn confirm_rule_listing(
            &self, rule: &str, fingerprint: &str,
        ) -> Option<i64> => rules::confirm;
        pub async fn retire_rules(&self, keep: &[String]) -> u64 => rules::retire;
        pub async fn rule_reports(
            &self, rule: Option<&str>,
        ) -> Vec<rules::ListingReport> => rules::reports;
        /// The holds, oldest first: every one, or the `newest` so many.
        pub async fn holds(&self, newest: Option<i64>) -> Vec<Hold> => holds::list;
        /// Due pending rows in (namespace, id) order, `limit` at a time after `after`.
        pub async fn due_page(&self, after: (&str, i64), limit: usize)
            -> Vec<(String, ClaimedRow)> => report::due_page;
    }

    /// The claim's query plan, one line a step (the benchmark checks it walks indexes).
    pub async fn explain_claim(&self) -> Result<Vec<String>, QueueError> {
        on_backend!(self, q => q.explain_claim().await)
    }

    /// The settled rows `filter` selects, in queue order, one at a time.
    pub fn receipts<'a>(
        &'a self,
        filter: &'a receipts::Filter,
    ) -> BoxStream<'a, Result<receipts::Receipt, QueueError>> {
        on_backend!(self, d => receipts::stream(d, filter))
    }

    /// Whether a newer memories-reaper has migrated the database since this one opened it:
    /// asked before every pass, so that a daemon left running through an upgrade stops
    /// sending instead of ignoring what the new schema adds.
    pub async fn still_current(&self) -> Result<(), QueueError> {
        let (applied, place, known) = match self {
            Queue::Sqlite(d) => (
                schema::migrated(d).await?,
                self.location(),
                &sqlite::MIGRATOR,
            ),
            Queue::Postgres(d) => (
                schema::migrated(d).await?,
                self.location(),
                &postgres::MIGRATOR,
            ),
        };
        newer_schema(&applied, known).map_err(|problem| QueueError { place, problem })
    }
}

impl Store for Queue {
    transactions! {
        async fn take_back_expired(&self) -> u64 => store::take_back_expired;
        async fn claim(&self, limit: usize, lease: Duration) -> Option<Claim> => store::claim;
        async fn renew(&self, token: &ClaimToken, lease: Duration) -> () => store::renew;
        async fn start_request(
            &self, token: &ClaimToken, namespace: &Namespace, ids: &[VideoNo], attempt: u32,
            listed: Option<tokio::time::Instant>, lease: Duration,
        ) -> Started => store::start_request;
        async fn finish_request(
            &self, token: &ClaimToken, batch: BatchId, ids: &[VideoNo], record: &RequestRecord,
            effect: &RowsEffect,
        ) -> u64 => store::finish_request;
        async fn release(&self, token: &ClaimToken, last_error: Option<&str>) -> u64
            => store::release;
        async fn record_lookup(
            &self, token: &ClaimToken, namespace: &Namespace, listed: &[VideoNo],
            missing: &[(VideoNo, Miss)], absent_after: Duration,
        ) -> Settled => store::record_lookup;
        async fn claim_unchecked(&self, limit: usize, lease: Duration) -> Option<Unchecked>
            => store::claim_unchecked;
        async fn record_check(
            &self, namespace: &Namespace, rows: &[(i64, Check)], rounds: u32,
        ) -> Checked => store::record_check;
        async fn fail_unsent(&self, token: &ClaimToken, failures: &[(i64, String)]) -> ()
            => store::fail_unsent;
        async fn others_requests(&self) -> Vec<crate::rate::Recorded> => store::others_requests;
        async fn last_good_answer(&self, within: Duration) -> Option<Duration>
            => store::last_good_answer;
    }
}
