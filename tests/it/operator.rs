//! The operator's commands: retry-failed, prune and retention, check, run --dry-run.

use std::collections::HashSet;
use std::time::Duration;

use crate::on_both;
use crate::support::*;

/// Sets when rows were settled, as if the pass had run that long ago; their requests and
/// the settlement chain's entries too (which then no longer verify: prune does not check).
async fn settled_days_ago(app: &App, status: &str, days: i64) {
    let (ago, ago_text) = match backend() {
        Backend::Sqlite => {
            let ago = format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '-{days} days')");
            (ago.clone(), ago)
        }
        Backend::Postgres => (
            format!("now() - interval '{days} days'"),
            format!(
                "to_char((now() - interval '{days} days') AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD HH24:MI:SS.MS')"
            ),
        ),
    };
    for sql in [
        format!(
            "UPDATE deletion_queue SET settled_at = {ago}, updated_at = {ago}
              WHERE status = '{status}'"
        ),
        format!(
            "UPDATE deletion_batches SET started_at = {ago}
              WHERE id IN (SELECT batch_id FROM deletion_queue WHERE status = '{status}')"
        ),
        format!("UPDATE settlement_chain SET settled_at = {ago_text}"),
    ] {
        app.pool.execute(&sql).await.expect(&sql);
    }
}

on_both!(retry_failed_puts_failed_rows_back_by_namespace);
async fn retry_failed_puts_failed_rows_back_by_namespace() {
    let app = spawn_app(&[]).await;
    app.insert("tenant-a", &ids(0, 3)).await;
    app.insert("tenant-b", &ids(10, 3)).await;
    for id in ids(0, 3).iter().chain(&ids(10, 3)) {
        app.standin.reject(id);
    }
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("failed").await, 6);

    let out = app
        .reaper(&["retry-failed", "--namespace", "tenant-a", "--since", "1h"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 failed rows are pending again"));
    for QueueRow {
        namespace,
        status,
        attempts,
        last_error,
        ..
    } in app.rows().await
    {
        match namespace.as_str() {
            "tenant-a" => assert_eq!(status, "pending"),
            _ => assert_eq!(status, "failed"),
        }
        assert!(attempts > 0 && last_error.is_some(), "history kept");
    }
    // Failed earlier than --since: not touched.
    let out = app.reaper(&["retry-failed", "--since", "2099-01-01"]).await;
    assert!(stdout(&out).contains("0 failed rows"));
    // A row put back under a legal hold is held, and said so, not "pending again".
    let held = &ids(10, 1)[0];
    let out = app
        .reaper(&["hold", "add", held, "--reason", "case 4"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = app.reaper(&["retry-failed"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 failed rows are pending again")
            && stdout(&out).contains("1 failed row is held instead"),
        "{}",
        stdout(&out)
    );
    // Put back, a row proves nothing any more.
    let proofs = app
        .pool
        .texts("SELECT proof FROM deletion_queue WHERE status <> 'failed'")
        .await;
    assert!(proofs.iter().all(|p| p[0].is_none()), "{proofs:?}");

    let out = app
        .reaper(&["retry-failed", "--since", "yesterday-ish"])
        .await;
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(stderr(&out).contains("neither a duration"));
}

#[tokio::test]
async fn prune_removes_old_settled_rows_and_unreferenced_batches() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 4)).await;
    app.reaper(&["run", "--once"]).await;
    // One of them found absent, as long ago.
    sqlx::query("UPDATE deletion_queue SET status = 'absent' WHERE id = 1")
        .execute(app.pool.sqlite())
        .await
        .unwrap();
    settled_days_ago(&app, "deleted", 40).await;
    settled_days_ago(&app, "absent", 40).await;
    // A request sent long ago whose answer was never recorded: what it did is unknown.
    sqlx::query(
        "INSERT INTO deletion_batches (unique_id, ids_count, attempt, started_at)
         VALUES ('default', 1, 1, strftime('%Y-%m-%d %H:%M:%f', 'now', '-40 days'))",
    )
    .execute(app.pool.sqlite())
    .await
    .unwrap();
    app.insert("default", &ids(100, 2)).await; // pending: never pruned
    app.insert("default", &ids(200, 3)).await;
    sqlx::query("UPDATE deletion_queue SET due_at = datetime('now', '+1 day') WHERE video_no = ?1")
        .bind(&ids(100, 1)[0])
        .execute(app.pool.sqlite())
        .await
        .unwrap();

    let out = app.reaper(&["prune", "--older-than", "30d"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed 4 settled rows and 1 batch record "),
        "{}",
        stdout(&out)
    );
    assert_eq!(app.rows().await.len(), 5);
    assert_eq!(app.count("deleted").await + app.count("absent").await, 0);
    let sending = app
        .batches()
        .await
        .into_iter()
        .filter(|b| b.outcome == "sending")
        .count();
    assert_eq!(sending, 1, "a request awaiting its answer is never pruned");
    let out = app.reaper(&["prune", "--older-than", "0s"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

on_both!(the_daemon_applies_the_configured_retention);
async fn the_daemon_applies_the_configured_retention() {
    let app = spawn_app(&[("retention", "keep = \"7d\"")]).await;
    app.insert("default", &ids(0, 3)).await;
    app.reaper(&["run", "--once"]).await;
    settled_days_ago(&app, "deleted", 8).await;
    app.insert("default", &ids(10, 2)).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("retention: removed"),
        "{}",
        stderr(&out)
    );
    // The three old rows are gone; the two just deleted stay.
    let rows = app.rows().await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == "deleted"));
}

#[tokio::test]
async fn check_reports_each_source_and_each_problem() {
    let app = spawn_app(&[]).await;
    let out = app.reaper(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("is valid"), "{text}");
    assert!(
        text.contains("schema up to date, 0 rows, writable"),
        "{text}"
    );
    assert!(
        text.contains("api key: found in $MEMORIES_API_KEY"),
        "{text}"
    );
    assert!(text.contains("next wake"), "{text}");
    assert!(!text.contains(KEY) && !stderr(&out).contains(KEY));

    // No key, and a key file anyone can read: one line per problem.
    let key_file = app.dir.path().join("api_key");
    std::fs::write(&key_file, KEY).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut cmd = app.command(&["check"]);
    cmd.env_remove("MEMORIES_API_KEY");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no API key"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);

    app.set_api_key_file(&key_file);
    let mut cmd = app.command(&["check"]);
    cmd.env_remove("MEMORIES_API_KEY");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("readable by every user"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains(KEY) && !stderr(&out).contains(KEY));

    // A database that does not exist yet is not created by check.
    let fresh = app.dir.path().join("fresh.db");
    std::fs::write(
        &app.config,
        config_text(&app.standin.base_url(), &fresh, &[]),
    )
    .unwrap();
    let out = app.reaper(&["check"]).await;
    assert!(
        stdout(&out).contains("does not exist yet"),
        "{}",
        stdout(&out)
    );
    assert!(!fresh.exists());
}

on_both!(dry_run_sends_and_changes_nothing);
async fn dry_run_sends_and_changes_nothing() {
    let app = spawn_app(&[("batch", "size = 40")]).await;
    app.insert("default", &ids(0, 100)).await;
    app.insert("tenant-a", &ids(0, 10)).await;
    app.insert("default", &["not-a-video".to_owned()]).await;

    let mut cmd = app.command(&["run", "--once", "--dry-run"]);
    cmd.env_remove("MEMORIES_API_KEY");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = stderr(&out);
    // Tried before the real run: it says what the real run would miss, as check does.
    assert!(
        logs.contains("no API key") && logs.contains("a real run would stop before sending"),
        "{logs}"
    );
    assert_eq!(logs.matches("would send").count(), 4, "{logs}"); // 40 + 40 + 20, then 10
    assert!(logs.contains("would fail without sending"), "{logs}");
    assert!(logs.contains("requests=4 ids=110 failing=1"), "{logs}");

    assert!(app.standin.received().is_empty());
    let statuses: HashSet<String> = app.rows().await.into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, HashSet::from(["pending".to_owned()]));
    assert!(app.batches().await.is_empty());
}

/// `run --dry-run` neither. Also: the configuration is `--config`, else
/// `$MEMORIES_REAPER_CONFIG`, and the error
/// names the one that named the database.
#[tokio::test]
async fn reading_commands_refuse_a_database_that_does_not_exist() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("state").join("queue.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text("http://127.0.0.1:9", &db, &[])).expect("config");
    let nowhere = dir.path().join("no-such-config.toml");
    let commands: [&[&str]; 5] = [
        &["status"],
        &["enqueue", "VI606404158946574336"],
        &["retry-failed"],
        &["prune", "--older-than", "30d"],
        // A dry run changes nothing, a queue's creation included.
        &["run", "--once", "--dry-run"],
    ];
    let shown = config.display().to_string();
    for args in commands {
        // The flag wins over the variable; the variable serves when there is no flag.
        for (flag, variable, named) in [
            (
                Some(&config),
                &nowhere,
                format!("configuration: --config {shown}"),
            ),
            (
                None,
                &config,
                format!("configuration: $MEMORIES_REAPER_CONFIG = {shown}"),
            ),
        ] {
            let mut cmd = tokio::process::Command::new(BIN);
            if let Some(flag) = flag {
                cmd.arg("--config").arg(flag);
            }
            cmd.args(args)
                .env("MEMORIES_REAPER_CONFIG", variable)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let out = run(cmd).await;
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                stderr(&out).contains("does not exist yet") && stderr(&out).contains(&named),
                "{args:?} {flag:?}: {}",
                stderr(&out)
            );
            assert!(
                !db.parent().expect("a directory").exists(),
                "{args:?} created the database"
            );
        }
    }
}

#[tokio::test]
async fn check_next_prints_the_next_wake_times_in_the_zone() {
    let app = spawn_app(&[
        ("schedule", "cron = \"0 0 13 * 5\""),
        ("schedule", "timezone = \"Europe/Berlin\""),
    ])
    .await;
    let out = app.reaper(&["check", "--next", "12"]).await;
    let text = stdout(&out);
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = text
        .lines()
        .filter_map(|l| chrono::DateTime::parse_from_str(l.trim(), "%a %Y-%m-%d %H:%M:%S %:z").ok())
        .collect();
    assert_eq!(times.len(), 12, "{text}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{text}");
    for t in &times {
        // Midnight in Berlin, on the 13th or on a Friday (crontab's either).
        assert_eq!(t.format("%H:%M:%S").to_string(), "00:00:00", "{text}");
        assert!(["+01:00", "+02:00"].contains(&t.format("%:z").to_string().as_str()));
        let day = t.format("%d %a").to_string();
        assert!(day.starts_with("13") || day.ends_with("Fri"), "{day}");
    }
    assert!(times
        .iter()
        .any(|t| !t.format("%d").to_string().starts_with("13")));

    let out = app.reaper(&["check", "--next", "0"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test]
async fn migrate_says_what_it_applied() {
    let app = spawn_app(&[]).await;
    let fresh = app.dir.path().join("fresh.db");
    let config = std::fs::read_to_string(&app.config)
        .unwrap()
        .replace(&app.db.display().to_string(), &fresh.display().to_string());
    std::fs::write(&app.config, config).unwrap();
    let first = app.reaper(&["migrate"]).await;
    assert!(first.status.success(), "{}", stderr(&first));
    let said = stdout(&first);
    assert!(said.contains("applied 0001 queue"), "{said}");
    assert!(said.contains("0005 strict due at"), "{said}");
    let again = app.reaper(&["migrate"]).await;
    assert!(
        stdout(&again).contains("is up to date"),
        "{}",
        stdout(&again)
    );
    assert!(!stdout(&again).contains("applied"), "{}", stdout(&again));
}

on_both!(two_migrates_at_once_on_a_new_queue_succeed_and_anchor_the_chain_once);
/// Two `migrate` at once on a new queue (two daemons started together, say): both succeed,
/// and the chain is anchored once. (Each had read what was applied before either ran the
/// migrations: both anchored it, and on SQLite one failed on a table the other had made.)
async fn two_migrates_at_once_on_a_new_queue_succeed_and_anchor_the_chain_once() {
    let app = spawn_app(&[]).await;
    let original = std::fs::read_to_string(&app.config).unwrap();
    for round in 0..10 {
        // A new queue each round: a file not made yet, or an empty database.
        let fresh = match &app.pool {
            Db::Sqlite(_) => {
                let path = app.dir.path().join(format!("fresh-{round}.db"));
                let config =
                    original.replace(&app.db.display().to_string(), &path.display().to_string());
                std::fs::write(&app.config, config).unwrap();
                format!("sqlite://{}", path.display())
            }
            Db::Postgres { name, .. } => {
                let empty = format!("{name}_fresh{round}");
                app.pool
                    .execute(&format!("CREATE DATABASE \"{empty}\""))
                    .await
                    .unwrap();
                let url_file = app.dir.path().join("database_url");
                let mut url =
                    url::Url::parse(&std::fs::read_to_string(&url_file).unwrap()).unwrap();
                url.set_path(&empty);
                std::fs::write(&url_file, url.as_str()).unwrap();
                url.set_query(None);
                url.to_string()
            }
        };
        let (a, b) = tokio::join!(app.reaper(&["migrate"]), app.reaper(&["migrate"]));
        assert!(
            a.status.success() && b.status.success(),
            "round {round}:\n{}\n{}",
            stderr(&a),
            stderr(&b)
        );
        let count = "SELECT count(*) FROM settlement_chain WHERE kind = 'anchor'";
        let anchors: i64 = match &app.pool {
            Db::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&fresh).await.unwrap();
                let n = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
            Db::Postgres { name, .. } => {
                let pool = sqlx::PgPool::connect(&fresh).await.unwrap();
                let n = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
                pool.close().await;
                let drop = format!("DROP DATABASE \"{name}_fresh{round}\" WITH (FORCE)");
                app.pool.execute(&drop).await.unwrap();
                n
            }
        };
        assert_eq!(anchors, 1, "round {round}: the chain's anchor entries");
    }
}

#[tokio::test]
async fn a_rate_above_the_accounts_limit_is_warned_about_and_still_allowed() {
    let app = spawn_app(&[("api", "requests_per_second = 6")]).await;
    let out = app.reaper(&["check"]).await;
    assert_eq!(out.status.code(), Some(0), "a warning, not a problem");
    assert!(
        stderr(&out).contains("warning: api.requests_per_second = 6 is above"),
        "{}",
        stderr(&out)
    );
    let app = spawn_app(&[]).await;
    let out = app.reaper(&["check"]).await;
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[tokio::test]
async fn relative_paths_in_a_config_are_taken_from_its_folder() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let folder = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::create_dir_all(&elsewhere).expect("folder");
    let config = folder.join("config.toml");
    std::fs::write(
        &config,
        "[database]\npath = \"queue.db\"\n[api]\napi_key_file = \"key\"\n",
    )
    .expect("config");
    std::fs::write(folder.join("key"), "a-key").expect("key");
    let reaper = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .current_dir(&elsewhere)
            .env_remove("MEMORIES_API_KEY")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        run(cmd)
    };
    assert!(reaper(&["migrate"]).await.status.success());
    assert!(folder.join("queue.db").exists(), "beside the config");
    let out = reaper(&["enqueue", &ids(0, 1)[0]]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = reaper(&["check"]).await;
    let key = folder.join("key");
    assert!(
        stdout(&out).contains(&format!("api key: found in {}", key.display())),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let pool = producer_pool(&folder.join("queue.db")).await;
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_queue")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(queued, 1, "enqueued into the queue beside the config");
    let stray: Vec<_> = std::fs::read_dir(&elsewhere).expect("list").collect();
    assert!(stray.is_empty(), "nothing where the command ran: {stray:?}");
}

/// The subcommands `--help` lists.
async fn subcommands() -> Vec<String> {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--help")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let help = stdout(&run(cmd).await);
    help.split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_manual_and_the_completions_cover_every_command() {
    let commands = subcommands().await;
    assert!(commands.len() >= 10, "{commands:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["manpage", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let main = std::fs::read_to_string(dir.path().join("memories-reaper.1")).expect("main page");
    assert!(
        main.contains("MEMORIES_API_KEY"),
        "the environment is in the manual"
    );
    for command in &commands {
        let page = dir.path().join(format!("memories-reaper-{command}.1"));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("{page:?}"));
        // roff escapes each dash as \-.
        let named = format!("memories-reaper-{command}").replace('-', "\\-");
        assert!(main.contains(&named), "the main page lists {command}");
        // Each page carries its command's own options, as `--help` lists them.
        let mut help = tokio::process::Command::new(BIN);
        help.args([command.as_str(), "--help"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let help = stdout(&run(help).await);
        for option in help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| w.trim_end_matches([',', '.', ')']))
        {
            assert!(
                text.contains(&option.replace('-', "\\-")),
                "{command}'s page lacks {option}"
            );
        }
    }
    for shell in ["bash", "zsh", "fish"] {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["completions", shell])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = run(cmd).await;
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in &commands {
            // Where each shell's script names a command as one (not a word in a help text).
            let named = match shell {
                "bash" => format!("memories__reaper,{command})"),
                "zsh" => format!("'{command}:"),
                _ => format!("-a \"{command}\""),
            };
            assert!(script.contains(&named), "{shell} lacks {command}");
        }
    }
}

/// Scrapes until the text holds every line, whole (at most 10 s); returns the last scrape.
async fn scrape_until(url: &str, lines: &[&str]) -> String {
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);
    let mut text = String::new();
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(url).await {
            text = response.text().await.unwrap_or_default();
            if lines.iter().all(|l| has(&text, l)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for line in lines {
        assert!(has(&text, line), "{line} not in:\n{text}");
    }
    text
}

#[tokio::test]
async fn metrics_are_served_and_say_what_the_queue_and_the_api_did() {
    let port = free_port();
    let listen = format!("listen = \"127.0.0.1:{port}\"");
    let app = spawn_app(&[
        ("schedule", "cron = \"* * * * * *\""),
        ("metrics", listen.as_str()),
        ("metrics", "by_namespace = true"),
    ])
    .await;
    let mut daemon = app.spawn(&["run"]);
    wait_for_line(&mut daemon, "metrics served at").await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    // Due in two seconds: pending first, in its namespace too, then deleted. One statement,
    // one due_at: rows inserted one by one fell due a few ms apart, and on a busy machine a
    // tick between them sent them in two requests.
    app.standin.add_namespace("tenant-a");
    let [a, b, c] = [0, 1, 2].map(|n| ids(n, 1)[0].clone());
    sqlx::query(
        "INSERT INTO deletion_queue (video_no, unique_id, due_at)
         SELECT value, 'tenant-a', strftime('%Y-%m-%d %H:%M:%f', 'now', '+2 seconds')
           FROM json_each(json_array(?1, ?2, ?3))",
    )
    .bind(a)
    .bind(b)
    .bind(c)
    .execute(app.pool.sqlite())
    .await
    .expect("insert");
    scrape_until(
        &url,
        &["memories_reaper_namespace_rows{namespace=\"tenant-a\",status=\"pending\"} 3"],
    )
    .await;
    // Idle connections beyond the few served at once are closed, not held: the daemon's
    // file descriptors stay its own, and the deletions go on.
    let idle: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let pid = daemon.id().expect("running");
    let text = scrape_until(
        &url,
        &[
            "memories_reaper_rows{status=\"deleted\"} 3",
            "memories_reaper_rows{status=\"pending\"} 0",
            "memories_reaper_namespace_rows{namespace=\"tenant-a\",status=\"deleted\"} 3",
            "memories_reaper_settled_rows{status=\"deleted\",proof=\"listed_answered\"} 3",
            "memories_reaper_requests_total{outcome=\"deleted\",code=\"0000\"} 1",
            "memories_reaper_rows_settled_total{status=\"deleted\"} 3",
            "memories_reaper_api_key_refused 0",
            "memories_reaper_oldest_due_age_seconds 0",
            "memories_reaper_legal_holds 0",
            "memories_reaper_schedule_interval_seconds 1",
            "# TYPE memories_reaper_request_duration_seconds histogram",
        ],
    )
    .await;
    // A series whose rows are gone leaves the scrape.
    assert!(
        !text.contains("namespace=\"tenant-a\",status=\"pending\""),
        "{text}"
    );
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    assert!(
        fds < 100,
        "{fds} descriptors open with {} idle connections",
        idle.len()
    );
    drop(idle);
    assert!(!text.contains(KEY), "the key is in the metrics");
    // A second daemon on the same port: a one-line error at start, before any pass.
    let out = app.reaper(&["run"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("metrics.listen 127.0.0.1:{port}: cannot listen")),
        "{err}"
    );
    signal(&daemon, "TERM");
    assert!(daemon.wait().await.expect("wait").success());
}

on_both!(a_key_refused_to_the_lookups_is_in_the_metrics);
async fn a_key_refused_to_the_lookups_is_in_the_metrics() {
    let port = free_port();
    let listen = format!("listen = \"127.0.0.1:{port}\"");
    let app = spawn_app(&[
        ("schedule", "cron = \"* * * * * *\""),
        ("metrics", listen.as_str()),
        ("verify", "required = true"),
    ])
    .await;
    let mut cmd = app.command(&["run"]);
    cmd.env("MEMORIES_API_KEY", "a-wrong-key");
    let mut daemon = cmd.spawn().expect("start");
    wait_for_line(&mut daemon, "metrics served at").await;
    app.insert("default", &ids(0, 2)).await;
    // The lookups come first and nothing is deleted: the refusal must still be seen.
    scrape_until(
        &format!("http://127.0.0.1:{port}/metrics"),
        &[
            "memories_reaper_api_key_refused 1",
            "memories_reaper_lookups_unavailable_total 1",
        ],
    )
    .await;
    // Read after the daemon stopped: a pass running at the scrape holds them in flight.
    signal(&daemon, "TERM");
    assert!(daemon.wait().await.expect("wait").success());
    assert_eq!(app.count("pending").await, 2, "held pending, as required");
}

on_both!(a_database_a_newer_version_migrated_is_refused);
async fn a_database_a_newer_version_migrated_is_refused() {
    let app = spawn_app(&[("schedule", "cron = \"* * * * * *\"")]).await;
    // A daemon left running through the upgrade: it checks before every pass.
    let mut daemon = app.spawn(&["run"]);
    wait_for_line(&mut daemon, "waiting for the next tick").await;
    let future = match backend() {
        Backend::Sqlite => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', 1, x'00', 0)"
        }
        Backend::Postgres => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', true, '\\x00'::bytea, 0)"
        }
    };
    app.pool.execute(future).await.unwrap();
    app.insert("default", &ids(0, 1)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&daemon, "TERM");
    assert!(daemon.wait().await.expect("wait").success());
    assert!(
        app.standin.received().is_empty(),
        "the running daemon sent on a schema newer than its own"
    );
    // An older daemon would not know the newer rules (holds): it must not send.
    for args in [
        &["run", "--once"][..],
        &["status"],
        &["check"],
        &["migrate"],
    ] {
        let out = app.reaper(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("schema is at migration 9999, newer than this memories-reaper"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(app.standin.received().is_empty());
}

#[tokio::test]
async fn by_namespace_shows_the_largest_namespaces_and_sums_the_rest() {
    let port = free_port();
    let listen = format!("listen = \"127.0.0.1:{port}\"");
    let app = spawn_app(&[
        ("metrics", listen.as_str()),
        ("metrics", "by_namespace = true"),
    ])
    .await;
    // 150 namespaces, ns-000 with the most rows; not due for a year.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 149),
              r(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM r WHERE j < 199)
         INSERT INTO deletion_queue (video_no, unique_id, due_at)
         SELECT 'VI' || (i * 1000 + j), printf('ns-%03d', i),
                strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 year')
           FROM n JOIN r ON j < 200 - i",
    )
    .execute(app.pool.sqlite())
    .await
    .expect("insert");
    let mut daemon = app.spawn(&["run"]);
    wait_for_line(&mut daemon, "metrics served at").await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = scrape_until(
        &url,
        &[
            "memories_reaper_namespace_rows{namespace=\"ns-000\",status=\"pending\"} 200",
            "memories_reaper_namespace_rows{namespace=\"ns-099\",status=\"pending\"} 101",
            // ns-100 to ns-149: 100 + 99 + … + 51 rows.
            "memories_reaper_namespace_rows{namespace=\"\",status=\"pending\"} 3775",
        ],
    )
    .await;
    let named = text
        .lines()
        .filter(|l| l.starts_with("memories_reaper_namespace_rows{namespace=\"ns-"))
        .count();
    assert_eq!(named, 100, "{text}");
    assert!(!text.contains("ns-100"), "{text}");
    signal(&daemon, "TERM");
    assert!(daemon.wait().await.expect("wait").success());
}

#[tokio::test]
async fn clients_that_trickle_their_headers_do_not_keep_a_scrape_out() {
    use tokio::io::AsyncWriteExt;
    let port = free_port();
    let listen = format!("listen = \"127.0.0.1:{port}\"");
    let app = spawn_app(&[("metrics", listen.as_str())]).await;
    let mut daemon = app.spawn(&["run"]);
    wait_for_line(&mut daemon, "metrics served at").await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    // 16 clients, each sending a header line every 300 ms and connecting again when closed.
    let stop = tokio_util::sync::CancellationToken::new();
    for _ in 0..16 {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    continue;
                };
                let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\n").await;
                while !stop.is_cancelled() && stream.write_all(b"X-Slow: 1\r\n").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut answered = 0;
    for _ in 0..20 {
        if let Ok(response) = client.get(&url).send().await {
            if response.status().is_success() {
                answered += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    assert_eq!(answered, 20, "scrapes answered beside 16 slow clients");
    signal(&daemon, "TERM");
    assert!(daemon.wait().await.expect("wait").success());
}

on_both!(a_quiet_daemon_is_quiet);
/// Ticks that find nothing due write nothing at INFO (the default level): only the pass
/// that deletes, the wait after it and the head it moved do, and the first wait after the
/// start. A daemon ticking every minute used to write three INFO lines a minute.
async fn a_quiet_daemon_is_quiet() {
    let app = spawn_app(&[("schedule", "cron = \"* * * * * *\"")]).await;
    let daemon = app.spawn(&["run"]);
    // Idle ticks, then one video to delete, then idle ticks again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.insert("default", &ids(0, 1)).await;
    for _ in 0..300 {
        if app.count("deleted").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("deleted").await, 1, "the video was not deleted");
    tokio::time::sleep(Duration::from_secs(4)).await;
    signal(&daemon, "TERM");
    let out = run_child(daemon).await;
    let log = stderr(&out);
    let info = |needle: &str| {
        let lines = log
            .lines()
            .filter(|l| l.contains(" INFO ") && l.contains(needle));
        lines.count()
    };
    assert_eq!(
        info("pass finished"),
        1,
        "only the pass that deleted: {log}"
    );
    assert_eq!(
        info("waiting for the next tick"),
        2,
        "the first, and after it: {log}"
    );
    assert_eq!(
        info("settlement chain head"),
        2,
        "the first, and moved: {log}"
    );
    assert!(log.contains("1 deleted"), "{log}");
}

/// The README's first command: `cargo run --example demo` runs to its end on its own (a
/// stand-in on a free port, even with 8787 taken), every row settles as the demo says,
/// the chain verifies, and it exits 0 with nothing left running. (`cargo test` builds the
/// examples; this runs the built one.)
#[tokio::test]
async fn the_demo_runs_to_its_end() {
    let demo = std::path::Path::new(BIN)
        .with_file_name("examples")
        .join("demo");
    assert!(demo.exists(), "{} is not built", demo.display());
    let _taken = std::net::TcpListener::bind("127.0.0.1:8787");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut cmd = tokio::process::Command::new(&demo);
    cmd.env("TMPDIR", tmp.path())
        .env("HOME", tmp.path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("the demo ran for more than 4 minutes")
        .expect("run the demo");
    let said = stdout(&out);
    assert!(out.status.success(), "{said}\n{}", stderr(&out));
    for expected in [
        "1 absent, 2999 deleted, 1 failed",
        "deleted    listed_answered          2999",
        "failed     refused                  1",
        "absent     no_namespace             1",
        "and the tables agree with them",
        "Nothing is left running",
    ] {
        assert!(said.contains(expected), "no {expected:?} in:\n{said}");
    }
    // The folder it names holds the queue the commands it prints would read.
    let folder = std::fs::read_dir(tmp.path())
        .expect("read the temporary directory")
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("memories-reaper-demo.")
        })
        .expect("the demo's folder");
    assert!(folder.path().join("queue.db").exists());
    assert!(said.contains(&format!(
        "--config {}",
        folder.path().join("config.toml").display()
    )));
}

/// `run --once` on a terminal draws its drain (rows settled of those due, a rate, the time
/// left), with the log's lines kept apart from it; piped, it draws nothing. The terminal
/// is script(1)'s.
#[tokio::test]
async fn run_once_shows_its_drain_on_a_terminal_only() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 300)).await;
    let command = format!(
        "{BIN} --config '{}' run --once",
        app.config.display().to_string().replace('\'', "'\\''")
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("MEMORIES_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("script(1), from util-linux");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(
        terminal.contains("rows settled: ") && terminal.contains("300/300 (100%"),
        "no drain drawn: {terminal}"
    );
    // Each log line starts a line of its own: the bar is cleared before it is written.
    let logged: Vec<&str> = terminal
        .split(['\r', '\n'])
        .filter(|line| line.contains("memories_reaper::"))
        .collect();
    assert!(logged.len() >= 3, "no log lines: {terminal}");
    assert!(
        logged.iter().all(|line| !line.contains("rows settled")),
        "a log line shares a line with the bar: {terminal}"
    );
    assert_eq!(app.count("deleted").await, 300);

    app.insert("default", &ids(300, 400)).await;
    let piped = app.reaper(&["run", "--once"]).await;
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(
        !stderr(&piped).contains("rows settled"),
        "{}",
        stderr(&piped)
    );
}
