//! The contract between the queue's transactions and a backend: one method per statement.
//!
//! Why: the transactions (claim, record a request and its answer, record a lookup, …) are
//! the queue's rules, and a rule written twice drifts (a fix made on one backend was a bug
//! left on the other). So each is written once (`queue::store`, `holds`, `upkeep`, …) over
//! [`Statements`], whose Rust side is written once too (`queue::statements`); a backend
//! (`sqlite`, `postgres`) is a thin driver: its SQL, one named file a statement under
//! `queries/<backend>/`, how it binds a list or a time, how it reads a cell. A third backend
//! implements [`Driver`] and expands `statements!(impl …)` with SQL of its own, and runs the
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
    Anchor, AwaitingLookup, BatchRow, Count, Filter, Hold, ListingReport, ListingRow, PendingRow,
    ProofCount, Receipt, Sender, Snapshotted, TallyRow,
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
    /// The sender's lease: not behind all this process's writers (a renewal there ran the
    /// lease out). SQLite: the writer's next turn; PostgreSQL: its own connection.
    Lease,
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

    /// The database, as errors and messages name it (never a password).
    fn location(&self) -> String;

    /// A problem with this database, said for an operator.
    fn problem(&self, problem: String) -> QueueError {
        QueueError {
            place: self.location(),
            problem,
        }
    }

    /// This process, as `deletion_batches.sender` records its requests.
    fn sender(&self) -> &str;

    /// The settled rows `filter` selects, in queue order, streamed from the pool (a stream
    /// outlives any one borrowed connection): what `receipts` writes.
    fn receipts<'a>(&'a self, filter: &'a Filter) -> BoxStream<'a, Result<Receipt, sqlx::Error>>;

    /// Upkeep a pass's start needs on this backend (PostgreSQL refreshes stale planner
    /// statistics; SQLite needs none).
    fn before_pass(&self) -> impl Step<()>;
}

/// `operation!(driver, begin(ACCESS), |tx| { … })`: one operation of the queue. `BODY`
/// runs on a transaction of `driver` (`single(ACCESS)`: a connection whose statements are
/// each their own transaction) opened after the locks `ACCESS` needs, and yields a
/// `Result<T, sqlx::Error>`; the transaction is committed when it yields `Ok` (an early
/// `return` rolls it back). Any error is said once, for the operation (`Driver::error`).
macro_rules! operation {
    ($driver:expr, $open:ident($access:expr), |$conn:ident| $body:block) => {{
        let driver = $driver;
        let run = async {
            let mut $conn = driver.$open($access).await?;
            let done: Result<_, sqlx::Error> = $body;
            let done = done?;
            $conn.commit().await?;
            Ok::<_, sqlx::Error>(done)
        };
        run.await.map_err(|e| driver.error(e))
    }};
}

pub(crate) use operation;

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

super::statements::statements!(trait);
