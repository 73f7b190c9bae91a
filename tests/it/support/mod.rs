//! What every integration test starts from: a stand-in API on 127.0.0.1, a real database
//! (an SQLite file in a temporary directory, or a fresh database on a real PostgreSQL
//! server), a config file pointing at both, and the real binary.
//!
//! Tests written with [`on_both!`] run once per backend. The PostgreSQL case needs a
//! server ([`postgres_server`]: the one `MEMORIES_REAPER_TEST_POSTGRES` names, else a
//! throwaway one where PostgreSQL is installed, else the case is skipped and counted).

#[path = "../../lib/postgres_server.rs"]
pub mod postgres_server;
pub mod standin;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use tokio::process::{Child, Command};

pub use standin::{Faults, Listing, LogLine, Lookup, Received, Script, Standin};

pub const KEY: &str = "sk-test-7f3a9c0e-do-not-log";
pub const BIN: &str = env!("CARGO_BIN_EXE_memories-reaper");

/// A queue row as the tests read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    pub video_no: String,
    pub namespace: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub batch_id: Option<i64>,
}

/// A request's record as the tests read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRecord {
    pub attempt: i64,
    pub outcome: String,
    pub api_code: Option<String>,
    pub error: Option<String>,
}

pub struct App {
    pub dir: tempfile::TempDir,
    /// The SQLite file (on PostgreSQL: where it would be, unused).
    pub db: PathBuf,
    pub config: PathBuf,
    pub standin: Standin,
    /// A producer's connection.
    pub pool: Db,
    /// The `[database]` line that names the database.
    database: String,
}

/// The queue's database, as producers and tests reach it.
pub enum Db {
    Sqlite(SqlitePool),
    /// A database of its own on the test server, dropped with the app.
    Postgres {
        pool: PgPool,
        name: String,
    },
}

/// Which backend a test runs on: [`on_both!`] sets it around the test's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// Runs a test's body on `backend`.
pub async fn on<F: std::future::Future>(backend: Backend, body: F) -> F::Output {
    BACKEND.scope(backend, body).await
}

pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// Whether the PostgreSQL cases can run (a skipped case is counted, and the count said).
pub fn postgres_available() -> bool {
    postgres_server::server().is_some()
}

/// The test server's superuser URL (after [`postgres_available`]).
fn admin_url() -> &'static str {
    &postgres_server::server()
        .expect("the PostgreSQL test server")
        .url
}

/// Makes the test `NAME` (an `async fn` beside it) two tests: `NAME::sqlite` and
/// `NAME::postgres` (a module and a function may share a name).
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $crate::support::on($crate::support::Backend::Sqlite, super::$name()).await
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::support::postgres_available() {
                    $crate::support::on($crate::support::Backend::Postgres, super::$name()).await
                }
            }
        }
    };
}

/// The settings every test shares; `extra` adds or overrides keys (TOML, by table).
pub fn config_text(base_url: &str, db: &std::path::Path, extra: &[(&str, &str)]) -> String {
    config_naming(
        base_url,
        &format!("path = {:?}", db.display().to_string()),
        extra,
    )
}

/// The same, the database named by `database` (a line of `[database]`).
fn config_naming(base_url: &str, database: &str, extra: &[(&str, &str)]) -> String {
    let mut tables: Vec<(String, Vec<String>)> = vec![
        (
            "api".into(),
            vec![
                format!("base_url = {base_url:?}"),
                "timeout = \"2s\"".into(),
            ],
        ),
        // A short sender's lease: a test that kills a daemon waits 2 s, not 15, for the
        // next one to send.
        (
            "database".into(),
            vec![database.to_owned(), "sender_lease = \"2s\"".into()],
        ),
        ("schedule".into(), vec!["cron = \"0 0 1 1 *\"".into()]),
        (
            "retry".into(),
            vec![
                "max_attempts = 5".into(),
                "initial_backoff = \"10ms\"".into(),
                "max_backoff = \"100ms\"".into(),
            ],
        ),
    ];
    for (table, line) in extra {
        let key = line.split('=').next().unwrap_or("").trim();
        match tables.iter_mut().find(|(t, _)| t == table) {
            Some((_, lines)) => {
                lines.retain(|l| l.split('=').next().unwrap_or("").trim() != key);
                lines.push((*line).to_owned());
            }
            None => tables.push(((*table).to_owned(), vec![(*line).to_owned()])),
        }
    }
    tables
        .iter()
        .map(|(t, lines)| format!("[{t}]\n{}\n", lines.join("\n")))
        .collect()
}

/// A stand-in allowing `per_second` requests, an empty migrated database, and a config.
pub async fn spawn_app_with(per_second: usize, extra: &[(&str, &str)]) -> App {
    let standin = Standin::start(KEY, per_second).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("queue.db");
    let config = dir.path().join("config.toml");
    let (pool, database) = match backend() {
        Backend::Sqlite => (
            Db::Sqlite(producer_pool(&db).await),
            format!("path = {:?}", db.display().to_string()),
        ),
        Backend::Postgres => {
            let (pool, name, url) = fresh_postgres().await;
            // In a file of its own, as the README advises: the password stays out of the
            // config (and out of the warning a password there gets).
            let url_file = dir.path().join("database_url");
            std::fs::write(&url_file, url).expect("write the URL file");
            // Mode 0600, as the README says (a wider one is warned about).
            std::fs::set_permissions(
                &url_file,
                <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
            )
            .expect("chmod the URL file");
            let url_file = format!("url_file = {:?}", url_file.display().to_string());
            (Db::Postgres { pool, name }, url_file)
        }
    };
    std::fs::write(
        &config,
        config_naming(&standin.base_url(), &database, extra),
    )
    .expect("write config");
    let app = App {
        pool,
        dir,
        db,
        config,
        standin,
        database,
    };
    let out = app.reaper(&["migrate"]).await;
    assert!(out.status.success(), "migrate failed: {}", stderr(&out));
    app
}

pub async fn spawn_app(extra: &[(&str, &str)]) -> App {
    spawn_app_with(5, extra).await
}

/// A connection as the README tells producers to open one.
pub async fn producer_pool(db: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("open the database as a producer")
}

/// A database of its own on the test server: (a producer's pool, its name, its URL).
async fn fresh_postgres() -> (PgPool, String, String) {
    let admin = admin_url();
    let name = format!("mr_test_{:016x}", rand_id());
    let server = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await
        .expect("connect to the test server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&server)
        .await
        .expect("create a test database");
    server.close().await;
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    let url = format!("{base}/{name}");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect as a producer");
    (pool, name, url)
}

/// Distinct enough for test databases made at once by parallel tests.
fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// The test database is dropped with its app (forcing out connections left open).
impl Drop for Db {
    fn drop(&mut self) {
        let Db::Postgres { name, .. } = self else {
            return;
        };
        let name = name.clone();
        let admin = admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(async {
                    let server = PgPoolOptions::new()
                        .max_connections(1)
                        .connect(admin)
                        .await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&server)
                        .await?;
                    server.close().await;
                    Ok::<_, sqlx::Error>(())
                })
                .map_err(std::io::Error::other)
        })
        .join();
    }
}

impl Db {
    /// The SQLite pool, for tests that only run on SQLite.
    pub fn sqlite(&self) -> &SqlitePool {
        match self {
            Db::Sqlite(pool) => pool,
            Db::Postgres { .. } => panic!("this test runs on SQLite only"),
        }
    }

    /// Runs one statement with no result (`$1`… placeholders work on both).
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|d| d.rows_affected()),
            Db::Postgres { pool, .. } => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|d| d.rows_affected()),
        }
    }

    /// Every row a query returns, each column as text (NULL as `None`): the query casts
    /// each column `AS TEXT`, which both backends understand.
    pub async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        macro_rules! read {
            ($pool:expr) => {
                sqlx::query(sql)
                    .fetch_all($pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<Option<String>, _>(i))
                            .collect()
                    })
                    .collect()
            };
        }
        match self {
            Db::Sqlite(pool) => read!(pool),
            Db::Postgres { pool, .. } => read!(pool),
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres { pool, .. } => pool.close().await,
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `n` distinct valid video numbers starting at `from`.
pub fn ids(from: u64, n: u64) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("VI{:018}", 606404158946574336 + i))
        .collect()
}

impl App {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("MEMORIES_API_KEY", KEY)
            .env_remove("RUST_LOG")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Points `api.api_key_file` at `path` in the config.
    pub fn set_api_key_file(&self, path: &std::path::Path) {
        let config = std::fs::read_to_string(&self.config)
            .expect("read config")
            .replace(
                "[api]\n",
                &format!("[api]\napi_key_file = {:?}\n", path.display().to_string()),
            );
        std::fs::write(&self.config, config).expect("write config");
    }

    /// Runs the binary to its end (at most a minute).
    pub async fn reaper(&self, args: &[&str]) -> Output {
        run(self.command(args)).await
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("start memories-reaper")
    }

    /// The config's text with `extra`, naming this app's database.
    pub fn config_text(&self, extra: &[(&str, &str)]) -> String {
        config_naming(&self.standin.base_url(), &self.database, extra)
    }

    /// Inserts as a producer does: only the video number and the namespace, which the
    /// stand-in's account then has.
    pub async fn insert(&self, namespace: &str, video_nos: &[String]) {
        self.standin.add_namespace(namespace);
        const SQL: &str = "INSERT INTO deletion_queue (video_no, unique_id) VALUES ($1, $2)";
        match &self.pool {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await.expect("begin");
                for v in video_nos {
                    let insert = sqlx::query(SQL).bind(v).bind(namespace);
                    insert.execute(&mut *tx).await.expect("insert");
                }
                tx.commit().await.expect("commit");
            }
            Db::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.expect("begin");
                for v in video_nos {
                    let insert = sqlx::query(SQL).bind(v).bind(namespace);
                    insert.execute(&mut *tx).await.expect("insert");
                }
                tx.commit().await.expect("commit");
            }
        }
    }

    /// Row counts by status.
    pub async fn counts(&self) -> HashMap<String, i64> {
        const SQL: &str = "SELECT status, count(*) AS n FROM deletion_queue GROUP BY status";
        match &self.pool {
            Db::Sqlite(pool) => sqlx::query(SQL)
                .fetch_all(pool)
                .await
                .expect("count")
                .iter()
                .map(|r| (r.get("status"), r.get("n")))
                .collect(),
            Db::Postgres { pool, .. } => sqlx::query(SQL)
                .fetch_all(pool)
                .await
                .expect("count")
                .iter()
                .map(|r| (r.get("status"), r.get("n")))
                .collect(),
        }
    }

    pub async fn count(&self, status: &str) -> i64 {
        self.counts().await.get(status).copied().unwrap_or(0)
    }

    /// Every row, in id order.
    pub async fn rows(&self) -> Vec<QueueRow> {
        const SQL: &str = "SELECT video_no, unique_id AS namespace, status,
                                  CAST(attempts AS BIGINT) AS attempts, last_error, batch_id
                             FROM deletion_queue ORDER BY id";
        match &self.pool {
            Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
            Db::Postgres { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await,
        }
        .expect("rows")
    }

    /// Every request record, in order.
    pub async fn batches(&self) -> Vec<BatchRecord> {
        const SQL: &str = "SELECT CAST(attempt AS BIGINT) AS attempt, outcome, api_code, error
                             FROM deletion_batches ORDER BY id";
        match &self.pool {
            Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
            Db::Postgres { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await,
        }
        .expect("batches")
    }

    /// Every id the stand-in was sent, in order, repeats included.
    pub fn sent_ids(&self) -> Vec<String> {
        self.standin
            .received()
            .into_iter()
            .flat_map(|r| r.ids)
            .collect()
    }

    /// Waits until the stand-in has received `n` requests (at most 30 s).
    pub async fn wait_for_requests(&self, n: usize) {
        for _ in 0..300 {
            if self.standin.received().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the stand-in got {} requests, not {n}",
            self.standin.received().len()
        );
    }
}

pub async fn run(mut cmd: Command) -> Output {
    run_child(cmd.spawn().expect("start memories-reaper")).await
}

/// Reads the child's stderr until a line holds `needle` (at most 30 s). The rest of its
/// stderr is drained in the background, so that the child never blocks on a full pipe.
pub async fn wait_for_line(child: &mut Child, needle: &str) {
    use tokio::io::AsyncBufReadExt;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no line with {needle:?} in the log");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
}

/// Waits for a started binary to end (at most a minute), with its output.
pub async fn run_child(child: Child) -> Output {
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("memories-reaper ran for more than a minute")
        .expect("memories-reaper output")
}

/// Sends a signal with kill(1): the tests need no signal crate for this.
pub fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("the child is running");
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("its address").port()
}
