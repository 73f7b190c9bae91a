//! The PostgreSQL driver: producers and daemons on several hosts.
//!
//! Opening, migrating and describing errors are here; the statements the queue's
//! transactions run are in `statements` (SQL in `queries/postgres/`, one file a statement,
//! under the same names as SQLite's). What differs from SQLite:
//! - Times the daemon writes are `timestamptz`; a producer's `due_at` stays text, read by
//!   the schema's `memories_reaper_due` into the generated column `due` (migration 0001
//!   says why PostgreSQL's own date input must not read it).
//! - Several daemons write at once. A claim takes its rows with `FOR UPDATE SKIP LOCKED`
//!   under a transaction-scoped lock (`Access::Claim`: `sql/lock_claims.sql`, a row of
//!   `queue_locks`): two claims in flight at once could each take a row of the same video
//!   (neither sees the other's uncommitted rows), and the video would be sent twice. Chain
//!   entries are appended under another (`sql/lock_chain.sql`), taken last in each
//!   transaction, after its row updates, so that no transaction holding it waits for a
//!   row: entries are in commit order, and no deadlock.
//! - Every connection's session reads and writes times in UTC and ISO form, so that the
//!   request records the chain vouches for read the same from any host.

/// The text of the statement `queries/postgres/NAME.sql`.
macro_rules! sql {
    ($name:literal) => {
        query_file!("postgres", $name)
    };
}

mod statements;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Postgres;

use futures_util::stream::BoxStream;

use super::driver::{Access, Driver, Session, Statements};
use super::receipts::{Filter, Receipt};
use super::{inspected, newer_schema, schema, ClaimToken, QueueError};
use crate::config::LONGEST_LEASE;
use crate::credentials::DatabaseUrl;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub(crate) const CONNECTIONS: u32 = 8; // the workers', lookups' and renewals' pool

#[derive(Debug, Clone)]
pub struct PostgresQueue {
    pool: PgPool,
    /// `postgres://user@host:port/database`, never the password.
    shown: Arc<str>,
    /// This process, as `deletion_batches.sender` records it.
    sender: Arc<str>,
    /// What `migrate` applied at open.
    applied: Arc<[String]>,
    /// This process's claims take turns here, in order, before the claim lock: waiting
    /// workers queue in the process, not on the server, where the lock's wait is bounded
    /// by `busy_timeout` (eight workers behind one slow claim stopped the pass).
    claims: Arc<tokio::sync::Mutex<()>>,
    /// The lease's own connection (`Access::Lease`): behind `pool`'s users, renewals ran out.
    lease: PgPool,
}

impl PostgresQueue {
    /// Connects and migrates (under sqlx's migration lock: daemons starting together
    /// migrate once) when `create` (`run`, `migrate`); without, the schema must be current.
    pub async fn open(
        url: &DatabaseUrl,
        busy_timeout: Duration,
        create: bool,
    ) -> Result<Self, QueueError> {
        reach(url, busy_timeout).await.map_err(|e| QueueError {
            place: url.shown().into(),
            problem: describe(&e),
        })?;
        let mut queue = Self {
            pool: pool(url, busy_timeout, CONNECTIONS),
            shown: url.shown().into(),
            sender: ClaimToken::new().as_str().into(),
            applied: Arc::default(),
            claims: Arc::default(),
            lease: pool(url, busy_timeout, 1),
        };
        queue.migrate(create).await?;
        Ok(queue)
    }

    /// Refuses a schema where every role may create objects (PostgreSQL before 15, by
    /// default): a producer could define a function with the exact argument types of a
    /// built-in the daemon calls (`json_build_array`, say), which PostgreSQL would call
    /// instead, with the daemon's rights.
    async fn no_public_create(&self) -> Result<(), QueueError> {
        let (schema, open): (Option<String>, bool) = sqlx::query_as(
            "SELECT current_schema(), EXISTS (
                 SELECT 1 FROM pg_namespace AS n,
                        aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS a
                  WHERE n.nspname = current_schema() AND a.grantee = 0
                    AND a.privilege_type = 'CREATE')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        if open {
            return Err(self.problem(format!(
                "every role may create objects in schema {schema} (PostgreSQL before 15 \
                 allows it by default): a producer could define functions this daemon would \
                 call with its rights; as a superuser, run REVOKE CREATE ON SCHEMA {schema} \
                 FROM PUBLIC (docs/src/postgresql.md, \"More than one host\")",
                schema = crate::printable::escaped(&schema.unwrap_or_default())
            )));
        }
        Ok(())
    }

    /// Connects without changing anything, for `check`: whether the schema is current, how
    /// many rows the queue holds, and whether this role may write it.
    pub async fn inspect(url: &DatabaseUrl, busy_timeout: Duration) -> Result<String, QueueError> {
        reach(url, busy_timeout).await.map_err(|e| QueueError {
            place: url.shown().into(),
            problem: describe(&e),
        })?;
        let queue = Self {
            pool: pool(url, busy_timeout, 1),
            shown: url.shown().into(),
            sender: "check".into(),
            applied: Arc::default(),
            claims: Arc::default(),
            lease: pool(url, busy_timeout, 1), // connected on first use: never, by `check`
        };
        queue.no_public_create().await?;
        let applied = schema::migrated(&queue).await?;
        newer_schema(&applied, &MIGRATOR).map_err(|problem| queue.problem(problem))?;
        if let Some(behind) = schema::behind(&applied, &MIGRATOR) {
            queue.pool.close().await;
            return Ok(behind);
        }
        let (rows, writable): (i64, bool) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM deletion_queue),
                    has_table_privilege('deletion_queue', 'UPDATE')
                    AND has_table_privilege('deletion_batches', 'INSERT')
                    AND has_table_privilege('settlement_chain', 'INSERT')",
        )
        .fetch_one(&queue.pool)
        .await
        .map_err(|e| queue.error(e))?;
        let counted = async {
            let mut conn = queue.pool.acquire().await?;
            let unreadable = conn.unreadable_due().await?;
            Ok::<_, sqlx::Error>((unreadable, conn.impossible_leases(LONGEST_LEASE).await?))
        };
        let (unreadable, impossible) = counted.await.map_err(|e| queue.error(e))?;
        queue.pool.close().await;
        if !writable {
            return Err(QueueError {
                place: queue.shown.to_string(),
                problem: format!(
                    "schema up to date, {rows} rows, but this role cannot write the queue's \
                     tables: a daemon with it would send nothing; use the daemons' role \
                     (docs/src/postgresql.md, \"More than one host\")"
                ),
            });
        }
        Ok(inspected(rows, unreadable, impossible))
    }

    pub fn applied(&self) -> Vec<String> {
        self.applied.to_vec()
    }

    pub fn under_new_sender(&self) -> Self {
        Self {
            sender: ClaimToken::new().as_str().into(),
            ..self.clone()
        }
    }

    pub async fn close(&self) {
        self.lease.close().await;
        self.pool.close().await;
    }

    fn error(&self, e: impl Into<sqlx::Error>) -> QueueError {
        self.problem(describe(&e.into()))
    }

    async fn migrate(&mut self, create: bool) -> Result<(), QueueError> {
        self.no_public_create().await?;
        if !create {
            return schema::current(self, &MIGRATOR).await;
        }
        let run = async {
            MIGRATOR.run(&self.pool).await.map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db))
                    if db.code().as_deref() == Some("42501") =>
                {
                    self.problem(format!(
                        "this role may not create the queue's tables ({db}); run \
                         `memories-reaper migrate` once as the daemons' role, which owns them \
                         (docs/src/postgresql.md, \"More than one host\")"
                    ))
                }
                e => self.error(e),
            })
        };
        self.applied = schema::migrate(self, &MIGRATOR, run).await?.into();
        Ok(())
    }

    /// PostgreSQL's plan for the claim's query (`EXPLAIN`), one line a step.
    pub async fn explain_claim(&self) -> Result<Vec<String>, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let rows: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", sql!("claim_rows")))
            .bind("explain")
            .bind(0.0f64)
            .bind(100i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        tx.rollback().await.map_err(|e| self.error(e))?;
        Ok(rows)
    }
}

#[cfg(test)]
impl PostgresQueue {
    /// For the conformance suite: statements as a producer (or a hand) would run them.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Driver for PostgresQueue {
    type Db = Postgres;

    async fn begin(&self, access: Access) -> Result<Session<Postgres>, sqlx::Error> {
        let pool = match access {
            Access::Lease => &self.lease,
            Access::Read | Access::Write => &self.pool,
            // This process's claims queue here, in order, then take the claim lock.
            Access::Claim => {
                let mut session = Session::open(&self.pool, Some(&self.claims), true).await?;
                sqlx::query(sql!("lock_claims"))
                    .execute(&mut *session)
                    .await?;
                return Ok(session);
            }
        };
        Session::open(pool, None, true).await
    }

    async fn single(&self, _access: Access) -> Result<Session<Postgres>, sqlx::Error> {
        Session::open(&self.pool, None, false).await
    }

    fn error(&self, e: sqlx::Error) -> QueueError {
        self.problem(describe(&e))
    }

    fn location(&self) -> String {
        self.shown.to_string()
    }

    fn sender(&self) -> &str {
        &self.sender
    }

    fn receipts<'a>(&'a self, filter: &'a Filter) -> BoxStream<'a, Result<Receipt, sqlx::Error>> {
        statements::receipts_from(&self.pool, filter)
    }

    /// Refreshes the queue's statistics when more than half of its rows changed since the
    /// last `ANALYZE`: without them, after a large first load, the planner chose a claim
    /// that took 35 s at 30,000 rows; autovacuum's own analyze may come a minute later.
    /// Sampled: about 100 ms at a million rows.
    async fn before_pass(&self) -> Result<(), sqlx::Error> {
        let stale: Option<bool> = sqlx::query_scalar(
            "SELECT n_mod_since_analyze > 1000 + n_live_tup / 2
               FROM pg_stat_user_tables WHERE relid = 'deletion_queue'::regclass",
        )
        .fetch_optional(&self.pool)
        .await?;
        if stale == Some(true) {
            sqlx::query("ANALYZE deletion_queue")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// A pool of at most `connections`, connected on first use, whose sessions read times in
/// UTC and ISO form and wait at most `busy_timeout` for a lock (as SQLite's busy timeout).
fn pool(url: &DatabaseUrl, busy_timeout: Duration, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(busy_timeout + Duration::from_secs(5))
        .connect_lazy_with(session(url, busy_timeout))
}

/// How every session of this program is set up: UTC and ISO dates (request records hash
/// the same from any host), warnings only, and locks waited for `busy_timeout` at most.
fn session(url: &DatabaseUrl, busy_timeout: Duration) -> PgConnectOptions {
    let lock_timeout = format!("{}ms", busy_timeout.as_millis().max(1));
    url.connect_options().options([
        ("timezone", "UTC"),
        ("datestyle", "ISO"),
        ("client_min_messages", "warning"),
        ("lock_timeout", lock_timeout.as_str()),
    ])
}

/// Connects once, outside the pool: the pool retries a refused connection until its
/// timeout and then says only that it timed out, where this says why (refused, no route,
/// a TLS failure) at once.
async fn reach(url: &DatabaseUrl, busy_timeout: Duration) -> Result<(), sqlx::Error> {
    let options = session(url, busy_timeout);
    let connect = sqlx::ConnectOptions::connect(&options);
    match tokio::time::timeout(busy_timeout + Duration::from_secs(5), connect).await {
        Ok(connection) => sqlx::Connection::close(connection?).await,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// One line for an operator: the problem, and what fixes it. Never the URL.
fn describe(e: &sqlx::Error) -> String {
    let detail = e.to_string().replace('\n', " ");
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") | Some("28000") => format!(
                "the server refused this role's login ({detail}); check the user and \
                 password in the URL, and pg_hba.conf"
            ),
            Some("3D000") => format!("no such database ({detail}); create it, or fix the URL"),
            Some("42501") => format!(
                "this role lacks a privilege ({detail}); grant it the daemon's privileges \
                 (docs/src/postgresql.md, \"More than one host\")"
            ),
            Some("55P03") | Some("57014") => format!(
                "waited longer than database.busy_timeout for a lock ({detail}); find the \
                 session holding it (pg_stat_activity), or raise database.busy_timeout"
            ),
            Some(code) if code.starts_with("57P") || code.starts_with("08") => format!(
                "the server went away ({detail}); nothing was lost, the daemon retries at \
                 the next pass"
            ),
            _ => detail,
        },
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => format!(
            "cannot reach the server ({detail}); check that it runs, the host and port in \
             the URL, the network, and sslmode"
        ),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection to the server (all \
             busy, or it cannot be reached within database.busy_timeout + 5 s)"
            .into(),
        _ => detail,
    }
}
