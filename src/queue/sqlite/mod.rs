//! The queue on SQLite (the default backend): one file on the daemon's host.
//!
//! Producers insert into `deletion_queue` directly; this module claims due rows under a
//! lease, records every request in `deletion_batches`, and settles rows. Every function is
//! one short write transaction (or a single statement) and none is open across an HTTP
//! call: SQLite has one writer, and producers must be able to insert while a pass runs.
//!
//! A row leaves `in_flight` only through `finish_request` (a recorded outcome),
//! `fail_unsent`, the claim's settlement from an earlier deletion of its video, `release`
//! (the claim's guard: worked out, shutdown, a stopped pass), `take_back_expired` (its
//! holder stopped renewing the lease), or migration 0005 (a due_at it could not read).

pub mod chain;
pub mod receipts;

pub use upkeep::Pruned;
mod holds;
pub mod report;
mod rules;
mod upkeep;

use super::{
    current_schema, inspected, miss_settlement, newer_schema, verified_proof, BatchId, Claim,
    ClaimToken, ClaimedRow, Lead, QueueError, Recorded, RequestRecord, RowsEffect, Started,
    CHECK_BACKOFF_STEPS, HELD_VIDEO,
};

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool};

use crate::config::LONGEST_LEASE;
use crate::pass::{Check, Checked, Miss, Settled, Store, Unchecked};
use crate::printable;
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Outcome, Proof, RowStatus};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The migration (0012, proofs) from which the chain records its anchor in an entry.
const ANCHOR_RECORDED_FROM: i64 = 12;

/// How many ids `insert` writes per transaction: big enough to be fast, small enough that
/// a producer's insert never waits long behind it.
const INSERT_CHUNK: usize = 1000;

/// The most duplicate rows one claim takes along with its ids. Without a bound, a claim's
/// transaction grew with what producers put in the queue (10,000 rows of one video held
/// the write lock for 15 s); the rest are settled by later claims from the deletion.
const MAX_DUPLICATES: usize = 1000;

/// The daemon's own counters (`attempts`, `refusals`) stop here rather than overflow
/// SQLite's integers into REAL.
const MAX_COUNT: i64 = 1_000_000_000;

/// A row is due when its `due_at` is a time at or before now, and it is not waiting to be
/// looked up again (`recheck_at`, `pass::verify`). Compared as times, not as text: a value
/// SQLite cannot read is NULL here, so it is never due (the schema refuses such values
/// since migration 0005; this holds even if a producer got one past it). A value must also
/// start like a date (`YYYY-`): `julianday('2099')` reads a bare number as a Julian day
/// number, in 4707 BC.
const DUE: &str = "substr(due_at, 5, 1) = '-' AND julianday(due_at) <= julianday('now')
    AND (recheck_at IS NULL OR julianday(recheck_at) <= julianday('now'))";
/// The same, of a table called `d`.
const DUE_D: &str = "substr(d.due_at, 5, 1) = '-' AND julianday(d.due_at) <= julianday('now')
    AND (d.recheck_at IS NULL OR julianday(d.recheck_at) <= julianday('now'))";

/// How migration 0005 begins the `last_error` of the waiting rows it failed because their
/// `due_at` could not be read (a LIKE pattern).
const UNREADABLE_DUE_MARK: &str = "unreadable due_at %";

/// Counts the rows whose `due_at` could not be read as a time: waiting ones (never due),
/// and those migration 0005 failed.
const COUNT_UNREADABLE_DUE: &str = "SELECT count(*) FROM deletion_queue
    WHERE (status IN ('pending', 'in_flight')
           AND (julianday(due_at) IS NULL OR substr(due_at, 5, 1) IS NOT '-'))
       OR (status = 'failed' AND last_error LIKE 'unreadable due_at %')";

/// A lease that has run out, or that this program could not have granted: one that
/// cannot be read (NULL included), or ends further away than [`LONGEST_LEASE`]. Held to
/// no bound, a producer's `lease_until` of NULL or 9999 held a row for ever, silently.
fn lease_over() -> String {
    format!(
        "coalesce(julianday(lease_until) NOT BETWEEN julianday('now')
                  AND julianday('now', '+{} seconds'), 1)",
        LONGEST_LEASE.as_secs()
    )
}

/// Counts the rows in flight under a lease this program could not have granted.
fn count_impossible_leases() -> String {
    format!(
        "SELECT count(*) FROM deletion_queue WHERE status = 'in_flight'
            AND coalesce(julianday(lease_until) > julianday('now', '+{} seconds'), 1)",
        LONGEST_LEASE.as_secs()
    )
}

/// Row timestamps: UTC, in SQLite's own text format, so they compare as text.
const NOW: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

#[derive(Debug, Clone)]
pub struct SqliteQueue {
    pool: SqlitePool,
    path: PathBuf,
    /// Writers of this process take turns here, in order, rather than in SQLite's busy
    /// handler, which sleeps and retries and can starve a writer past the busy timeout
    /// when many workers write at once. Other processes still meet the busy timeout.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// This process, as `deletion_batches.sender` records it.
    sender: Arc<str>,
    /// What `migrate` applied at open.
    applied: Arc<[String]>,
}

impl SqliteQueue {
    /// Opens (creating the file and its directory if need be) and, when `migrate`,
    /// migrates the database; without, a schema that is not current is an error.
    pub async fn open(
        path: &Path,
        busy_timeout: Duration,
        migrate: bool,
    ) -> Result<Self, QueueError> {
        let fail = |problem: String| QueueError {
            place: printable::path(path),
            problem,
        };
        not_a_special_file(path).map_err(fail)?;
        not_root_in_anothers_folder(path).map_err(fail)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                fail(format!(
                    "cannot create its directory {}: {e}; create it or set database.path",
                    printable::path(dir)
                ))
            })?;
        }
        // SQLite would create the file 0644 (less the umask): not writable by the group
        // producers belong to. Created here 0660 (less the umask), its -wal and -shm files
        // follow, since SQLite gives them the database file's mode.
        // The handle is closed at once: closing a file SQLite has open would drop SQLite's
        // POSIX locks on it, and another process would then think it the last user and
        // delete the -wal file under our feet.
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o660)
            .open(path)
            .map(drop);
        match created {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(fail(format!(
                    "cannot create it: {e}; check the directory's permissions"
                )))
            }
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The record of a deletion must survive a power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .after_release(|conn, _| Box::pin(async move { outside_transaction(conn).await }))
            .max_connections(4)
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| fail(describe_open(&e, path)))?;
        let mut queue = Self {
            pool,
            path: path.to_owned(),
            writer: Arc::default(),
            sender: ClaimToken::new().0.into(),
            applied: Arc::default(),
        };
        if migrate {
            queue.migrate().await?;
        } else {
            let applied = queue.migrated().await?;
            current_schema(&applied, &MIGRATOR).map_err(|problem| QueueError {
                place: queue.place(),
                problem,
            })?;
        }
        Ok(queue)
    }

    /// The migrations this process applied when it opened the database ("0005 strict
    /// due at"), oldest first; empty when the schema was already current.
    pub fn applied(&self) -> Vec<String> {
        self.applied.to_vec()
    }

    /// Opens an existing database without changing it, for `check`: whether its schema is
    /// current, how many rows it holds, and whether this user can write to it.
    pub async fn inspect(path: &Path, busy_timeout: Duration) -> Result<String, QueueError> {
        if !path.exists() {
            return Ok("does not exist yet; `run` or `migrate` creates it".into());
        }
        not_a_special_file(path).map_err(|problem| QueueError {
            place: printable::path(path),
            problem,
        })?;
        let fail = |e: sqlx::Error| QueueError {
            place: printable::path(path),
            problem: describe(&e),
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(busy_timeout);
        let mut conn = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(fail)?;
        let applied: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(fail)?;
        let applied: Vec<i64> = if applied == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut conn)
                .await
                .map_err(fail)?
        };
        newer_schema(&applied, &MIGRATOR).map_err(|problem| QueueError {
            place: printable::path(path),
            problem,
        })?;
        let behind = MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count();
        if behind > 0 {
            return Ok(format!(
                "schema is {behind} migrations behind; `run` or `migrate` applies them"
            ));
        }
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_queue")
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?;
        let unreadable: i64 = sqlx::query_scalar(COUNT_UNREADABLE_DUE)
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?;
        let impossible: i64 = sqlx::query_scalar(&count_impossible_leases())
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?;
        // Taking the write lock and letting it go shows that this user may write.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        sqlx::query("ROLLBACK")
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        Ok(inspected(rows, unreadable, impossible))
    }

    /// The same queue under a new sender name (`deletion_batches.sender`): requests sent
    /// under the old name then count as another process's.
    pub fn renamed(&self) -> Self {
        Self {
            sender: ClaimToken::new().0.into(),
            ..self.clone()
        }
    }

    pub fn place(&self) -> String {
        printable::path(&self.path)
    }

    fn error(&self, e: impl Into<sqlx::Error>) -> QueueError {
        let e = e.into();
        // SQLite says only "readonly" whether the file or the whole file system is: ask
        // the file system, without touching the database file (closing a handle of ours
        // on it would drop SQLite's locks).
        let problem = if sqlite_code(&e) == Some(8) && on_read_only_fs(&self.path) {
            read_only_fs()
        } else {
            describe(&e)
        };
        QueueError {
            place: printable::path(&self.path),
            problem,
        }
    }

    async fn migrate(&mut self) -> Result<(), QueueError> {
        let before = self.migrated().await?;
        newer_schema(&before, &MIGRATOR).map_err(|problem| QueueError {
            place: self.place(),
            problem,
        })?;
        // SQLite has no migration lock in sqlx: when two processes migrate a new file at
        // once, the loser fails on a table the winner just made. Running again then finds
        // the migration applied.
        if MIGRATOR.run(&self.pool).await.is_err() {
            MIGRATOR.run(&self.pool).await.map_err(|e| self.error(e))?;
        }
        let after = self.migrated().await?;
        self.applied = MIGRATOR
            .iter()
            .filter(|m| after.contains(&m.version) && !before.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        // From the proofs' migration on, the chain records where it starts.
        if after.contains(&ANCHOR_RECORDED_FROM) && !before.contains(&ANCHOR_RECORDED_FROM) {
            let _turn = self.write_turn().await;
            let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
            chain::record_anchor(&mut tx)
                .await
                .map_err(|e| self.error(e))?;
            tx.commit().await.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// The versions of the migrations applied to the database so far.
    pub(super) async fn migrated(&self) -> Result<Vec<i64>, QueueError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }

    /// This process's turn to write; see `writer`.
    async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Inserts video numbers as a producer would, in transactions of about a thousand.
    pub async fn insert(
        &self,
        namespace: &Namespace,
        video_nos: &[VideoNo],
    ) -> Result<u64, QueueError> {
        let mut inserted = 0;
        for chunk in video_nos.chunks(INSERT_CHUNK) {
            let _turn = self.write_turn().await;
            // One statement a chunk: a statement a row costs a round trip to SQLite's
            // thread each.
            let done = sqlx::query(
                "INSERT INTO deletion_queue (video_no, unique_id)
                 SELECT value, ?2 FROM json_each(?1)",
            )
            .bind(json_list(chunk))
            .bind(namespace.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
            inserted += done.rows_affected();
        }
        Ok(inserted)
    }

    /// A video refused for good fails every due pending row of it that the claim did not
    /// take along (more than `MAX_DUPLICATES`), so that all its rows end alike and none is
    /// sent again. In transactions of `MAX_DUPLICATES` rows: producers wait for none long.
    async fn fail_duplicates(
        &self,
        batch: BatchId,
        video_nos: &[VideoNo],
        reason: &str,
    ) -> Result<u64, QueueError> {
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'failed', proof = '{refused_video}', last_error = ?3, batch_id = ?1,
                    settled_at = {NOW}, updated_at = {NOW},
                    refusals = min(refusals + 1, {MAX_COUNT})
              WHERE id IN (
                    SELECT d.id FROM json_each(?2) AS j
                      JOIN deletion_queue AS d INDEXED BY deletion_queue_video
                        ON d.unique_id = (SELECT unique_id FROM deletion_batches WHERE id = ?1)
                           AND d.video_no = j.value AND d.status = 'pending'
                     WHERE {DUE_D}
                     LIMIT ?4)
              RETURNING id, video_no, status, proof",
            refused_video = Proof::RefusedVideo,
        );
        let mut failed = 0;
        loop {
            let _turn = self.write_turn().await;
            let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
            let done = sqlx::query(&sql)
                .bind(batch.0)
                .bind(json_list(video_nos))
                .bind(reason)
                .bind(MAX_DUPLICATES as i64)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            let entry = chain::Entry {
                kind: chain::Kind::Duplicates,
                batch_id: Some(batch.0),
                namespace: &self.batch_namespace(&mut tx, batch).await?,
                rows: chain::returned(&done),
                code: None,
                msg: Some(reason),
            };
            chain::append(&mut tx, entry)
                .await
                .map_err(|e| self.error(e))?;
            tx.commit().await.map_err(|e| self.error(e))?;
            failed += done.len() as u64;
            if done.len() < MAX_DUPLICATES {
                return Ok(failed);
            }
        }
    }

    /// The namespace a request was sent to, as recorded.
    async fn batch_namespace(
        &self,
        conn: &mut sqlx::SqliteConnection,
        batch: BatchId,
    ) -> Result<String, QueueError> {
        let namespace: Option<String> =
            sqlx::query_scalar("SELECT unique_id FROM deletion_batches WHERE id = ?1")
                .bind(batch.0)
                .fetch_optional(conn)
                .await
                .map_err(|e| self.error(e))?;
        Ok(namespace.unwrap_or_default())
    }

    /// SQLite's plan for the claim's query, one line per step: it must use the indexes, so
    /// that a claim costs the same at ten thousand pending rows and at a million.
    pub async fn explain_claim(&self) -> Result<Vec<String>, QueueError> {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", claim_sql()))
            .bind("explain")
            .bind("+0 seconds")
            .bind(100)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap_or_default())
            .collect())
    }

    /// See [`super::Queue::lead`]. A lease this program could not have granted (unreadable,
    /// or further ahead than `LONGEST_LEASE`) is taken over like one run out.
    pub async fn lead(&self, holder: &str, lease: Duration) -> Result<Lead, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(&format!(
            "INSERT INTO sender_lease (id, holder, until)
             VALUES (1, ?1, strftime('%Y-%m-%d %H:%M:%f', 'now', ?2))
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until = excluded.until
              WHERE sender_lease.holder = excluded.holder
                 OR coalesce(julianday(sender_lease.until) < julianday('now'), 1)
                 OR julianday(sender_lease.until) > julianday('now', '+{} seconds')",
            LONGEST_LEASE.as_secs()
        ))
        .bind(holder)
        .bind(seconds_from_now(lease))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let (now_held_by, remaining): (String, Option<f64>) = sqlx::query_as(
            "SELECT holder, (julianday(until) - julianday('now')) * 86400.0 FROM sender_lease",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Lead::read(holder, now_held_by, remaining.unwrap_or(0.0)))
    }

    /// See [`super::Queue::resign`].
    pub async fn resign(&self, holder: &str) -> Result<(), QueueError> {
        let _turn = self.write_turn().await;
        sqlx::query(&format!(
            "UPDATE sender_lease SET until = {NOW} WHERE holder = ?1"
        ))
        .bind(holder)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.error(e))
    }

    /// Rows that are due and waiting: what `run --once` must leave at zero to succeed.
    pub async fn due_pending(&self) -> Result<i64, QueueError> {
        let sql = format!("SELECT count(*) FROM deletion_queue WHERE status = 'pending' AND {DUE}");
        sqlx::query_scalar(&sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.error(e))
    }
}

/// The pass's side of the queue (`pass::boundary::Store`).
impl Store for SqliteQueue {
    /// Puts back to `pending` the rows whose lease ran out (their holder died or hung), or
    /// could not have been granted.
    async fn take_back_expired(&self) -> Result<u64, QueueError> {
        let _turn = self.write_turn().await;
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = {NOW},
                    last_error = CASE
                        WHEN julianday(lease_until) < julianday('now')
                            THEN coalesce(last_error, 'lease expired: its holder stopped')
                        ELSE 'lease_until ' || substr(quote(lease_until), 1, 80)
                             || ' was not granted by memories-reaper (unreadable, or more than '
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
            "UPDATE deletion_queue AS q SET status = 'pending', updated_at = {NOW}
              WHERE q.status = 'held' AND NOT {HELD_VIDEO}"
        ))
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }

    /// Claims the oldest due rows of one namespace, at most `limit` of them, plus every due
    /// duplicate of their video numbers, under a lease of `lease`.
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Option<Claim>, QueueError> {
        let token = ClaimToken::new();
        let lease = seconds_from_now(lease);
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let claimed = sqlx::query(&claim_sql())
            .bind(token.as_str())
            .bind(&lease)
            .bind(limit as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        // The claim's one namespace, read before held rows leave it: a claim of held rows
        // only still names it. Producers write it: not valid text is `None`, reported by
        // the pass, not decoded here with a panic.
        let namespace = sqlx::query(
            "SELECT unique_id FROM deletion_queue INDEXED BY deletion_queue_claim
              WHERE claimed_by = ?1 LIMIT 1",
        )
        .bind(token.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .and_then(|row| row.try_get::<String, _>("unique_id").ok());
        // Their due duplicates, at most MAX_DUPLICATES of them: driven from the distinct
        // videos claimed, each found through the index. More rows of a video than that
        // stay pending; once it is deleted, a later claim settles them from that deletion.
        let duplicates = format!(
            "UPDATE deletion_queue
                SET status = 'in_flight', claimed_by = ?1, lease_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2),
                    updated_at = {NOW}
              WHERE id IN (
                    SELECT d.id
                      FROM (SELECT DISTINCT unique_id, video_no
                              FROM deletion_queue INDEXED BY deletion_queue_claim
                             WHERE claimed_by = ?1) AS c
                      CROSS JOIN deletion_queue AS d INDEXED BY deletion_queue_video
                        ON d.unique_id = c.unique_id AND d.video_no = c.video_no
                           AND d.status = 'pending'
                     WHERE {DUE_D}
                     LIMIT ?3)"
        );
        sqlx::query(&duplicates)
            .bind(token.as_str())
            .bind(&lease)
            .bind(MAX_DUPLICATES as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        // A video under a legal hold is not sent: its rows wait `held` until the release.
        let held = sqlx::query(&held_sql())
            .bind(token.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?
            .rows_affected();
        // A video queued again after this database saw it deleted is settled from that
        // deletion, not sent: the API would answer 0409 and its whole batch be split. Only
        // from a deletion the chain records (an answer entry settling that row `deleted`,
        // for a request that carried it): a row written `deleted` by hand proves nothing.
        // One index lookup per claimed row (the index holds the status), then one per
        // entry of that request.
        let chained = format!(
            "EXISTS (SELECT 1 FROM settlement_chain AS c INDEXED BY settlement_chain_batch
                      WHERE c.batch_id = d.batch_id AND c.kind = '{answer}'
                        AND c.namespace = d.unique_id
                        AND instr(c.rows, '[' || d.id || ',' || json_quote(d.video_no)
                                          || ',\"deleted\"') > 0)",
            answer = chain::Kind::Answer.as_str()
        );
        let settled = format!(
            "UPDATE deletion_queue AS q
                SET status = 'deleted', proof = '{history}', last_error = NULL,
                    claimed_by = NULL, lease_until = NULL, settled_at = {NOW}, updated_at = {NOW},
                    batch_id = (SELECT d.batch_id FROM deletion_queue AS d INDEXED BY deletion_queue_video
                                 WHERE d.unique_id = q.unique_id AND d.video_no = q.video_no
                                   AND d.status = 'deleted' AND {chained} LIMIT 1)
              WHERE q.claimed_by = ?1
                AND EXISTS (SELECT 1 FROM deletion_queue AS d INDEXED BY deletion_queue_video
                             WHERE d.unique_id = q.unique_id AND d.video_no = q.video_no
                               AND d.status = 'deleted' AND {chained})
              RETURNING id, video_no, status, proof, unique_id",
            history = Proof::History,
        );
        let settled = sqlx::query(&settled)
            .bind(token.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        let settled_before = settled.len() as u64;
        chain::append_settled(&mut tx, chain::Kind::History, &settled)
            .await
            .map_err(|e| self.error(e))?;
        let rows = sqlx::query(
            "SELECT id, video_no, unique_id, refusals, in_doubt, missed_at
               FROM deletion_queue WHERE claimed_by = ?1 ORDER BY id",
        )
        .bind(token.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;

        // Producers write these columns: a value that is not valid text is reported by the
        // pass, not decoded here with a panic.
        let rows = rows
            .iter()
            .map(|row| ClaimedRow {
                id: row.get("id"),
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
            .collect();
        Ok(Some(Claim {
            token,
            namespace,
            rows,
            settled_before,
            held,
        }))
    }

    /// Extends the lease of every row the claim still holds.
    async fn renew(&self, token: &ClaimToken, lease: Duration) -> Result<(), QueueError> {
        let _turn = self.write_turn().await;
        renewal(token, lease)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Marks rows `failed` without sending them (an invalid video number or namespace).
    async fn record_lookup(
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
        let ids = |miss: Miss| -> Vec<VideoNo> {
            missing
                .iter()
                .filter(|(_, m)| *m == miss)
                .map(|(id, _)| id.clone())
                .collect()
        };
        // Each statement: ?1 the claim, ?2 its ids, then its own parameters. A miss
        // verifies a deletion only of a video listed before our request (`miss_settlement`).
        let mut statements = vec![(
            format!(
                "UPDATE deletion_queue
                    SET listed_at = {NOW}, missed_at = NULL, recheck_at = NULL, updated_at = {NOW}
                  WHERE claimed_by = ?1 AND status = 'in_flight'
                    AND video_no IN (SELECT value FROM json_each(?2))"
            ),
            listed.to_vec(),
            vec![],
        )];
        for miss in [Miss::Deleted, Miss::Absent, Miss::NoNamespace] {
            let Some(settlement) = miss_settlement(miss, NOW) else {
                continue;
            };
            statements.push((
                format!(
                    "UPDATE deletion_queue
                        SET {settlement}, last_error = ?3, settled_at = {NOW}, updated_at = {NOW},
                            claimed_by = NULL, lease_until = NULL, recheck_at = NULL,
                            check_at = NULL
                      WHERE claimed_by = ?1 AND status = 'in_flight'
                        AND video_no IN (SELECT value FROM json_each(?2))
                      RETURNING id, video_no, status, proof"
                ),
                ids(miss),
                vec![miss.note(namespace, &now, absent_after)],
            ));
        }
        // Not listed now: a listing before this one no longer says it is there.
        statements.push((
            format!(
                "UPDATE deletion_queue
                    SET status = 'pending', last_error = ?3, updated_at = {NOW},
                        claimed_by = NULL, lease_until = NULL, listed_at = NULL,
                        missed_at = coalesce(missed_at, {NOW}),
                        recheck_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?4)
                  WHERE claimed_by = ?1 AND status = 'in_flight'
                    AND video_no IN (SELECT value FROM json_each(?2))"
            ),
            ids(Miss::LookAgain),
            vec![
                Miss::LookAgain.note(namespace, &now, absent_after),
                seconds_from_now(absent_after),
            ],
        ));
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let mut rows = Vec::new();
        for (sql, video_nos, parameters) in &statements {
            if video_nos.is_empty() {
                continue;
            }
            let mut query = sqlx::query(sql)
                .bind(token.as_str())
                .bind(json_list(video_nos));
            for parameter in parameters {
                query = query.bind(parameter);
            }
            let done = query.fetch_all(&mut *tx).await.map_err(|e| self.error(e))?;
            rows.extend(chain::returned(&done));
        }
        let settled = Settled::of(&rows);
        let entry = chain::Entry::without_request(chain::Kind::Lookup, namespace.as_str(), rows);
        chain::append(&mut tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(settled)
    }

    async fn claim_unchecked(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Option<Unchecked>, QueueError> {
        // The claim is the pushed `check_at`: another daemon does not take these rows until
        // it passes, and if this one dies they come due again.
        let sql = "UPDATE deletion_queue SET check_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?1)
              WHERE id IN (
                    SELECT c.id FROM deletion_queue AS c INDEXED BY deletion_queue_check
                     WHERE c.check_at IS NOT NULL AND c.status = 'deleted'
                       AND julianday(c.check_at) <= julianday('now')
                       AND c.unique_id = (
                           SELECT f.unique_id FROM deletion_queue AS f INDEXED BY deletion_queue_check
                            WHERE f.check_at IS NOT NULL AND f.status = 'deleted'
                              AND julianday(f.check_at) <= julianday('now')
                            ORDER BY f.check_at LIMIT 1)
                     ORDER BY c.check_at LIMIT ?2)
              RETURNING id, video_no, unique_id";
        let _turn = self.write_turn().await;
        let rows = sqlx::query(sql)
            .bind(seconds_from_now(lease))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Unchecked {
            namespace: first.try_get::<String, _>("unique_id").ok(),
            rows: rows
                .iter()
                .map(|row| (row.get("id"), row.try_get("video_no").ok()))
                .collect(),
        }))
    }

    async fn record_check(
        &self,
        namespace: &Namespace,
        rows: &[(i64, Check)],
        rounds: u32,
    ) -> Result<Checked, QueueError> {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
        let of = |wanted: fn(&Check) -> bool| -> String {
            let ids: Vec<i64> = rows
                .iter()
                .filter(|(_, c)| wanted(c))
                .map(|(r, _)| *r)
                .collect();
            serde_json::Value::from(ids).to_string()
        };
        let later = rows.iter().find_map(|(_, c)| match c {
            Check::Later(after) => Some(seconds_from_now(*after)),
            _ => None,
        });
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let verified = format!(
            "UPDATE deletion_queue SET check_at = NULL, updated_at = {NOW}, {}
              WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
              RETURNING id, video_no, status, proof",
            verified_proof(NOW)
        );
        let postponed =
            "UPDATE deletion_queue SET check_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2)
              WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
              RETURNING status";
        let unknowable = format!(
            "UPDATE deletion_queue SET check_at = NULL, updated_at = {NOW}
              WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
              RETURNING status"
        );
        // Still listed: the API answered for it and kept it. Sent again (in doubt, so that a
        // lookup that then misses it counts it deleted, not absent), or failed after
        // `rounds` such rounds.
        let relisted = format!(
            "UPDATE deletion_queue
                SET relisted = min(relisted + 1, {MAX_COUNT}), check_at = NULL, updated_at = {NOW},
                    status = CASE WHEN relisted + 1 >= {rounds} THEN 'failed' ELSE 'pending' END,
                    proof = CASE WHEN relisted + 1 >= {rounds} THEN '{still}' END,
                    settled_at = CASE WHEN relisted + 1 >= {rounds} THEN {NOW} END,
                    in_doubt = 1, checked_at = NULL, claimed_by = NULL, lease_until = NULL,
                    last_error = ?2 || CASE WHEN relisted + 1 >= {rounds}
                                            THEN ' (' || (relisted + 1) || ' times): failed'
                                            ELSE ' (round ' || (relisted + 1) || ' of ' || {rounds} || '): sent again' END
              WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
              RETURNING id, video_no, status, proof",
            still = Proof::StillListed
        );
        let note = format!(
            "the API accepted the deletion but still listed the video in namespace {namespace} at {now}"
        );
        let mut checked = Checked::default();
        let mut fetch =
            async |sql: &str, ids: String, extra: &[String]| -> Result<Vec<String>, QueueError> {
                let mut query = sqlx::query_scalar::<_, String>(sql).bind(ids);
                for parameter in extra {
                    query = query.bind(parameter);
                }
                query.fetch_all(&mut *tx).await.map_err(|e| self.error(e))
            };
        if let Some(later) = later {
            checked.postponed = fetch(postponed, of(|c| matches!(c, Check::Later(_))), &[later])
                .await?
                .len() as u64;
        }
        fetch(&unknowable, of(|c| *c == Check::Unknowable), &[]).await?;
        // The verified rows' proof changes: chained, with the rows put back or failed.
        let mut rows = chain::returned(
            &sqlx::query(&verified)
                .bind(of(|c| *c == Check::Gone))
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.error(e))?,
        );
        rows.extend(chain::returned(
            &sqlx::query(&relisted)
                .bind(of(|c| *c == Check::Listed))
                .bind(note)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.error(e))?,
        ));
        let checked = Checked::of(checked.postponed, &rows);
        let entry = chain::Entry::without_request(chain::Kind::Check, namespace.as_str(), rows);
        chain::append(&mut tx, entry)
            .await
            .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(checked)
    }

    async fn fail_unsent(
        &self,
        token: &ClaimToken,
        failures: &[(i64, String)],
    ) -> Result<(), QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'failed', proof = '{invalid}', last_error = ?3, settled_at = {NOW},
                    updated_at = {NOW}, claimed_by = NULL, lease_until = NULL
              WHERE id = ?2 AND claimed_by = ?1
              RETURNING id, video_no, status, proof, unique_id",
            invalid = Proof::Invalid,
        );
        let mut failed = Vec::new();
        for (id, reason) in failures {
            let row = sqlx::query(&sql)
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

    async fn others_requests(&self) -> Result<Vec<Recorded>, QueueError> {
        let rows: Vec<(i64, Option<f64>)> = sqlx::query_as(
            "SELECT id, (julianday('now') - julianday(started_at)) * 86400.0
               FROM deletion_batches INDEXED BY deletion_batches_started
              WHERE started_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 seconds')
                AND sender IS NOT ?1
              ORDER BY started_at DESC LIMIT 100",
        )
        .bind(self.sender.as_ref())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        // A clock stepped back can make a record look younger than now: count it as now.
        Ok(rows
            .into_iter()
            .filter_map(|(id, s)| {
                let ago = Duration::try_from_secs_f64(s?.max(0.0)).ok()?;
                Some(Recorded { id, ago })
            })
            .collect())
    }

    async fn answered_well_within(&self, within: Duration) -> Result<bool, QueueError> {
        // The newest answered request, by id (the primary key): never a scan.
        let sql = "SELECT outcome = ?1 AND finished_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', ?2)
                     FROM deletion_batches WHERE outcome <> 'sending' ORDER BY id DESC LIMIT 1";
        let good: Option<bool> = sqlx::query_scalar(sql)
            .bind(Outcome::Deleted.as_str())
            .bind(format!("-{:.3} seconds", within.as_secs_f64()))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(good == Some(true))
    }

    /// Records that a request is about to be sent: a `deletion_batches` row in `sending`,
    /// one more attempt on each of its rows, and a renewed lease on the whole claim.
    async fn start_request(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        video_nos: &[VideoNo],
        attempt: u32,
        lease: Duration,
    ) -> Result<Started, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        // A hold placed since the claim wins: checked in the transaction that records the
        // request, so no hold committed before it lets the request go. (A write: it takes
        // the write lock, as the insert below would.)
        let held = sqlx::query(&format!(
            "{} AND q.video_no IN (SELECT value FROM json_each(?2))",
            held_sql()
        ))
        .bind(token.as_str())
        .bind(json_list(video_nos))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        if held > 0 {
            tx.commit().await.map_err(|e| self.error(e))?;
            return Ok(Started::Held(held));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deletion_batches (unique_id, ids_count, attempt, sender)
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .bind(namespace.as_str())
        .bind(video_nos.len() as i64)
        .bind(attempt)
        .bind(self.sender.as_ref())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        // The claim must still hold every id: if its lease ran out and another worker
        // took them back, they are that worker's to send now.
        let held: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT video_no) FROM deletion_queue INDEXED BY deletion_queue_claim
              WHERE claimed_by = ?1 AND status = 'in_flight'
                AND video_no IN (SELECT value FROM json_each(?2))",
        )
        .bind(token.as_str())
        .bind(json_list(video_nos))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        if usize::try_from(held).ok() != Some(video_nos.len()) {
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(Started::Lost);
        }
        let sql = format!(
            "UPDATE deletion_queue
                SET attempts = min(attempts + 1, {MAX_COUNT}), updated_at = {NOW},
                    in_doubt = in_doubt | 2
              WHERE claimed_by = ?1 AND status = 'in_flight'
                AND video_no IN (SELECT value FROM json_each(?2))
              RETURNING id, video_no, status"
        );
        let sent = sqlx::query(&sql)
            .bind(token.as_str())
            .bind(json_list(video_nos))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        // The whole claim's lease, not only this request's rows: while a refused batch is
        // split, the halves waiting their turn are held too.
        renewal(token, lease)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        // Other processes count this request from its `started_at` (the rate): stamped
        // last, as close to the send as the transaction allows. (The insert stays first:
        // it takes the write lock, which a transaction that began by reading could not.)
        sqlx::query(&format!(
            "UPDATE deletion_batches SET started_at = {NOW} WHERE id = ?1"
        ))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        // The chain vouches for the record as it stands now (and for its answer later).
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

    /// Records the answer to a request and applies it to the request's rows, in one
    /// transaction. Returns how many rows it changed.
    async fn finish_request(
        &self,
        token: &ClaimToken,
        batch: BatchId,
        video_nos: &[VideoNo],
        record: &RequestRecord,
        effect: &RowsEffect,
    ) -> Result<u64, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let sql = format!(
            "UPDATE deletion_batches
                SET outcome = ?2, http_status = ?3, api_code = ?4, api_msg = ?5, error = ?6,
                    duration_ms = ?7, finished_at = {NOW}
              WHERE id = ?1"
        );
        sqlx::query(&sql)
            .bind(batch.0)
            .bind(record.outcome.as_str())
            .bind(record.http_status)
            .bind(&record.api_code)
            .bind(&record.api_msg)
            .bind(&record.error)
            .bind(record.duration.as_millis() as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        let (status, note, refused) = match effect {
            RowsEffect::Deleted { .. } => (RowStatus::Deleted, None, false),
            RowsEffect::Failed(reason) => (RowStatus::Failed, Some(reason), true),
            RowsEffect::Held { note, refused } => (RowStatus::InFlight, Some(note), *refused),
        };
        // Held rows stay in_flight; a settlement releases them and points them at this
        // batch. A refusal of a lone id is counted on its rows.
        let sql = format!(
            "UPDATE deletion_queue
                SET status = ?3, last_error = ?4, updated_at = {NOW},
                    refusals = CASE WHEN ?6 THEN min(refusals + 1, {MAX_COUNT}) ELSE refusals END,
                    batch_id = CASE WHEN ?3 = 'in_flight' THEN batch_id ELSE ?5 END,
                    settled_at = CASE WHEN ?3 = 'in_flight' THEN NULL ELSE {NOW} END,
                    claimed_by = CASE WHEN ?3 = 'in_flight' THEN claimed_by END,
                    lease_until = CASE WHEN ?3 = 'in_flight' THEN lease_until END,
                    in_doubt = CASE WHEN ?7 THEN 1 ELSE in_doubt & 1 END,
                    proof = {proof},
                    check_at = CASE WHEN ?3 = 'deleted' AND ?8 IS NOT NULL
                                    THEN strftime('%Y-%m-%d %H:%M:%f', 'now',
                                                  '+' || (?8 * (1 << (2 * min(relisted, {CHECK_BACKOFF_STEPS}))))
                                                  || ' seconds') END
              WHERE claimed_by = ?1 AND status = 'in_flight'
                AND video_no IN (SELECT value FROM json_each(?2))
              RETURNING id, video_no, status, proof",
            proof = super::answer_proof(effect, record),
        );
        // In seconds; each round a video is still listed after, the check waits four times
        // longer.
        let check_after = match effect {
            RowsEffect::Deleted {
                check_after: Some(after),
            } => Some(after.as_secs_f64()),
            _ => None,
        };
        // An answer without an API code (a timeout, a cut connection, a proxy's page) may
        // have followed a deletion: the rows stay in doubt. A code says what happened.
        let lost = record.api_code.is_none() && record.outcome != Outcome::Deleted;
        let changed = sqlx::query(&sql)
            .bind(token.as_str())
            .bind(json_list(video_nos))
            .bind(status.as_str())
            .bind(note)
            .bind(batch.0)
            .bind(refused)
            .bind(lost)
            .bind(check_after)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
        // Every answer is chained, as the request's record now holds it; rows only when it
        // settled them (held rows are still in flight: a later entry settles them).
        let entry = chain::Entry {
            kind: chain::Kind::Answer,
            batch_id: Some(batch.0),
            namespace: &self.batch_namespace(&mut tx, batch).await?,
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
        drop(_turn);
        let mut changed = changed.len() as u64;
        if let RowsEffect::Failed(reason) = effect {
            changed += self.fail_duplicates(batch, video_nos, reason).await?;
        }
        Ok(changed)
    }

    /// Gives back to `pending` every row the claim still holds, with `last_error` when given.
    async fn release(
        &self,
        token: &ClaimToken,
        last_error: Option<&str>,
    ) -> Result<u64, QueueError> {
        let _turn = self.write_turn().await;
        let sql = format!(
            "UPDATE deletion_queue
                SET status = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = {NOW},
                    last_error = coalesce(?2, last_error)
              WHERE claimed_by = ?1 AND status = 'in_flight'"
        );
        let done = sqlx::query(&sql)
            .bind(token.as_str())
            .bind(last_error)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(done.rows_affected())
    }
}

/// The claim: the oldest due pending rows of the namespace of the oldest one, at most ?3,
/// to `in_flight` under the token ?1 with a lease of ?2 (an SQLite time modifier). A row
/// whose video another claim is sending now is left alone: two claims sending one video
/// at once would delete it twice (the second answered `0409`); once it is settled, a
/// later claim settles the row from that deletion.
fn claim_sql() -> String {
    let free = |row: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM deletion_queue AS busy INDEXED BY deletion_queue_video
                          WHERE busy.unique_id = {row}.unique_id AND busy.video_no = {row}.video_no
                            AND busy.status = 'in_flight')"
        )
    };
    format!(
        "UPDATE deletion_queue
            SET status = 'in_flight', claimed_by = ?1, lease_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2),
                updated_at = {NOW}
          WHERE id IN (
                SELECT q.id FROM deletion_queue AS q
                 WHERE q.status = 'pending' AND {due_q} AND {free_q}
                   AND q.unique_id = (SELECT p.unique_id
                                        FROM deletion_queue AS p INDEXED BY deletion_queue_pending_order
                                       WHERE p.status = 'pending' AND {due_p}
                                         AND {free_p}
                                       ORDER BY p.id LIMIT 1)
                 ORDER BY q.id LIMIT ?3)",
        free_q = free("q"),
        free_p = free("p"),
        due_q = DUE_D.replace("d.", "q."),
        due_p = DUE_D.replace("d.", "p."),
    )
}

/// Extends the lease of every row a claim holds.
fn renewal(token: &ClaimToken, lease: Duration) -> Query<'_, Sqlite, SqliteArguments<'_>> {
    sqlx::query(
        "UPDATE deletion_queue SET lease_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2)
          WHERE claimed_by = ?1 AND status = 'in_flight'",
    )
    .bind(token.as_str())
    .bind(seconds_from_now(lease))
}

/// The database must be a file: SQLite would open a device (`/dev/null`: "disk I/O error",
/// and a world-writable `/dev/null-journal` beside it) or a FIFO. Asked of the path, with
/// no descriptor of ours on the file (closing one would drop SQLite's locks).
fn not_a_special_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else {
        "not a regular file"
    };
    Err(format!(
        "is {what}, not a database file; point database.path at the queue file"
    ))
}

/// Root opening a queue whose folder belongs to another user (the service's): the files
/// SQLite creates then (the database, its `-wal` and `-shm`) would belong to root, and
/// that user could not open them again: the daemon, and even `status`, would fail. Refused
/// with the line to run instead, rather than creating them for another owner behind the
/// operator's back. (The folder's owner is who the queue belongs to; a folder that does
/// not exist yet, or root's own, is left alone.)
fn not_root_in_anothers_folder(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let folder = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Ok(owner) = std::fs::metadata(folder).map(|m| m.uid()) else {
        return Ok(());
    };
    if owner == 0 {
        return Ok(());
    }
    let user = crate::files::user_name(owner).unwrap_or_else(|| owner.to_string());
    let again: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| crate::printable::quoted(&a, printable::QUOTED))
        .collect();
    Err(format!(
        "its folder {} belongs to {user}, and this runs as root: the files SQLite would \
         create (the database, its -wal and -shm) would belong to root, and {user} could \
         not open them; run it as {user}: runuser -u {user} -- memories-reaper {}",
        printable::path(folder),
        again.join(" ")
    ))
}

/// A time as this module writes them (`NOW`), read back.
fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A SQLite date modifier that adds `d` to a time (a lease, a wait), to the millisecond.
fn seconds_from_now(d: Duration) -> String {
    format!("+{:.3} seconds", d.as_secs_f64())
}

/// Sets the rows claim `?1` holds of videos under a legal hold `held`, giving them up.
fn held_sql() -> String {
    format!(
        "UPDATE deletion_queue AS q
            SET status = 'held', claimed_by = NULL, lease_until = NULL, updated_at = {NOW}
          WHERE q.claimed_by = ?1 AND q.status = 'in_flight' AND {HELD_VIDEO}"
    )
}

fn json_list(video_nos: &[VideoNo]) -> String {
    let list: Vec<&str> = video_nos.iter().map(VideoNo::as_str).collect();
    // A list of strings always serializes.
    serde_json::to_string(&list).expect("a list of strings serializes")
}

/// Whether a connection handed back to the pool is outside any transaction, and so safe
/// to reuse. A failed statement or COMMIT (a full disk, an I/O error) can leave SQLite
/// inside a transaction that sqlx believes over; such a connection would hold the write
/// lock for ever and every later write, the daemon's and the producers', would find the
/// database locked. The pool closes it instead, which rolls the transaction back.
async fn outside_transaction(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is a live connection, held locked for the length of the call;
    // sqlite3_get_autocommit only reads its state.
    let autocommit =
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) };
    if autocommit == 0 {
        tracing::warn!(
            "a database connection was left inside a transaction after an error; closing it"
        );
    }
    Ok(autocommit != 0)
}

/// What went wrong opening the database: SQLite says only "unable to open" when the file
/// or its directory cannot be written, so ask the file system which it is. (No connection
/// is open yet, so the probe's file handle cannot drop SQLite's locks when it closes.)
fn describe_open(e: &sqlx::Error, path: &Path) -> String {
    if sqlite_code(e) == Some(14) {
        match std::fs::OpenOptions::new().write(true).open(path) {
            Err(probe) if probe.raw_os_error() == Some(30) => return read_only_fs(),
            Err(probe) if probe.kind() == std::io::ErrorKind::PermissionDenied => {
                return "this user cannot write it; give it write access to the file and its \
                        directory (for the service: membership of its group)"
                    .into();
            }
            _ => {}
        }
    }
    describe(e)
}

/// SQLite's primary result code of an error, if it is one of SQLite's.
fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| i32::from_str(&c).ok())
            .map(|c| c & 0xff),
        _ => None,
    }
}

/// Whether the database's directory is on a read-only file system: a probe file is made
/// (and removed) beside it, never the database file itself.
fn on_read_only_fs(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".memories-reaper-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(e) => e.raw_os_error() == Some(30),
    }
}

fn read_only_fs() -> String {
    "is on a read-only file system; remount it read-write, or set database.path to a \
     writable place"
        .into()
}

/// One line for an operator: the problem, and what fixes it.
fn describe(e: &sqlx::Error) -> String {
    let detail = e.to_string().replace('\n', " ");
    match sqlite_code(e) {
        Some(5) | Some(6) => format!(
            "locked by another process for longer than database.busy_timeout ({detail}); \
             find the process holding a long transaction, or raise database.busy_timeout"
        ),
        Some(8) => format!(
            "is read-only ({detail}); this user needs write access to the file, its -wal and \
             -shm files and its directory"
        ),
        Some(13) => format!("the disk is full ({detail}); free space, nothing was lost"),
        Some(10) => format!(
            "disk I/O error ({detail}); the disk may be full or failing: check free space \
             (df) and the system log; nothing was lost"
        ),
        Some(14) => format!(
            "cannot be opened ({detail}); check that the path is right and its directory \
             is writable by this user"
        ),
        Some(11) | Some(26) => format!(
            "is not a usable SQLite database ({detail}); point database.path at the queue file"
        ),
        _ => match e {
            // All of this process's connections stayed busy past database.busy_timeout (+5 s):
            // each was waiting on the database's lock, or on a slow disk.
            sqlx::Error::PoolTimedOut => "timed out waiting for one of this process's database \
                 connections (all stayed busy past database.busy_timeout): a long write by \
                 another process, or a slow disk"
                .into(),
            _ => detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A database as the releases before migration `version` left it, holding what their
    /// schema let through (which values that is depends on the SQLite version: its CHECK
    /// is switched off here, so that the test holds them all).
    async fn before(version: usize, path: &Path) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .pragma("ignore_check_constraints", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let old = sqlx::migrate::Migrator {
            migrations: Cow::Owned(MIGRATOR.migrations[..version - 1].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        old.run(&pool).await.unwrap();
        pool
    }

    async fn row(pool: &SqlitePool, video_no: &str) -> (String, Option<String>, String, String) {
        sqlx::query_as(
            "SELECT status, last_error, due_at, enqueued_at FROM deletion_queue WHERE video_no = ?1",
        )
        .bind(video_no)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn migration_0005_keeps_every_row_and_fails_the_waiting_ones_it_cannot_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let pool = before(5, &path).await;
        for (video_no, due_at, status) in [
            ("VI1", "+30 days", "pending"),
            ("VI2", "tomorrow", "pending"),
            ("VI3", "2099-01-01 00:00:00", "pending"),
            ("VI4", "", "deleted"),
            ("VI5", "2026-02-30 00:00:00", "in_flight"),
            ("VI6", " 2099-01-01 00:00:00", "pending"),
        ] {
            sqlx::query(
                "INSERT INTO deletion_queue (video_no, due_at, status, claimed_by)
                 VALUES (?1, ?2, ?3, CASE WHEN ?3 = 'in_flight' THEN 'someone' END)",
            )
            .bind(video_no)
            .bind(due_at)
            .bind(status)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let queue = SqliteQueue::open(&path, Duration::from_secs(5), true)
            .await
            .unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_queue")
            .fetch_one(&queue.pool)
            .await
            .unwrap();
        assert_eq!(count, 6, "every row kept");
        for (video_no, value) in [
            ("VI1", "'+30 days'"),
            ("VI2", "'tomorrow'"),
            ("VI5", "'2026-02-30 00:00:00'"),
            ("VI6", "' 2099-01-01 00:00:00'"),
        ] {
            let (status, last_error, due_at, enqueued_at) = row(&queue.pool, video_no).await;
            assert_eq!(status, "failed", "{video_no}");
            let last_error = last_error.unwrap_or_default();
            assert!(last_error.contains(value), "{video_no}: {last_error}");
            assert_eq!(due_at, enqueued_at, "{video_no}");
        }
        let (status, last_error, due_at, _) = row(&queue.pool, "VI3").await;
        assert_eq!(
            (status.as_str(), last_error, due_at.as_str()),
            ("pending", None, "2099-01-01 00:00:00")
        );
        // What happened to a settled row is history: it stays as it was.
        let (status, last_error, _, _) = row(&queue.pool, "VI4").await;
        assert_eq!((status.as_str(), last_error), ("deleted", None));
        assert_eq!(queue.unreadable_due().await.unwrap(), 4);
        assert_eq!(queue.due_pending().await.unwrap(), 0, "nothing became due");
        // Retrying failed rows must not make them due now: '+30 days' was not now.
        let reopened = queue.retry_failed(None, None).await.unwrap();
        assert_eq!((reopened.pending, reopened.left), (0, 4));
        assert_eq!(row(&queue.pool, "VI1").await.0, "failed");
        assert_eq!(queue.due_pending().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_due_at_the_schema_let_through_is_never_due() {
        let dir = tempfile::tempdir().unwrap();
        let queue = SqliteQueue::open(&dir.path().join("queue.db"), Duration::from_secs(5), true)
            .await
            .unwrap();
        // A producer that switches the CHECKs off gets any value in.
        let mut conn = queue.pool.acquire().await.unwrap();
        sqlx::query("PRAGMA ignore_check_constraints = ON")
            .execute(&mut *conn)
            .await
            .unwrap();
        for bad in [
            "+30 days",
            "",
            " 2000-01-01 00:00:00",
            "2026-13-45 00:00:00",
            // Bare numbers: julianday reads them as Julian day numbers, long past.
            "2099",
            "30",
            "now",
        ] {
            sqlx::query("INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI1', ?1)")
                .bind(bad)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        sqlx::query("PRAGMA ignore_check_constraints = OFF")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert!(queue
            .claim(100, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none());
        assert_eq!(queue.due_pending().await.unwrap(), 0);
        assert_eq!(queue.unreadable_due().await.unwrap(), 7);
    }
    #[tokio::test]
    async fn migration_0008_keeps_older_chain_entries_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let pool = before(8, &path).await;
        // A request answered and settled, and one retried, as releases before 0008 left
        // them: the answer's entry holds no request record.
        for sql in [
            "INSERT INTO deletion_batches (id, unique_id, ids_count, attempt, outcome, http_status, api_code, api_msg)
             VALUES (1, 'default', 1, 1, 'retry', 200, '0001', 'busy'),
                    (2, 'default', 1, 2, 'deleted', 200, '0000', 'success')",
            "INSERT INTO deletion_queue (id, video_no, status, batch_id, settled_at)
             VALUES (7, 'VI1', 'deleted', 2, strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 second'))",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let zeros = "0".repeat(64);
        let rows = r#"[[7,"VI1","deleted"]]"#;
        let at = "2026-11-29 00:00:00.000";
        let hash = chain::digest(
            &zeros,
            1,
            at,
            "answer",
            Some(2),
            "default",
            rows,
            Some("0000"),
            Some("success"),
            None,
        );
        sqlx::query(
            "INSERT INTO settlement_chain (seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash)
             VALUES (1, ?1, 'answer', 2, 'default', ?2, '0000', 'success', ?3, ?4)",
        )
        .bind(at)
        .bind(rows)
        .bind(&zeros)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let queue = SqliteQueue::open(&path, Duration::from_secs(5), true)
            .await
            .unwrap();
        let verdict = queue.verify_chain().await.unwrap();
        // The older entry, and the anchor recorded by migration 0012.
        assert_eq!(
            (verdict.entries, verdict.mismatches),
            (2, 0),
            "{:?}",
            verdict.problems
        );
        // What the older entry held (the answer) is still checked.
        sqlx::query("UPDATE deletion_batches SET api_msg = 'Success' WHERE id = 2")
            .execute(&queue.pool)
            .await
            .unwrap();
        let verdict = queue.verify_chain().await.unwrap();
        assert_eq!(verdict.mismatches, 1, "{:?}", verdict.problems);
        assert!(verdict.problems[0].starts_with("request 2 differs from chain entry 1"));
    }

    /// The stall gauge counts a due row a pass holds: with the API down, rows are in
    /// flight most of the time, and an age of pending rows alone kept falling to 0.
    #[tokio::test]
    async fn the_oldest_due_age_counts_rows_in_flight_and_not_settled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let queue = SqliteQueue::open(&dir.path().join("queue.db"), Duration::from_secs(5), true)
            .await
            .unwrap();
        assert_eq!(queue.gauges(None).await.unwrap().oldest_due, None);
        for (video_no, due_at, status) in [
            ("VI1", "-3600 seconds", "in_flight"),
            ("VI2", "-7200 seconds", "deleted"),
            ("VI3", "+3600 seconds", "pending"),
        ] {
            sqlx::query(&format!(
                "INSERT INTO deletion_queue (video_no, due_at, status, claimed_by, lease_until)
                 VALUES (?1, strftime('%Y-%m-%d %H:%M:%S', 'now', ?2), ?3,
                         CASE WHEN ?3 = 'in_flight' THEN 'someone' END,
                         CASE WHEN ?3 = 'in_flight' THEN {NOW} END)"
            ))
            .bind(video_no)
            .bind(due_at)
            .bind(status)
            .execute(&queue.pool)
            .await
            .unwrap();
        }
        let seconds = queue.gauges(None).await.unwrap().oldest_due;
        let seconds = seconds.expect("a due row in flight is counted").as_secs();
        assert!((3599..3700).contains(&seconds), "{seconds}");
    }
}

#[cfg(test)]
mod due_at_fuzz {
    //! Any text a producer writes as `due_at`: the schema accepts it only if it is exactly
    //! a real time in SQLite's format, and an accepted row is due exactly when that time
    //! has come. Checked against an independent reading (a regex and chrono).
    use super::*;
    use chrono::{NaiveDateTime, Utc};
    use proptest::prelude::*;

    /// Texts near the accepted form: every part in and just out of range, fractions of
    /// any length, stray spaces, `T`, zones; and anything at all.
    fn due_text() -> impl Strategy<Value = String> {
        let near = (
            0u32..10_000,
            0u32..14,
            0u32..33,
            0u32..26,
            0u32..62,
            0u32..62,
            prop_oneof![Just(String::new()), "\\.[0-9]{1,5}"],
            prop::sample::select(vec!["", " ", "Z", "+02:00", "T"]),
            prop::sample::select(vec![" ", "T", "  "]),
        )
            .prop_map(|(y, mo, d, h, mi, s, frac, tail, sep)| {
                format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{tail}")
            });
        let recent = (-400_000i64..400_000).prop_map(|offset| {
            (Utc::now() + chrono::Duration::seconds(offset))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        });
        prop_oneof![
            near,
            recent,
            "\\PC{0,24}",
            "[0-9 :.+-]{0,22}",
            Just("+30 days".to_owned())
        ]
    }

    /// The independent reading: the exact form, naming a real (non-leap) time.
    fn reads_as(text: &str) -> Option<NaiveDateTime> {
        let form = regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{3})?$").unwrap();
        if !form.is_match(text) {
            return None;
        }
        let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
        // chrono reads second 60 as a leap second; SQLite moves it to the next minute.
        (t.and_utc().timestamp_subsec_nanos() < 1_000_000_000).then_some(t)
    }

    async fn check_all(texts: Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let queue = SqliteQueue::open(&dir.path().join("q.db"), Duration::from_secs(5), true)
            .await
            .unwrap();
        for text in texts {
            let inserted =
                sqlx::query("INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI1', ?1)")
                    .bind(&text)
                    .execute(&queue.pool)
                    .await;
            let expected = reads_as(&text);
            assert_eq!(
                inserted.is_ok(),
                expected.is_some(),
                "{text:?}: {inserted:?}"
            );
            let (Ok(done), Some(at)) = (inserted, expected) else {
                continue;
            };
            let due: bool =
                sqlx::query_scalar(&format!("SELECT {DUE} FROM deletion_queue WHERE id = ?1"))
                    .bind(done.last_insert_rowid())
                    .fetch_one(&queue.pool)
                    .await
                    .unwrap();
            let from_now = at.and_utc() - Utc::now();
            // Within a few seconds of now, either answer is right by the time it is read.
            if from_now.num_seconds().abs() > 5 {
                assert_eq!(due, from_now.num_seconds() < 0, "{text:?}");
            }
        }
        queue.close().await;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn only_exact_times_are_accepted_and_none_is_due_early(
            texts in prop::collection::vec(due_text(), 1..64)
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(check_all(texts));
        }
    }
}
