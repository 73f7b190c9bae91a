//! The contract between the queue's transactions and a backend: one method per statement.
//!
//! Why: the transactions (claim, record a request and its answer, record a lookup, …) are
//! the queue's rules, and a rule written twice drifts (a fix made on one backend was a bug
//! left on the other). So each is written once (`queue::store`, `holds`, `upkeep`, …) over
//! [`Statements`], whose Rust side is written once too (`queue::statements`); a backend
//! (`sqlite`, `postgres`) is a thin driver: its SQL, one named file a statement under
//! `queries/<backend>/`, how it binds a list or a time, how it reads a cell. A third backend
//! implements [`Driver`] and expands `statements_for!` with SQL of its own, and runs the
//! conformance suite (`queue::conformance`).
//!
//! A statement's meaning is the same on every driver; its SQL is not (placeholders, time
//! arithmetic, how a list is bound). Values that come from the vocabulary (a proof, a
//! status) are bound, not written into the SQL, so a file cannot disagree with the enum.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, OwnedMutexGuard};

use futures_util::stream::BoxStream;

use super::rows::{
    Anchor, BatchRow, Count, Filter, Hold, ListingRow, PendingRow, ProofCount, Receipt, ReportRow,
    Sender, Snapshotted, TallyRow,
};
use super::{ClaimedRow, QueueError, RequestRecord};
use crate::chain::{ChainEntry, ChainRow, ChainedRequest, QueueRow, Sealed};
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::ListingState;
use crate::vocabulary::{Proof, RowStatus};

/// What a transaction is about to do, so that the driver takes the locks it needs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Writes rows (SQLite: after this process's other writers, in order).
    Write,
    /// Claims rows: no two claims at once anywhere on the database (PostgreSQL's claim
    /// lock; on SQLite, the one writer).
    Claim,
}

/// One backend: opens transactions and says its errors.
pub trait Driver: Clone + Send + Sync + 'static {
    /// The backend's database; its connections run the statements.
    type Db: sqlx::Database<Connection: Statements>;

    /// A transaction, once the locks `turn` needs are taken.
    fn begin(&self, access: Access) -> impl Step<Session<Self::Db>>;

    /// A connection whose statements are each their own transaction (no `BEGIN`: reads
    /// and renewals that need no other statement's company), after the locks `turn` needs.
    fn single(&self, access: Access) -> impl Step<Session<Self::Db>>;

    /// An error of an operation on this database, said for an operator (once per
    /// operation: the statements return `sqlx::Error`).
    fn error(&self, e: sqlx::Error) -> QueueError;

    /// This process, as `deletion_batches.sender` records its requests.
    fn sender(&self) -> &str;

    /// The settled rows `filter` selects, in queue order, streamed from the pool (a stream
    /// outlives any one borrowed connection): what `receipts` writes.
    fn receipts<'a>(&'a self, filter: &'a Filter) -> BoxStream<'a, Result<Receipt, sqlx::Error>>;

    /// Upkeep a pass's start needs on this backend (PostgreSQL refreshes stale planner
    /// statistics; SQLite needs none).
    fn before_pass(&self) -> impl Step<()>;
}

/// A connection inside a transaction, or on its own (each statement its own).
enum Conn<DB: sqlx::Database> {
    Tx(sqlx::Transaction<'static, DB>),
    Single(sqlx::pool::PoolConnection<DB>),
}

impl<DB: sqlx::Database> Deref for Conn<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        match self {
            Self::Tx(tx) => tx,
            Self::Single(conn) => conn,
        }
    }
}

impl<DB: sqlx::Database> DerefMut for Conn<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Self::Tx(tx) => tx,
            Self::Single(conn) => conn,
        }
    }
}

/// A driver's transaction: its connection, and the turn it holds until it ends (dropped
/// after the connection: a transaction given up is rolled back before the next writer's).
pub struct Session<DB: sqlx::Database> {
    conn: Conn<DB>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> Session<DB> {
    /// Takes `turn` (a mutex of this process's, when the driver keeps one for it), then a
    /// connection from `pool`, in a transaction when `transaction`.
    pub async fn open(
        pool: &sqlx::Pool<DB>,
        turn: Option<&Arc<Mutex<()>>>,
        transaction: bool,
    ) -> Result<Self, sqlx::Error> {
        let turn = match turn {
            Some(mutex) => Some(mutex.clone().lock_owned().await),
            None => None,
        };
        let conn = if transaction {
            Conn::Tx(pool.begin().await?)
        } else {
            Conn::Single(pool.acquire().await?)
        };
        Ok(Self { conn, _turn: turn })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.conn {
            Conn::Tx(tx) => tx.commit().await,
            Conn::Single(_) => Ok(()),
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.conn {
            Conn::Tx(tx) => tx.rollback().await,
            Conn::Single(_) => Ok(()),
        }
    }
}

impl<DB: sqlx::Database> Deref for Session<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.conn
    }
}

impl<DB: sqlx::Database> DerefMut for Session<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }
}

/// What an answer sets on the rows of its request (`Statements::settle_answered`).
#[derive(Debug, Clone)]
pub struct Answered<'a> {
    pub batch: i64,
    /// `in_flight` for rows the claim keeps (their settlement is later).
    pub status: RowStatus,
    pub note: Option<&'a str>,
    /// A refusal of a lone id, counted on its rows.
    pub refused: bool,
    /// No API code: a deletion may have happened (the rows stay in doubt).
    pub lost: bool,
    /// Deleted rows are looked up again this much later (× 4 a round they were relisted).
    pub check_after: Option<Duration>,
    /// The proof of a settled row the latest lookup listed, and of one it did not.
    pub proof: Option<(Proof, Proof)>,
}

/// What a lookup's miss sets on the rows it settles (`Statements::settle_missed`).
#[derive(Debug, Clone)]
pub struct Missed<'a> {
    pub status: RowStatus,
    /// The proof of a row the lookup before our request listed, and of one it did not.
    pub proof: (Proof, Proof),
    /// `checked_at` is set on a listed row (gone after it was there: verified).
    pub verifies: bool,
    pub note: &'a str,
}

/// A statement's future: its result, or the database's error (said once per operation, by
/// [`Driver::error`]).
pub trait Step<T>: Future<Output = Result<T, sqlx::Error>> + Send {}

impl<T, F: Future<Output = Result<T, sqlx::Error>> + Send> Step<T> for F {}

/// A row taken for a lookup after its deletion: id, video, namespace (`None`: not text).
pub type Unchecked = (i64, Option<String>, Option<String>);

/// The statements, each one of the queue's SQL statements with the meaning its name says,
/// run on a backend's connection (in a [`Session`]'s transaction, or on its own). Lists of
/// ids are bound as the driver binds lists; `token` is a claim's.
pub trait Statements: Send {
    // Claims.
    /// Rows in flight whose lease ran out, or that this program could not have granted
    /// (unreadable, or more than `longest` ahead), back to pending, saying why.
    fn take_back_leases(&mut self, longest: Duration) -> impl Step<u64>;
    /// Held rows (of `only` these videos, when given) no hold covers any longer, back to
    /// pending.
    fn free_unheld(&mut self, only: Option<&[VideoNo]>) -> impl Step<u64>;
    /// The oldest due pending rows of the namespace of the oldest (at most `limit`, none
    /// of a video another claim holds), in flight under `token` for `lease`.
    fn claim_rows(&mut self, token: &str, lease: Duration, limit: usize) -> impl Step<u64>;
    /// The due pending duplicates of the claim's videos (at most `most`), claimed too.
    fn claim_duplicates(&mut self, token: &str, lease: Duration, most: usize) -> impl Step<u64>;
    /// The claim's namespace (`None`: not text).
    fn claim_namespace(&mut self, token: &str) -> impl Step<Option<String>>;
    /// The claim's rows (of `only` these videos, when given) under a legal hold: `held`,
    /// out of the claim.
    fn hold_claimed(&mut self, token: &str, only: Option<&[VideoNo]>) -> impl Step<u64>;
    /// The claim's rows of videos an answer entry of the chain settles `deleted` (for a
    /// request that carried that row): settled from it with `proof`.
    fn settle_from_history(&mut self, token: &str, proof: Proof) -> impl Step<Vec<ChainRow>>;
    /// The rows the claim holds, in id order.
    fn claimed_rows(&mut self, token: &str) -> impl Step<Vec<ClaimedRow>>;
    /// The lease of every row the claim holds, `lease` from now.
    fn renew(&mut self, token: &str, lease: Duration) -> impl Step<()>;
    /// Every row the claim holds back to pending (`last_error` when given).
    fn release(&mut self, token: &str, last_error: Option<&str>) -> impl Step<u64>;

    // Requests.
    /// A request's record, `sending`; its id.
    fn insert_request(
        &mut self,
        namespace: &Namespace,
        ids: usize,
        attempt: u32,
        sender: &str,
    ) -> impl Step<i64>;
    /// How many of these videos the claim still holds in flight (PostgreSQL: locked to
    /// the end of the transaction).
    fn still_claimed(&mut self, token: &str, ids: &[VideoNo]) -> impl Step<i64>;
    /// One more attempt on the claim's rows of these videos, now in doubt.
    fn count_attempt(&mut self, token: &str, ids: &[VideoNo]) -> impl Step<Vec<ChainRow>>;
    /// The request's `started_at`: now (as late as the transaction allows).
    fn stamp_request(&mut self, batch: i64) -> impl Step<()>;
    /// The answer on the request's record; its namespace.
    fn record_answer(&mut self, batch: i64, record: &RequestRecord) -> impl Step<Option<String>>;
    /// The answer on the claim's rows of these videos.
    fn settle_answered(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        answered: &Answered<'_>,
    ) -> impl Step<Vec<ChainRow>>;
    /// Due pending rows of these videos in the request's namespace (at most `most`),
    /// failed with `reason` and `proof`.
    fn fail_duplicates(
        &mut self,
        batch: i64,
        ids: &[VideoNo],
        reason: &str,
        proof: Proof,
        most: usize,
    ) -> impl Step<Vec<ChainRow>>;
    /// One of the claim's rows failed unsent; with its namespace.
    fn fail_unsent(
        &mut self,
        token: &str,
        row: i64,
        reason: &str,
        proof: Proof,
    ) -> impl Step<Option<(ChainRow, String)>>;
    /// Requests started in the last two seconds by a sender other than `sender` (at most
    /// 100, newest first): id, and seconds ago (`None`: unreadable).
    fn recent_requests(&mut self, sender: &str) -> impl Step<Vec<(i64, Option<f64>)>>;
    /// Whether the newest answered request was `deleted`, answered within `within`.
    fn last_answer_good(&mut self, within: Duration) -> impl Step<Option<bool>>;

    // Lookups.
    /// The claim's rows of these videos were listed by a lookup now.
    fn mark_listed(&mut self, token: &str, ids: &[VideoNo]) -> impl Step<u64>;
    /// The claim's rows of these videos, missed, settled as `missed` says.
    fn settle_missed(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        missed: &Missed<'_>,
    ) -> impl Step<Vec<ChainRow>>;
    /// The claim's rows of these videos, missed, pending again to be looked up `after`.
    fn look_again(
        &mut self,
        token: &str,
        ids: &[VideoNo],
        note: &str,
        after: Duration,
    ) -> impl Step<u64>;
    /// Deleted rows of one namespace whose check is due (at most `limit`), their check
    /// pushed `lease` ahead (the claim).
    fn claim_checks(&mut self, lease: Duration, limit: usize) -> impl Step<Vec<Unchecked>>;
    /// These deleted rows checked again `after` from now.
    fn postpone_checks(&mut self, rows: &[i64], after: Duration) -> impl Step<u64>;
    /// These deleted rows not checked any more.
    fn drop_checks(&mut self, rows: &[i64]) -> impl Step<u64>;
    /// These deleted rows no longer listed: their proof now checked (`gone`: each proof
    /// before → after), `checked_at` where a lookup listed them before our request.
    fn verify_checks(
        &mut self,
        rows: &[i64],
        gone: [(Proof, Proof); 2],
    ) -> impl Step<Vec<ChainRow>>;
    /// These deleted rows still listed: pending again (in doubt), or failed with `proof`
    /// after `rounds` rounds.
    fn relist_checks(
        &mut self,
        rows: &[i64],
        note: &str,
        rounds: u32,
        proof: Proof,
    ) -> impl Step<Vec<ChainRow>>;

    // Legal holds.
    /// A hold on each video in `namespace` (`None`: every namespace); one already placed
    /// there keeps its first reason.
    fn insert_holds(
        &mut self,
        namespace: Option<&Namespace>,
        ids: &[VideoNo],
        reason: &str,
    ) -> impl Step<u64>;
    /// Pending rows of these videos in `namespace` (`None`: every one) set held.
    fn hold_pending(&mut self, namespace: Option<&Namespace>, ids: &[VideoNo]) -> impl Step<u64>;
    /// Of these videos in `namespace`: rows in flight now, and videos seen deleted.
    fn held_elsewhere(
        &mut self,
        namespace: Option<&Namespace>,
        ids: &[VideoNo],
    ) -> impl Step<(i64, i64)>;
    /// The holds placed on these videos in `namespace` (`None`: the every-namespace ones).
    fn delete_holds(&mut self, namespace: Option<&Namespace>, ids: &[VideoNo]) -> impl Step<u64>;
    /// The `newest` holds (`None`: all), newest first.
    fn list_holds(&mut self, newest: Option<i64>) -> impl Step<Vec<Hold>>;

    // What `status` and the metrics read.
    fn count_rows(&mut self) -> impl Step<Vec<Count>>;
    /// Settled rows by status and proof (`unrecorded` for rows settled without one).
    fn proof_counts(&mut self, unrecorded: &str) -> impl Step<Vec<ProofCount>>;
    fn oldest_pending(&mut self) -> impl Step<Option<PendingRow>>;
    fn unreadable_due(&mut self) -> impl Step<i64>;
    /// Rows in flight under a lease this program never grants (more than `longest` ahead).
    fn impossible_leases(&mut self, longest: Duration) -> impl Step<i64>;
    /// The `last` requests, newest first.
    fn last_requests(&mut self, last: u32) -> impl Step<Vec<BatchRow>>;
    fn sender_lease(&mut self) -> impl Step<Option<Sender>>;
    fn count_holds(&mut self) -> impl Step<i64>;
    /// (status, proof, rows).
    fn gauge_counts(&mut self) -> impl Step<Vec<(String, Option<String>, i64)>>;
    /// (namespace, status, rows) of the `top` largest namespaces; the rest under `None`.
    fn namespace_gauges(&mut self, top: usize) -> impl Step<Vec<(Option<String>, String, i64)>>;
    /// Seconds since the oldest due row not yet settled came due.
    fn oldest_due(&mut self) -> impl Step<Option<f64>>;
    /// Due pending rows not held, in (namespace, id) order, `limit` after `after`.
    fn due_page(
        &mut self,
        after: (&str, i64),
        limit: usize,
    ) -> impl Step<Vec<(String, ClaimedRow)>>;
    fn due_pending(&mut self) -> impl Step<i64>;

    /// How many settled rows `filter` selects.
    fn count_receipts(&mut self, filter: &Filter) -> impl Step<i64>;

    // The lifecycle rules' listings.
    /// Rule `rule`'s listings that go on, newest first (PostgreSQL: locked).
    fn open_listings(&mut self, rule: &str) -> impl Step<Vec<ListingRow>>;
    fn supersede_listing(&mut self, listing: i64) -> impl Step<u64>;
    fn drop_snapshot(&mut self, listing: i64) -> impl Step<u64>;
    /// The listing's namespaces still to read, with the next page of each.
    fn namespaces_to_read(&mut self, listing: i64) -> impl Step<Vec<(String, i64)>>;
    fn insert_listing(
        &mut self,
        rule: &str,
        fingerprint: &str,
        mode: &str,
        listed_at_ms: i64,
    ) -> impl Step<i64>;
    fn insert_listing_namespaces(&mut self, listing: i64, namespaces: &[String]) -> impl Step<u64>;
    /// One page's videos, kept once each; how many were new.
    fn snapshot_page(
        &mut self,
        listing: i64,
        namespace: &str,
        videos: &[Snapshotted],
    ) -> impl Step<u64>;
    /// The namespace has read `page` (`last`: the last), `listed` videos more.
    fn advance_namespace(
        &mut self,
        listing: i64,
        namespace: &str,
        page: i64,
        last: bool,
        listed: i64,
    ) -> impl Step<u64>;
    /// Counts per namespace from the snapshot, with a sample of `sample` videos.
    fn tally_namespaces(&mut self, listing: i64, sample: i64) -> impl Step<u64>;
    /// The listing's counts, summed over its namespaces; decided now.
    fn tally_listing(&mut self, listing: i64) -> impl Step<u64>;
    fn tallies(&mut self, listing: i64) -> impl Step<Vec<TallyRow>>;
    fn set_listing_state(
        &mut self,
        listing: i64,
        state: ListingState,
        note: Option<&str>,
    ) -> impl Step<u64>;
    /// The counts of the listing's rule's finished listings but the last `kept`.
    fn trim_namespaces(&mut self, listing: i64, kept: i64) -> impl Step<u64>;
    /// The listing's rule's finished listings but the last `kept`.
    fn trim_listings(&mut self, listing: i64, kept: i64) -> impl Step<u64>;
    /// One enqueuer of the listing at a time (PostgreSQL; SQLite has one writer).
    fn lock_listing(&mut self, listing: i64) -> impl Step<()>;
    /// At most `most` matched videos (namespace, video) not enqueued yet, oldest first.
    fn todo_videos(&mut self, listing: i64, most: u64) -> impl Step<Vec<(String, String)>>;
    /// Queued as `source`, but a video the queue has any row of in that namespace.
    fn enqueue_videos(&mut self, videos: &[(String, String)], source: &str) -> impl Step<u64>;
    fn mark_enqueued(&mut self, listing: i64, videos: &[(String, String)]) -> impl Step<u64>;
    fn count_enqueued(&mut self, listing: i64, inserted: u64, already: u64) -> impl Step<u64>;
    fn left_to_enqueue(&mut self, listing: i64) -> impl Step<i64>;
    /// The rule's newest tripped listing under `fingerprint` goes on to be enqueued.
    fn confirm_listing(&mut self, rule: &str, fingerprint: &str) -> impl Step<Option<i64>>;
    /// The listings that go on of rules not in `keep`, set aside.
    fn retire_listings(&mut self, keep: &[String]) -> impl Step<u64>;
    fn drop_finished_snapshots(&mut self) -> impl Step<u64>;
    /// Each rule's last decided listing (else its latest), or only `rule`'s.
    fn listing_reports(&mut self, rule: Option<&str>) -> impl Step<Vec<ReportRow>>;

    // Upkeep.
    /// Failed rows of `namespace` (`None`: every one) settled at or after `since` back to
    /// pending, due now (not those failed for an unreadable `due_at`).
    fn reopen_failed(
        &mut self,
        namespace: Option<&Namespace>,
        since: Option<DateTime<Utc>>,
    ) -> impl Step<Vec<ChainRow>>;
    /// How many of these rows are held now.
    fn count_held(&mut self, rows: &[i64]) -> impl Step<i64>;
    /// Failed rows `reopen_failed` would leave for their unreadable `due_at`.
    fn unreadable_failed(
        &mut self,
        namespace: Option<&Namespace>,
        since: Option<DateTime<Utc>>,
    ) -> impl Step<i64>;
    /// At most `most` settled rows settled and last changed before `before`.
    fn prune_rows(&mut self, before: DateTime<Utc>, most: usize) -> impl Step<u64>;
    /// The anchor onto the last chain entry older than `before`, when there is one.
    fn move_anchor(&mut self, before: DateTime<Utc>) -> impl Step<u64>;
    /// Request records (id, namespace) named only by entries up to the anchor, that prune
    /// keeps at `before`.
    fn carried_requests(&mut self, before: DateTime<Utc>) -> impl Step<Vec<(i64, String)>>;
    /// The chain's entries up to the anchor.
    fn drop_chain_prefix(&mut self) -> impl Step<u64>;
    /// At most `most` request records prune may remove at `before`.
    fn prune_requests(&mut self, before: DateTime<Utc>, most: usize) -> impl Step<u64>;

    // The sender's lease, and producers' inserts.
    /// The sender's lease for `holder`, `lease` from now, unless another holder's runs
    /// (one run out, or more than `longest` ahead, is taken over); who holds it now, and
    /// for how many seconds more.
    fn take_lease(
        &mut self,
        holder: &str,
        lease: Duration,
        longest: Duration,
    ) -> impl Step<(String, f64)>;
    /// `holder` gives the lease up.
    fn resign(&mut self, holder: &str) -> impl Step<u64>;
    /// Videos queued in `namespace`, as a producer would.
    fn insert_videos(&mut self, namespace: &Namespace, ids: &[VideoNo]) -> impl Step<u64>;

    // The chain.
    /// Whatever makes the head read next the true last one until commit (PostgreSQL: the
    /// chain lock; SQLite: the transaction has written already, so it is the one writer).
    fn lock_chain(&mut self) -> impl Step<()>;
    /// The last entry's sequence number and hash, or the anchor's.
    fn chain_head(&mut self) -> impl Step<(i64, String)>;
    /// A request's whole record, as one text the chain hashes.
    fn request_record(&mut self, batch: i64) -> impl Step<Option<String>>;
    fn insert_entry(&mut self, entry: &Sealed) -> impl Step<()>;
    /// The anchor row.
    fn anchor(&mut self) -> impl Step<Anchor>;
    /// What follows reads one snapshot of the database (PostgreSQL: repeatable read; an
    /// SQLite read transaction is one already).
    fn snapshot(&mut self) -> impl Step<()>;
    /// Every entry, in order.
    fn chain_entries(&mut self) -> BoxStream<'_, Result<ChainEntry, sqlx::Error>>;
    /// Every request record, as the chain hashes it, and whether it must have an entry
    /// (from `requests_from`, unless prune may remove it at the anchor's `since`).
    fn request_records<'a>(
        &'a mut self,
        requests_from: i64,
        since: &'a str,
    ) -> BoxStream<'a, Result<ChainedRequest, sqlx::Error>>;
    /// Every row, as the verifier weighs it against the anchor.
    fn queue_rows<'a>(
        &'a mut self,
        anchor: &'a Anchor,
    ) -> BoxStream<'a, Result<QueueRow, sqlx::Error>>;
}
