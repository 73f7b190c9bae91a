//! The SQLite driver (the default backend): one file on the daemon's host.
//!
//! Opening, migrating and describing errors are here; the statements the queue's
//! transactions run are in `statements` (SQL in `queries/sqlite/`, one file a statement). SQLite has
//! one writer: this process's writers take turns on a mutex of their own (after a line the
//! sender's lease skips), other processes meet `database.busy_timeout`.

/// The text of the statement `queries/sqlite/NAME.sql`.
macro_rules! sql {
    ($name:literal) => {
        query_file!("sqlite", $name)
    };
}

pub mod statements;

use futures_util::stream::BoxStream;

use super::driver::{Access, Driver, Session, Statements};
use super::receipts::{Filter, Receipt};
use super::{inspected, newer_schema, schema, ClaimToken, QueueError};
use crate::files;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool};

use crate::config::LONGEST_LEASE;
use crate::printable;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteQueue {
    pool: SqlitePool,
    path: PathBuf,
    /// This process's writers take turns here, in order: SQLite's busy handler, sleeping and
    /// retrying, starved some past the busy timeout (other processes still meet it).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Writers but the lease line up here first: it waits for two transactions at most.
    line: Arc<tokio::sync::Mutex<()>>,
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
        files::create_for_group(path).map_err(|e| {
            fail(format!(
                "cannot create it: {e}; check the directory's permissions"
            ))
        })?;
        // Processes that may migrate the file take turns, through the migration: two at
        // once on a new file met each other's locks, and one failed "database is locked".
        // Without the turn (a folder this user cannot read), as before: see `run` below.
        let _turn = match migrate {
            true => files::lock_folder(path, busy_timeout).await.ok().flatten(),
            false => None,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The record of a deletion must survive a power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true)
            // Each connection's page cache fills to its bound where producers queue video
            // numbers in no order (SQLite's default, 2 MB, took the peak from 18.8 to 23.4
            // MiB draining a million rows); reads it misses come from the kernel's cache,
            // and the settle rate did not move (BENCHMARKS.md, "The writer's turn").
            .pragma("cache_size", "-500");
        let pool = SqlitePoolOptions::new()
            .after_release(|conn, _| Box::pin(async move { outside_transaction(conn).await }))
            // One writer at a time (`writer`), and the reads beside it: three connections,
            // each one's statements and cache resident (a fourth was 1 MiB more, no faster).
            .max_connections(3)
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| fail(describe_open(&e, path)))?;
        let mut queue = Self {
            pool,
            path: path.to_owned(),
            writer: Arc::default(),
            line: Arc::default(),
            sender: ClaimToken::new().0.into(),
            applied: Arc::default(),
        };
        if migrate {
            // SQLite has no migration lock in sqlx: when two processes migrate a new file
            // at once, the loser fails on a table the winner just made. Running again then
            // finds the migration applied.
            let run = async {
                if MIGRATOR.run(&queue.pool).await.is_err() {
                    MIGRATOR
                        .run(&queue.pool)
                        .await
                        .map_err(|e| queue.error(e))?;
                }
                Ok(())
            };
            queue.applied = schema::migrate(&queue, &MIGRATOR, run).await?.into();
        } else {
            schema::current(&queue, &MIGRATOR).await?;
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
        // SQLite opens a file this user may not write read-only, and in WAL mode a read-only
        // connection still takes the write lock below: ask the system of each file.
        for file in [path.to_owned(), beside(path, "-wal"), beside(path, "-shm")] {
            if files::may_write(&file) == Some(false) {
                return Err(QueueError {
                    place: printable::path(path),
                    problem: read_only(&format!(
                        "this user may not write {}",
                        printable::path(&file)
                    )),
                });
            }
        }
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
        if let Some(behind) = schema::behind(&applied, &MIGRATOR) {
            return Ok(behind);
        }
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_queue")
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?;
        let unreadable = conn.unreadable_due().await.map_err(fail)?;
        let impossible = conn.impossible_leases(LONGEST_LEASE).await.map_err(fail)?;
        // Taking the write lock and letting it go shows that no other process keeps it
        // longer than the busy timeout (the files' modes were asked above).
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
    pub fn under_new_sender(&self) -> Self {
        Self {
            sender: ClaimToken::new().0.into(),
            ..self.clone()
        }
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

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// SQLite's plan for the claim's query, one line per step: it must use the indexes, so
    /// that a claim costs the same at ten thousand pending rows and at a million.
    pub async fn explain_claim(&self) -> Result<Vec<String>, QueueError> {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", sql!("claim_rows")))
            .bind("explain")
            .bind(0.0f64)
            .bind(100i64)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap_or_default())
            .collect())
    }

    /// A write's turn (after the `line`, but the lease's); reads need none (WAL).
    async fn session(&self, access: Access, tx: bool) -> Result<Session<Sqlite>, sqlx::Error> {
        let _line = match access {
            Access::Write | Access::Claim => Some(self.line.lock().await),
            Access::Read | Access::Lease => None,
        };
        let turn = (access != Access::Read).then_some(&self.writer);
        Session::open(&self.pool, turn, tx).await
    }
}

#[cfg(test)]
impl SqliteQueue {
    /// For the conformance suite: statements as a producer (or a hand) would run them.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Driver for SqliteQueue {
    type Db = Sqlite;

    async fn begin(&self, access: Access) -> Result<Session<Sqlite>, sqlx::Error> {
        self.session(access, true).await
    }

    async fn single(&self, access: Access) -> Result<Session<Sqlite>, sqlx::Error> {
        self.session(access, false).await
    }

    fn error(&self, e: sqlx::Error) -> QueueError {
        self.error(e)
    }

    fn location(&self) -> String {
        printable::path(&self.path)
    }

    fn sender(&self) -> &str {
        &self.sender
    }

    fn receipts<'a>(&'a self, filter: &'a Filter) -> BoxStream<'a, Result<Receipt, sqlx::Error>> {
        statements::receipts_from(&self.pool, filter)
    }

    async fn before_pass(&self) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// The database must be a file: SQLite would open a device (`/dev/null`: "disk I/O error",
/// and a world-writable `/dev/null-journal` beside it) or a FIFO. Asked of the path, with
/// no descriptor of ours on the file (closing one would drop SQLite's locks).
/// The problem of a database this user may not write, and its fix.
fn read_only(detail: &str) -> String {
    format!(
        "is read-only ({detail}); this user needs write access to the file, its -wal and -shm \
         files and its directory"
    )
}

/// The file SQLite keeps beside the database: `queue.db-wal` for `-wal`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

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
        Some(8) => read_only(&detail),
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
    use crate::queue::Queue;
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
        assert_eq!(
            Queue::Sqlite(queue.clone()).unreadable_due().await.unwrap(),
            4
        );
        assert_eq!(
            Queue::Sqlite(queue.clone()).due_pending().await.unwrap(),
            0,
            "nothing became due"
        );
        // Retrying failed rows must not make them due now: '+30 days' was not now.
        let reopened = Queue::Sqlite(queue.clone())
            .retry_failed(None, None)
            .await
            .unwrap();
        assert_eq!((reopened.pending, reopened.left), (0, 4));
        assert_eq!(row(&queue.pool, "VI1").await.0, "failed");
        assert_eq!(Queue::Sqlite(queue.clone()).due_pending().await.unwrap(), 0);
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
        assert!(
            crate::queue::store::claim(&queue, 100, Duration::from_secs(60))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(Queue::Sqlite(queue.clone()).due_pending().await.unwrap(), 0);
        assert_eq!(
            Queue::Sqlite(queue.clone()).unreadable_due().await.unwrap(),
            7
        );
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
        let hash = crate::chain::digest(
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
        let verdict = Queue::Sqlite(queue.clone()).verify_chain().await.unwrap();
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
        let verdict = Queue::Sqlite(queue.clone()).verify_chain().await.unwrap();
        assert_eq!(verdict.mismatches, 1, "{:?}", verdict.problems);
        assert!(verdict.problems[0].starts_with("request 2 differs from chain entry 1"));
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
            let (Ok(_), Some(at)) = (inserted, expected) else {
                continue;
            };
            // Due exactly when a claim takes it (the claim's own SQL); then out of the way.
            let claimed = crate::queue::store::claim(&queue, 1, Duration::from_secs(60))
                .await
                .unwrap();
            let due = claimed.is_some();
            sqlx::query("DELETE FROM deletion_queue")
                .execute(&queue.pool)
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
