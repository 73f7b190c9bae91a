//! What every integration test starts from: a stand-in API on 127.0.0.1, a real SQLite
//! file in a temporary directory, a config file pointing at both, and the real binary.

pub mod standin;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use tokio::process::{Child, Command};

pub use standin::{Faults, Listing, LogLine, Received, Script, Standin};

pub const KEY: &str = "sk-test-7f3a9c0e-do-not-log";
pub const BIN: &str = env!("CARGO_BIN_EXE_memories-reaper");

pub struct App {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
    pub standin: Standin,
    pub pool: SqlitePool,
}

/// The settings every test shares; `extra` adds or overrides keys (TOML, by table).
pub fn config_text(base_url: &str, db: &std::path::Path, extra: &[(&str, &str)]) -> String {
    let mut tables: Vec<(String, Vec<String>)> = vec![
        (
            "api".into(),
            vec![
                format!("base_url = {base_url:?}"),
                "timeout = \"2s\"".into(),
            ],
        ),
        (
            "database".into(),
            vec![format!("path = {:?}", db.display().to_string())],
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
    std::fs::write(&config, config_text(&standin.base_url(), &db, extra)).expect("write config");
    let app = App {
        pool: producer_pool(&db).await,
        dir,
        db,
        config,
        standin,
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

    /// Inserts as a producer does: only the video number and the namespace, which the
    /// stand-in's account then has.
    pub async fn insert(&self, namespace: &str, video_nos: &[String]) {
        self.standin.add_namespace(namespace);
        let mut tx = self.pool.begin().await.expect("begin");
        for v in video_nos {
            sqlx::query("INSERT INTO deletion_queue (video_no, unique_id) VALUES (?1, ?2)")
                .bind(v)
                .bind(namespace)
                .execute(&mut *tx)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
    }

    /// Row counts by status.
    pub async fn counts(&self) -> HashMap<String, i64> {
        sqlx::query("SELECT status, count(*) AS n FROM deletion_queue GROUP BY status")
            .fetch_all(&self.pool)
            .await
            .expect("count")
            .iter()
            .map(|r| (r.get("status"), r.get("n")))
            .collect()
    }

    pub async fn count(&self, status: &str) -> i64 {
        self.counts().await.get(status).copied().unwrap_or(0)
    }

    /// (video_no, unique_id, status, attempts, last_error, batch_id) of every row.
    pub async fn rows(&self) -> Vec<(String, String, String, i64, Option<String>, Option<i64>)> {
        sqlx::query(
            "SELECT video_no, unique_id, status, attempts, last_error, batch_id
               FROM deletion_queue ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r.get("video_no"),
                r.get("unique_id"),
                r.get("status"),
                r.get("attempts"),
                r.get("last_error"),
                r.get("batch_id"),
            )
        })
        .collect()
    }

    /// (attempt, outcome, api_code, error) of every recorded request, in order.
    pub async fn batches(&self) -> Vec<(i64, String, Option<String>, Option<String>)> {
        sqlx::query("SELECT attempt, outcome, api_code, error FROM deletion_batches ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("batches")
            .iter()
            .map(|r| {
                (
                    r.get("attempt"),
                    r.get("outcome"),
                    r.get("api_code"),
                    r.get("error"),
                )
            })
            .collect()
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
