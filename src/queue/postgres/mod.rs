//! The queue on PostgreSQL: producers and daemons on several hosts.
//!
//! The same tables, statuses and rules as `sqlite`, in PostgreSQL's SQL. What differs:
//! - Times the daemon writes are `timestamptz`; a producer's `due_at` stays text, read by
//!   the schema's `memories_reaper_due` into the generated column `due` (migration 0001
//!   says why PostgreSQL's own date input must not read it).
//! - Several daemons write at once. A claim takes its rows with `FOR UPDATE SKIP LOCKED`
//!   under a transaction-scoped lock ([`Lock::Claim`], a row of `queue_locks`): two claims in flight at
//!   once could each take a row of the same video (neither sees the other's uncommitted
//!   rows), and the video would be sent twice. Chain entries are appended under another
//!   ([`Lock::Chain`]), taken last in each transaction, after its row updates, so that no
//!   transaction holding it waits for a row: entries are in commit order, and no deadlock.
//! - Every connection's session reads and writes times in UTC and ISO form, so that the
//!   request records the chain vouches for read the same from any host.
//! - Rows are read with `Row::get`, which would panic on a value of another type: here no
//!   producer can store one (PostgreSQL types every column, and only the daemons' role, the
//!   owner, can change a column's type), where SQLite keeps whatever is written.

pub mod chain;
mod holds;
mod report;
mod rules;
mod upkeep;

pub use upkeep::receipts_sql;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Row};

use super::{
    current_schema, inspected, miss_settlement, newer_schema, verified_proof, BatchId, Claim,
    ClaimToken, ClaimedRow, Lead, QueueError, Recorded, RequestRecord, RowsEffect, Started,
    CHECK_BACKOFF_STEPS, HELD_VIDEO,
};
use crate::config::LONGEST_LEASE;
use crate::credentials::DatabaseUrl;
use crate::pass::{Check, Checked, Miss, Settled, Unchecked};
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Outcome, Proof, RowStatus};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The migration (0006, proofs) from which the chain records its anchor in an entry.
const ANCHOR_RECORDED_FROM: i64 = 6;

/// How many ids `insert` writes per statement.
const INSERT_CHUNK: usize = 1000;

/// The most duplicate rows one claim takes along with its ids (as on SQLite).
const MAX_DUPLICATES: i64 = 1000;

/// The daemon's own counters stop here rather than overflow an `integer`.
const MAX_COUNT: i64 = 1_000_000_000;

/// A due pending row, of a table called `q`: its time has come, and it is not waiting to
/// be looked up again.
fn due(q: &str) -> String {
    format!("{q}.due <= now() AND ({q}.recheck_at IS NULL OR {q}.recheck_at <= now())")
}

/// A lease that has run out, or that this program could not have granted.
fn lease_over() -> String {
    format!(
        "(lease_until IS NULL OR lease_until < now()
          OR lease_until > now() + make_interval(secs => {}))",
        LONGEST_LEASE.as_secs()
    )
}

/// The transaction-scoped locks this backend takes: a row each of `queue_locks`, locked
/// `FOR UPDATE` (not advisory locks, which any role, a producer too, could take and hold).
#[derive(Clone, Copy)]
pub(super) enum Lock {
    /// Held by a claim from its first statement to its commit.
    Claim,
    /// Held from a chain entry's head being read to its commit.
    Chain,
}

impl Lock {
    pub(super) async fn take(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let name = match self {
            Self::Claim => "claim",
            Self::Chain => "chain",
        };
        sqlx::query("SELECT 1 FROM queue_locks WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(conn)
            .await
            .map(drop)
    }
}

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
            pool: pool(url, busy_timeout, 8),
            shown: url.shown().into(),
            sender: ClaimToken::new().as_str().into(),
            applied: Arc::default(),
            claims: Arc::default(),
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
                 FROM PUBLIC (README, \"More than one host\")",
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
        };
        queue.no_public_create().await?;
        let applied = queue.migrated().await?;
        newer_schema(&applied, &MIGRATOR).map_err(|problem| queue.problem(problem))?;
        let behind = MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count();
        if behind > 0 {
            queue.pool.close().await;
            return Ok(format!(
                "schema is {behind} migrations behind; `run` or `migrate` applies them"
            ));
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
        let unreadable = queue.unreadable_due().await?;
        let impossible = queue.impossible_leases().await?;
        queue.pool.close().await;
        if !writable {
            return Err(QueueError {
                place: queue.shown.to_string(),
                problem: format!(
                    "schema up to date, {rows} rows, but this role cannot write the queue's \
                     tables: a daemon with it would send nothing; use the daemons' role \
                     (README, \"More than one host\")"
                ),
            });
        }
        Ok(inspected(rows, unreadable, impossible))
    }

    pub fn applied(&self) -> Vec<String> {
        self.applied.to_vec()
    }

    pub fn renamed(&self) -> Self {
        Self {
            sender: ClaimToken::new().as_str().into(),
            ..self.clone()
        }
    }

    pub fn place(&self) -> String {
        self.shown.to_string()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn error(&self, e: impl Into<sqlx::Error>) -> QueueError {
        self.problem(describe(&e.into()))
    }

    fn problem(&self, problem: String) -> QueueError {
        QueueError {
            place: self.shown.to_string(),
            problem,
        }
    }

    async fn migrate(&mut self, create: bool) -> Result<(), QueueError> {
        self.no_public_create().await?;
        let before = self.migrated().await?;
        if !create {
            return current_schema(&before, &MIGRATOR).map_err(|problem| self.problem(problem));
        }
        newer_schema(&before, &MIGRATOR).map_err(|problem| self.problem(problem))?;
        // A current schema is left alone: the migrator would create its own table and
        // take its lock, which a role that may only read (an auditor's) cannot.
        if MIGRATOR.iter().all(|m| before.contains(&m.version)) {
            return Ok(());
        }
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db))
                if db.code().as_deref() == Some("42501") =>
            {
                QueueError {
                    place: self.shown.to_string(),
                    problem: format!(
                        "this role may not create the queue's tables ({db}); run \
                         `memories-reaper migrate` once as the daemons' role, which owns them \
                         (README, \"More than one host\")"
                    ),
                }
            }
            e => self.error(e),
        })?;
        let after = self.migrated().await?;
        self.applied = MIGRATOR
            .iter()
            .filter(|m| after.contains(&m.version) && !before.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        // As on SQLite (there, migration 0012).
        if after.contains(&ANCHOR_RECORDED_FROM) && !before.contains(&ANCHOR_RECORDED_FROM) {
            let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
            chain::record_anchor(&mut tx)
                .await
                .map_err(|e| self.error(e))?;
            tx.commit().await.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    pub(super) async fn migrated(&self) -> Result<Vec<i64>, QueueError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        if !exists {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }

    /// Inserts video numbers as a producer would.
    pub async fn insert(
        &self,
        namespace: &Namespace,
        video_nos: &[VideoNo],
    ) -> Result<u64, QueueError> {
        let mut inserted = 0;
        for chunk in video_nos.chunks(INSERT_CHUNK) {
            let done = sqlx::query(
                "INSERT INTO deletion_queue (video_no, unique_id) SELECT v, $2 FROM unnest($1::text[]) AS v",
            )
            .bind(texts(chunk))
            .bind(namespace.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
            inserted += done.rows_affected();
        }
        Ok(inserted)
    }

    /// PostgreSQL's plan for the claim's query (`EXPLAIN`), one line a step.
    pub async fn explain_claim(&self) -> Result<Vec<String>, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let rows: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", claim_sql()))
            .bind("explain")
            .bind(0.0f64)
            .bind(100i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        tx.rollback().await.map_err(|e| self.error(e))?;
        Ok(rows)
    }

    /// See [`crate::queue::Queue::lead`]; times on the server's clock.
    pub async fn lead(&self, holder: &str, lease: Duration) -> Result<Lead, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(&format!(
            "INSERT INTO sender_lease (id, holder, until)
             VALUES (1, $1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until = excluded.until
              WHERE sender_lease.holder = excluded.holder
                 OR sender_lease.until < clock_timestamp()
                 OR sender_lease.until > clock_timestamp() + make_interval(secs => {})",
            LONGEST_LEASE.as_secs()
        ))
        .bind(holder)
        .bind(lease.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let (now_held_by, remaining): (String, f64) = sqlx::query_as(
            "SELECT holder, extract(epoch FROM until - clock_timestamp())::float8 FROM sender_lease",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Lead::read(holder, now_held_by, remaining))
    }

    /// See [`crate::queue::Queue::resign`].
    pub async fn resign(&self, holder: &str) -> Result<(), QueueError> {
        sqlx::query("UPDATE sender_lease SET until = clock_timestamp() WHERE holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Rows that are due and waiting.
    pub async fn due_pending(&self) -> Result<i64, QueueError> {
        let sql = format!(
            "SELECT count(*) FROM deletion_queue AS q WHERE q.status = 'pending' AND {}",
            due("q")
        );
        sqlx::query_scalar(&sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }

    /// A video refused for good fails every due pending row of it that the claim did not
    /// take along, in chunks of `MAX_DUPLICATES`.
    async fn fail_duplicates(
        &self,
        batch: BatchId,
        video_nos: &[VideoNo],
        reason: &str,
    ) -> Result<u64, QueueError> {
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'failed', proof = '{refused_video}', last_error = $3, batch_id = $1,
                    settled_at = clock_timestamp(),
                    updated_at = now(), refusals = least(refusals + 1, {MAX_COUNT})
              WHERE id IN (
                    SELECT q.id FROM deletion_queue AS q
                     WHERE q.unique_id = (SELECT unique_id FROM deletion_batches WHERE id = $1)
                       AND q.video_no = ANY($2) AND q.status = 'pending' AND {}
                     LIMIT $4 FOR UPDATE SKIP LOCKED)
              RETURNING id, video_no, status, proof",
            due("q"),
            refused_video = Proof::RefusedVideo,
        );
        let namespace = self.batch_namespace(batch).await?;
        let mut failed = 0;
        loop {
            let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
            let done = sqlx::query(&sql)
                .bind(batch.0)
                .bind(texts(video_nos))
                .bind(reason)
                .bind(MAX_DUPLICATES)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            let entry = chain::Entry {
                kind: chain::Kind::Duplicates,
                batch_id: Some(batch.0),
                namespace: &namespace,
                rows: chain::returned(&done),
                code: None,
                msg: Some(reason),
            };
            chain::append(&mut tx, entry)
                .await
                .map_err(|e| self.error(e))?;
            tx.commit().await.map_err(|e| self.error(e))?;
            failed += done.len() as u64;
            if (done.len() as i64) < MAX_DUPLICATES {
                return Ok(failed);
            }
        }
    }

    async fn batch_namespace(&self, batch: BatchId) -> Result<String, QueueError> {
        let namespace: Option<String> =
            sqlx::query_scalar("SELECT unique_id FROM deletion_batches WHERE id = $1")
                .bind(batch.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        Ok(namespace.unwrap_or_default())
    }
}

impl PostgresQueue {
    /// Refreshes the queue's statistics when more than half of its rows changed since the
    /// last `ANALYZE` (at each pass's start): without them, after a large first load, the
    /// planner chose a claim that took 35 s at 30,000 rows; autovacuum's own analyze may
    /// come a minute later. Sampled: about 100 ms at a million rows.
    async fn analyze_if_stale(&self) -> Result<(), QueueError> {
        let stale: Option<bool> = sqlx::query_scalar(
            "SELECT n_mod_since_analyze > 1000 + n_live_tup / 2
               FROM pg_stat_user_tables WHERE relid = 'deletion_queue'::regclass",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        if stale == Some(true) {
            sqlx::query("ANALYZE deletion_queue")
                .execute(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}

/// The pass's side of the queue (`pass::boundary::Store`), as on SQLite.
impl PostgresQueue {
    pub async fn take_back_expired(&self) -> Result<u64, QueueError> {
        self.analyze_if_stale().await?;
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now(),
                    last_error = CASE
                        WHEN lease_until < now()
                            THEN coalesce(last_error, 'lease expired: its holder stopped')
                        ELSE 'lease_until ' || coalesce(lease_until::text, 'NULL')
                             || ' was not granted by memories-reaper (missing, or more than '
                             || '{} s ahead): taken back'
                    END
              WHERE status = 'in_flight' AND {}",
            LONGEST_LEASE.as_secs(),
            lease_over()
        );
        let done = sqlx::query(&sql)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        // Held rows no hold covers any longer go back to pending: a release that ran while
        // a claim was setting them held (PostgreSQL reads each in its own snapshot) left
        // them so.
        sqlx::query(&format!(
            "UPDATE deletion_queue AS q SET status = 'pending', updated_at = now()
              WHERE q.status = 'held' AND NOT {HELD_VIDEO}"
        ))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }

    pub async fn claim(&self, limit: usize, lease: Duration) -> Result<Option<Claim>, QueueError> {
        let token = ClaimToken::new();
        let _turn = self.claims.lock().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        Lock::Claim.take(&mut tx).await.map_err(|e| self.error(e))?;
        let claimed = sqlx::query(&claim_sql())
            .bind(token.as_str())
            .bind(lease.as_secs_f64())
            .bind(limit as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(None);
        }
        let duplicates = format!(
            "UPDATE deletion_queue
                SET status = 'in_flight', claimed_by = $1,
                    lease_until = now() + make_interval(secs => $2), updated_at = now()
              WHERE id IN (
                    SELECT d.id
                      FROM (SELECT DISTINCT unique_id, video_no FROM deletion_queue
                             WHERE claimed_by = $1) AS c
                      JOIN deletion_queue AS d
                        ON d.unique_id = c.unique_id AND d.video_no = c.video_no
                           AND d.status = 'pending'
                     WHERE {}
                     LIMIT $3 FOR UPDATE OF d SKIP LOCKED)",
            due("d")
        );
        sqlx::query(&duplicates)
            .bind(token.as_str())
            .bind(lease.as_secs_f64())
            .bind(MAX_DUPLICATES)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        // A video under a legal hold is not sent: its rows wait `held` until the release.
        // The claim's one namespace, read before held rows leave it.
        let namespace: Option<String> = sqlx::query_scalar(
            "SELECT unique_id FROM deletion_queue WHERE claimed_by = $1 LIMIT 1",
        )
        .bind(token.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let held = sqlx::query(&held_sql())
            .bind(token.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?
            .rows_affected();
        // A video queued again after this database saw it deleted is settled from that
        // deletion, not sent; only from a deletion the chain records (as on SQLite).
        let chained = format!(
            "EXISTS (SELECT 1 FROM settlement_chain AS c
                      WHERE c.batch_id = d.batch_id AND c.kind = '{answer}'
                        AND c.namespace = d.unique_id
                        AND strpos(c.rows, '[' || d.id::text || ',' || to_json(d.video_no)::text
                                           || ',\"deleted\"') > 0)",
            answer = chain::Kind::Answer.as_str()
        );
        let settled = sqlx::query(&format!(
            "UPDATE deletion_queue AS q
                SET status = 'deleted', proof = '{history}', last_error = NULL,
                    claimed_by = NULL, lease_until = NULL,
                    settled_at = clock_timestamp(), updated_at = now(),
                    batch_id = (SELECT d.batch_id FROM deletion_queue AS d
                                 WHERE d.unique_id = q.unique_id AND d.video_no = q.video_no
                                   AND d.status = 'deleted' AND {chained} LIMIT 1)
              WHERE q.claimed_by = $1
                AND EXISTS (SELECT 1 FROM deletion_queue AS d
                             WHERE d.unique_id = q.unique_id AND d.video_no = q.video_no
                               AND d.status = 'deleted' AND {chained})
              RETURNING id, video_no, status, proof, unique_id",
            history = Proof::History,
        ))
        .bind(token.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let settled_before = settled.len() as u64;
        let rows = sqlx::query(
            "SELECT id, video_no, unique_id, refusals, in_doubt, missed_at
               FROM deletion_queue WHERE claimed_by = $1 ORDER BY id",
        )
        .bind(token.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        chain::append_settled(&mut tx, chain::Kind::History, &settled)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        let rows = rows
            .iter()
            .map(|row| ClaimedRow {
                id: row.get("id"),
                video_no: Some(row.get("video_no")),
                refusals: row.get::<i32, _>("refusals").into(),
                in_doubt: row.get::<i32, _>("in_doubt") != 0,
                first_missed: row.get("missed_at"),
            })
            .collect();
        Ok(Some(Claim {
            token,
            namespace,
            rows,
            settled_before,
            held,
        }))
    }

    pub async fn renew(&self, token: &ClaimToken, lease: Duration) -> Result<(), QueueError> {
        renewal(&self.pool, token, lease)
            .await
            .map_err(|e| self.error(e))
    }

    pub async fn record_lookup(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        listed: &[VideoNo],
        missing: &[(VideoNo, Miss)],
        absent_after: Duration,
    ) -> Result<Settled, QueueError> {
        let now = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string();
        let ids = |miss: Miss| -> Vec<String> {
            missing
                .iter()
                .filter(|(_, m)| *m == miss)
                .map(|(id, _)| id.as_str().to_owned())
                .collect()
        };
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        if !listed.is_empty() {
            sqlx::query(
                "UPDATE deletion_queue
                    SET listed_at = now(), missed_at = NULL, recheck_at = NULL, updated_at = now()
                  WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)",
            )
            .bind(token.as_str())
            .bind(texts(listed))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        }
        // As on SQLite: a miss verifies a deletion only of a video listed before.
        let mut rows = Vec::new();
        for miss in [Miss::Deleted, Miss::Absent, Miss::NoNamespace] {
            let (Some(settlement), video_nos) = (miss_settlement(miss, "now()"), ids(miss)) else {
                continue;
            };
            if video_nos.is_empty() {
                continue;
            }
            let settled = sqlx::query(&format!(
                "UPDATE deletion_queue
                    SET {settlement}, last_error = $3,
                        settled_at = clock_timestamp(), updated_at = now(),
                        claimed_by = NULL, lease_until = NULL, recheck_at = NULL, check_at = NULL
                  WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)
                  RETURNING id, video_no, status, proof"
            ))
            .bind(token.as_str())
            .bind(video_nos)
            .bind(miss.note(namespace, &now, absent_after))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            rows.extend(chain::returned(&settled));
        }
        sqlx::query(
            "UPDATE deletion_queue
                SET status = 'pending', last_error = $3, updated_at = now(),
                    claimed_by = NULL, lease_until = NULL, listed_at = NULL,
                    missed_at = coalesce(missed_at, now()),
                    recheck_at = now() + make_interval(secs => $4)
              WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)",
        )
        .bind(token.as_str())
        .bind(ids(Miss::LookAgain))
        .bind(Miss::LookAgain.note(namespace, &now, absent_after))
        .bind(absent_after.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let settled = Settled::of(&rows);
        let entry = chain::Entry::without_request(chain::Kind::Lookup, namespace.as_str(), rows);
        chain::append(&mut tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(settled)
    }

    pub async fn claim_unchecked(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Option<Unchecked>, QueueError> {
        // The claim is the pushed `check_at`, as on SQLite.
        let rows = sqlx::query(
            "UPDATE deletion_queue SET check_at = now() + make_interval(secs => $1)
              WHERE id IN (
                    SELECT c.id FROM deletion_queue AS c
                     WHERE c.check_at IS NOT NULL AND c.status = 'deleted' AND c.check_at <= now()
                       AND c.unique_id = (
                           SELECT f.unique_id FROM deletion_queue AS f
                            WHERE f.check_at IS NOT NULL AND f.status = 'deleted'
                              AND f.check_at <= now()
                            ORDER BY f.check_at LIMIT 1)
                     ORDER BY c.check_at LIMIT $2 FOR UPDATE SKIP LOCKED)
              RETURNING id, video_no, unique_id",
        )
        .bind(lease.as_secs_f64())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Unchecked {
            namespace: Some(first.get("unique_id")),
            rows: rows
                .iter()
                .map(|row| (row.get("id"), Some(row.get("video_no"))))
                .collect(),
        }))
    }

    pub async fn record_check(
        &self,
        namespace: &Namespace,
        rows: &[(i64, Check)],
        rounds: u32,
    ) -> Result<Checked, QueueError> {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
        let of = |wanted: fn(&Check) -> bool| -> Vec<i64> {
            rows.iter()
                .filter(|(_, c)| wanted(c))
                .map(|(r, _)| *r)
                .collect()
        };
        let later = rows.iter().find_map(|(_, c)| match c {
            Check::Later(after) => Some(after.as_secs_f64()),
            _ => None,
        });
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let verified = sqlx::query(&format!(
            "UPDATE deletion_queue SET check_at = NULL, updated_at = now(), {}
              WHERE id = ANY($1) AND status = 'deleted'
              RETURNING id, video_no, status, proof",
            verified_proof("now()")
        ))
        .bind(of(|c| *c == Check::Gone))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let mut rows = chain::returned(&verified);
        let mut postponed = 0;
        if let Some(later) = later {
            postponed = sqlx::query(
                "UPDATE deletion_queue SET check_at = now() + make_interval(secs => $2)
                  WHERE id = ANY($1) AND status = 'deleted'",
            )
            .bind(of(|c| matches!(c, Check::Later(_))))
            .bind(later)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?
            .rows_affected();
        }
        sqlx::query(
            "UPDATE deletion_queue SET check_at = NULL, updated_at = now()
              WHERE id = ANY($1) AND status = 'deleted'",
        )
        .bind(of(|c| *c == Check::Unknowable))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        // Still listed: sent again (in doubt), or failed after `rounds` such rounds.
        let relisted = format!(
            "UPDATE deletion_queue
                SET relisted = least(relisted + 1, {MAX_COUNT}), check_at = NULL, updated_at = now(),
                    status = CASE WHEN relisted + 1 >= {rounds} THEN 'failed' ELSE 'pending' END,
                    proof = CASE WHEN relisted + 1 >= {rounds} THEN '{still}' END,
                    settled_at = CASE WHEN relisted + 1 >= {rounds} THEN clock_timestamp() END,
                    in_doubt = 1, checked_at = NULL, claimed_by = NULL, lease_until = NULL,
                    last_error = $2 || CASE WHEN relisted + 1 >= {rounds}
                                            THEN ' (' || (relisted + 1) || ' times): failed'
                                            ELSE ' (round ' || (relisted + 1) || ' of ' || {rounds} || '): sent again' END
              WHERE id = ANY($1) AND status = 'deleted'
              RETURNING id, video_no, status, proof",
            still = Proof::StillListed
        );
        let relisted = sqlx::query(&relisted)
            .bind(of(|c| *c == Check::Listed))
            .bind(format!(
                "the API accepted the deletion but still listed the video in namespace {namespace} at {now}"
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        rows.extend(chain::returned(&relisted));
        let checked = Checked::of(postponed, &rows);
        let entry = chain::Entry::without_request(chain::Kind::Check, namespace.as_str(), rows);
        chain::append(&mut tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(checked)
    }

    pub async fn fail_unsent(
        &self,
        token: &ClaimToken,
        failures: &[(i64, String)],
    ) -> Result<(), QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let mut failed = Vec::new();
        for (id, reason) in failures {
            let row = sqlx::query(&format!(
                "UPDATE deletion_queue
                    SET status = 'failed', proof = '{}', last_error = $3,
                        settled_at = clock_timestamp(), updated_at = now(),
                        claimed_by = NULL, lease_until = NULL
                  WHERE id = $2 AND claimed_by = $1
                  RETURNING id, video_no, status, proof, unique_id",
                Proof::Invalid
            ))
            .bind(token.as_str())
            .bind(id)
            .bind(reason)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            failed.extend(row);
        }
        chain::append_settled(&mut tx, chain::Kind::Unsent, &failed)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))
    }

    pub async fn others_requests(&self) -> Result<Vec<Recorded>, QueueError> {
        // Times on the server's clock, for every daemon alike.
        let rows: Vec<(i64, f64)> = sqlx::query_as(
            "SELECT id, extract(epoch FROM clock_timestamp() - started_at)::float8
               FROM deletion_batches
              WHERE started_at > clock_timestamp() - interval '2 seconds'
                AND sender IS DISTINCT FROM $1
              ORDER BY started_at DESC LIMIT 100",
        )
        .bind(self.sender.as_ref())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, s)| {
                let ago = Duration::try_from_secs_f64(s.max(0.0)).ok()?;
                Some(Recorded { id, ago })
            })
            .collect())
    }

    pub async fn answered_well_within(&self, within: Duration) -> Result<bool, QueueError> {
        let good: Option<bool> = sqlx::query_scalar(
            "SELECT outcome = $1 AND finished_at >= now() - make_interval(secs => $2)
               FROM deletion_batches WHERE outcome <> 'sending' ORDER BY id DESC LIMIT 1",
        )
        .bind(Outcome::Deleted.as_str())
        .bind(within.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(good == Some(true))
    }

    pub async fn start_request(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        video_nos: &[VideoNo],
        attempt: u32,
        lease: Duration,
    ) -> Result<Started, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // A hold placed since the claim wins: checked in the transaction that records the
        // request, so no hold committed before it lets the request go.
        let held = sqlx::query(&format!("{} AND q.video_no = ANY($2)", held_sql()))
            .bind(token.as_str())
            .bind(texts(video_nos))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?
            .rows_affected();
        if held > 0 {
            tx.commit().await.map_err(|e| self.error(e))?;
            return Ok(Started::Held(held));
        }
        // The claim must still hold every id (and keep holding them: the rows are locked
        // until the commit, so a take-back waits for it).
        let held: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT video_no) FROM (
                 SELECT video_no FROM deletion_queue
                  WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)
                  FOR UPDATE) AS h",
        )
        .bind(token.as_str())
        .bind(texts(video_nos))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        if usize::try_from(held).ok() != Some(video_nos.len()) {
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(Started::Lost);
        }
        let sent = sqlx::query(&format!(
            "UPDATE deletion_queue
                SET attempts = least(attempts + 1, {MAX_COUNT}), updated_at = now(),
                    in_doubt = in_doubt | 2
              WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)
              RETURNING id, video_no, status"
        ))
        .bind(token.as_str())
        .bind(texts(video_nos))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        renewal(&mut *tx, token, lease)
            .await
            .map_err(|e| self.error(e))?;
        // Other daemons count this request from its `started_at` (the server's clock,
        // stamped as late as the transaction allows).
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deletion_batches (unique_id, ids_count, attempt, sender, started_at)
             VALUES ($1, $2, $3, $4, clock_timestamp()) RETURNING id",
        )
        .bind(namespace.as_str())
        .bind(video_nos.len() as i32)
        .bind(attempt as i32)
        .bind(self.sender.as_ref())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let entry = chain::Entry::naming(
            chain::Kind::Request,
            id,
            namespace.as_str(),
            chain::returned(&sent),
        );
        chain::append(&mut tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Started::Request(BatchId(id)))
    }

    pub async fn finish_request(
        &self,
        token: &ClaimToken,
        batch: BatchId,
        video_nos: &[VideoNo],
        record: &RequestRecord,
        effect: &RowsEffect,
    ) -> Result<u64, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let namespace: String = sqlx::query_scalar(
            "UPDATE deletion_batches
                SET outcome = $2, http_status = $3, api_code = $4, api_msg = $5, error = $6,
                    duration_ms = $7, finished_at = clock_timestamp()
              WHERE id = $1 RETURNING unique_id",
        )
        .bind(batch.0)
        .bind(record.outcome.as_str())
        .bind(record.http_status.map(i32::from))
        .bind(&record.api_code)
        .bind(&record.api_msg)
        .bind(&record.error)
        .bind(record.duration.as_millis() as i64)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let (status, note, refused) = match effect {
            RowsEffect::Deleted { .. } => (RowStatus::Deleted, None, false),
            RowsEffect::Failed(reason) => (RowStatus::Failed, Some(reason), true),
            RowsEffect::Held { note, refused } => (RowStatus::InFlight, Some(note), *refused),
        };
        let check_after = match effect {
            RowsEffect::Deleted {
                check_after: Some(after),
            } => Some(after.as_secs_f64()),
            _ => None,
        };
        let lost = record.api_code.is_none() && record.outcome != Outcome::Deleted;
        let changed = sqlx::query(&format!(
            "UPDATE deletion_queue
                SET status = $3, last_error = $4, updated_at = now(),
                    refusals = CASE WHEN $6 THEN least(refusals + 1, {MAX_COUNT}) ELSE refusals END,
                    batch_id = CASE WHEN $3 = 'in_flight' THEN batch_id ELSE $5 END,
                    settled_at = CASE WHEN $3 = 'in_flight' THEN NULL ELSE clock_timestamp() END,
                    claimed_by = CASE WHEN $3 = 'in_flight' THEN claimed_by END,
                    lease_until = CASE WHEN $3 = 'in_flight' THEN lease_until END,
                    in_doubt = CASE WHEN $7 THEN 1 ELSE in_doubt & 1 END,
                    proof = {proof},
                    check_at = CASE WHEN $3 = 'deleted' AND $8::float8 IS NOT NULL
                                    THEN now() + make_interval(secs => $8::float8
                                        * power(4, least(relisted, {CHECK_BACKOFF_STEPS}))) END
              WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)
              RETURNING id, video_no, status, proof",
            proof = super::answer_proof(effect, record),
        ))
        .bind(token.as_str())
        .bind(texts(video_nos))
        .bind(status.as_str())
        .bind(note)
        .bind(batch.0)
        .bind(refused)
        .bind(lost)
        .bind(check_after)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let entry = chain::Entry {
            kind: chain::Kind::Answer,
            batch_id: Some(batch.0),
            namespace: &namespace,
            rows: match status {
                RowStatus::InFlight => Vec::new(),
                _ => chain::returned(&changed),
            },
            code: record.api_code.as_deref(),
            msg: record.api_msg.as_deref(),
        };
        chain::append(&mut tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        let mut changed = changed.len() as u64;
        if let RowsEffect::Failed(reason) = effect {
            changed += self.fail_duplicates(batch, video_nos, reason).await?;
        }
        Ok(changed)
    }

    pub async fn release(
        &self,
        token: &ClaimToken,
        last_error: Option<&str>,
    ) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE deletion_queue
                SET status = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now(),
                    last_error = coalesce($2, last_error)
              WHERE claimed_by = $1 AND status = 'in_flight'",
        )
        .bind(token.as_str())
        .bind(last_error)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }
}

/// The claim: the oldest due pending rows of the namespace of the oldest one, at most $3,
/// to `in_flight` under the token $1 with a lease of $2 seconds. A row whose video another
/// claim is sending is left alone (it would be deleted twice); the claim lock makes that
/// check see every other claim's rows.
fn claim_sql() -> String {
    let free = |row: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM deletion_queue AS busy
                          WHERE busy.unique_id = {row}.unique_id AND busy.video_no = {row}.video_no
                            AND busy.status = 'in_flight')"
        )
    };
    format!(
        "UPDATE deletion_queue
            SET status = 'in_flight', claimed_by = $1,
                lease_until = now() + make_interval(secs => $2), updated_at = now()
          WHERE id IN (
                SELECT q.id FROM deletion_queue AS q
                 WHERE q.status = 'pending' AND {due_q} AND {free_q}
                   AND q.unique_id = (SELECT p.unique_id FROM deletion_queue AS p
                                       WHERE p.status = 'pending' AND {due_p} AND {free_p}
                                       ORDER BY p.id LIMIT 1)
                 ORDER BY q.id LIMIT $3 FOR UPDATE SKIP LOCKED)",
        free_q = free("q"),
        free_p = free("p"),
        due_q = due("q"),
        due_p = due("p"),
    )
}

/// Extends the lease of every row a claim holds.
async fn renewal<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    token: &ClaimToken,
    lease: Duration,
) -> Result<(), sqlx::Error> {
    // Rows another transaction holds locked are skipped: the claim's guard renews on its
    // own timer while the worker's transaction (recording a request, which renews the
    // whole claim itself) holds some of the same rows; each waiting on the other's rows,
    // in another order, was a deadlock that stopped the pass (seen under load). A skipped
    // row is renewed by that transaction, or at the next renewal, a third of a lease on.
    sqlx::query(
        "UPDATE deletion_queue SET lease_until = now() + make_interval(secs => $2)
          WHERE id IN (SELECT id FROM deletion_queue
                        WHERE claimed_by = $1 AND status = 'in_flight'
                        FOR UPDATE SKIP LOCKED)",
    )
    .bind(token.as_str())
    .bind(lease.as_secs_f64())
    .execute(conn)
    .await
    .map(drop)
}

/// Sets the rows claim `$1` holds of videos under a legal hold `held`, giving them up.
fn held_sql() -> String {
    format!(
        "UPDATE deletion_queue AS q
            SET status = 'held', claimed_by = NULL, lease_until = NULL, updated_at = now()
          WHERE q.claimed_by = $1 AND q.status = 'in_flight' AND {HELD_VIDEO}"
    )
}

fn texts(video_nos: &[VideoNo]) -> Vec<String> {
    video_nos.iter().map(|v| v.as_str().to_owned()).collect()
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
                 (README, \"More than one host\")"
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
