//! Hostile input from producers, against the real binary and a producer's connection:
//! nothing a producer writes makes a video go early, or go at all when it cannot be read.

use crate::on_both;
use crate::support::*;

/// Inserts one row as a producer would, with `due_at` given.
async fn insert_due(app: &App, due_at: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI606404158946574336', ?1)")
        .bind(due_at)
        .execute(app.pool.sqlite())
        .await
        .map(drop)
}

#[tokio::test]
async fn a_due_at_the_queue_cannot_compare_is_refused_at_insert() {
    let app = spawn_app(&[]).await;
    for bad in [
        "+30 days",
        "1 month",
        "",
        " 2099-01-01 00:00:00",
        "2099-01-01 00:00:00 ",
        "tomorrow",
        "now",
        "2026-13-45 00:00:00",
        "2026-02-30 00:00:00",
        "2099-01-01 24:00:00",
        "2099-01-01T00:00:00",
        "2099-01-01T00:00:00Z",
        "2099-01-01",
        "2099-01-01 00:00:00.1",
        "2099-01-01 00:00:00+02:00",
        "2461072.5",
    ] {
        assert!(insert_due(&app, bad).await.is_err(), "{bad:?} was accepted");
    }
    for number in [
        "INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI1', 2461072.5)",
        "INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI1', 0)",
    ] {
        assert!(
            sqlx::query(number)
                .execute(app.pool.sqlite())
                .await
                .is_err(),
            "{number}"
        );
    }
    for good in [
        "2099-01-01 00:00:00",
        "2099-01-01 00:00:00.123",
        "2024-02-29 23:59:59",
    ] {
        insert_due(&app, good)
            .await
            .unwrap_or_else(|e| panic!("{good:?} refused: {e}"));
    }
    sqlx::query(
        "INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI1', datetime('now', '+30 days'))",
    )
    .execute(app.pool.sqlite())
    .await
    .expect("the README's form");
    assert_eq!(app.counts().await.values().sum::<i64>(), 4);
}

#[tokio::test]
async fn a_video_no_that_is_not_text_is_refused_at_insert() {
    let app = spawn_app(&[]).await;
    for bad in ["123", "1.5", "x'5649'", "NULL"] {
        let sql = format!("INSERT INTO deletion_queue (video_no) VALUES ({bad})");
        assert!(
            sqlx::query(&sql).execute(app.pool.sqlite()).await.is_err(),
            "{bad} was accepted"
        );
    }
    sqlx::query("INSERT INTO deletion_queue (video_no) VALUES ('VI606404158946574336')")
        .execute(app.pool.sqlite())
        .await
        .expect("text is accepted");
}

#[tokio::test]
async fn a_due_at_that_got_past_the_schema_is_reported_and_never_sent() {
    let app = spawn_app(&[]).await;
    // A producer that switches the CHECKs off.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&app.db)
        .pragma("ignore_check_constraints", "ON");
    let rogue = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI606404158946574336', '+30 days')",
    )
    .execute(&rogue)
    .await
    .unwrap();
    rogue.close().await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        app.standin.received().is_empty(),
        "sent a row that was not due"
    );
    assert_eq!(app.count("pending").await, 1);
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
    let status = app.reaper(&["status"]).await;
    assert!(
        stdout(&status).contains("unreadable due_at: 1"),
        "{}",
        stdout(&status)
    );
    let check = app.reaper(&["check"]).await;
    assert!(
        stdout(&check).contains("1 with an unreadable due_at"),
        "{}",
        stdout(&check)
    );
}

/// Runs the binary with a stdout whose reading end is already closed (`… | head -c0`).
fn with_closed_stdout(app: &App, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    std::process::Command::new(BIN)
        .arg("--config")
        .arg(&app.config)
        .args(args)
        .env("MEMORIES_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run memories-reaper")
}

#[tokio::test]
async fn a_closed_stderr_is_not_a_panic() {
    let app = spawn_app(&[]).await;
    let config = app.config.to_str().unwrap();
    for (args, code) in [
        (&["--config", config, "enqueue", "not-an-id"][..], 1),
        (&["--config", "/dev/zero", "check"], 1),
        (
            &["--config", config, "prune", "--older-than", "1000000y"],
            2,
        ),
        (&["--config", config, "run", "--once"], 0),
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let status = std::process::Command::new(BIN)
            .args(args)
            .env("MEMORIES_API_KEY", KEY)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(writer)
            .status()
            .expect("run memories-reaper");
        // A panic exits 101.
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}

on_both!(a_closed_stdout_is_not_an_error_and_a_committed_change_stays_committed);
async fn a_closed_stdout_is_not_an_error_and_a_committed_change_stays_committed() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["check", "--next", "5"],
        &["migrate"],
        &["retry-failed"],
        &["receipts"],
        &["enqueue", "VI606404158946579999"],
    ] {
        let out = with_closed_stdout(&app, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
    assert_eq!(app.count("pending").await, 4, "the enqueue committed");
}

/// What `cmd` printed on stderr, having checked that it ended with `code` and said it in
/// one line, without a panic.
async fn one_line_error(app: &App, args: &[&str], code: i32) -> String {
    let out = app.reaper(args).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err
}

#[tokio::test]
async fn special_files_are_refused_at_once_as_config_or_key() {
    let app = spawn_app(&[]).await;
    let fifo = app.dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.expect("mkfifo").success());
    for (file, kind) in [
        ("/dev/zero".as_ref(), "a character device"),
        (fifo.as_path(), "a FIFO"),
        (app.dir.path(), "a directory"),
    ] {
        // `reaper` gives up after a minute: a FIFO used to hang here for ever.
        let mut cmd = app.command(&["check"]);
        cmd.as_std_mut()
            .args(["--config".as_ref(), file.as_os_str()]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(kind), "{}", stderr(&out));

        app.set_api_key_file(file);
        let mut cmd = app.command(&["run", "--once"]);
        cmd.env_remove("MEMORIES_API_KEY");
        let out = run(cmd).await;
        assert!(
            stderr(&out).contains(&format!(
                "cannot read the API key from {}: is {kind}",
                file.display()
            )),
            "{}",
            stderr(&out)
        );
        let config = std::fs::read_to_string(&app.config).unwrap();
        let restored: Vec<&str> = config
            .lines()
            .filter(|l| !l.starts_with("api_key_file"))
            .collect();
        std::fs::write(&app.config, restored.join("\n")).unwrap();
    }
    assert!(app.standin.received().is_empty());
}

#[tokio::test]
async fn durations_past_their_limits_are_one_line_errors() {
    let app = spawn_app(&[]).await;
    let configure = |extra: &[(&str, &str)]| {
        let text = app.config_text(extra);
        std::fs::write(&app.config, text).unwrap();
    };
    configure(&[("retention", "keep = \"300000y\"")]);
    let err = one_line_error(&app, &["check"], 1).await;
    assert!(err.contains(": keep: \"300000y\""), "{err}");
    assert!(err.contains("limit of 100years"), "{err}");
    configure(&[("api", "timeout = \"99999999999999d\"")]);
    let err = one_line_error(&app, &["run", "--once"], 1).await;
    assert!(err.contains("limit of 10m"), "{err}");
    configure(&[]);
    for args in [
        &["prune", "--older-than", "99999999999999d"][..],
        &["retry-failed", "--since", "300000y"],
        &["prune", "--older-than", "18446744073709551616s"],
    ] {
        let out = app.reaper(args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn status_shows_values_of_any_type_escaped_and_cut() {
    let app = spawn_app(&[]).await;
    let bidi = "ns\u{202e}evil";
    let out = app
        .reaper(&["enqueue", "--namespace", bidi, &ids(0, 1)[0]])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ns\\u{202e}evil"), "{}", stdout(&out));
    app.insert("default", &ids(1, 1)).await;
    for sql in [
        "UPDATE deletion_queue SET unique_id = 'line' || char(10) || 'forged', \
         attempts = 'many', last_error = x'00ff' WHERE id = 1",
        "UPDATE deletion_queue SET attempts = 9.5e300, last_error = printf('%.*c', 100000, 'e') WHERE id = 2",
        "INSERT INTO deletion_batches (unique_id, ids_count, attempt, outcome, started_at, duration_ms) \
         VALUES (x'41', 'lots', 1.5, 'deleted', 42, 'slow')",
    ] {
        sqlx::query(sql).execute(app.pool.sqlite()).await.expect(sql);
    }
    let out = app.reaper(&["status"]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("line\\nforged"), "{text}");
    assert!(!text.contains("line\nforged"), "{text}");
    assert!(text.contains("attempts many"), "{text}");
    assert!(text.contains("last error: x'00ff'"), "{text}");
    assert!(text.contains("ids=lots attempt=1.5"), "{text}");
    assert!(
        text.len() < 4000,
        "a long value is cut: {} bytes",
        text.len()
    );
    let out = app.reaper(&["status", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["oldest_pending"]["attempts"], "many");
    assert_eq!(json["last_batches"][0]["ids_count"], "lots");
}

on_both!(enqueue_names_a_line_that_is_not_text_and_inserts_the_others);
async fn enqueue_names_a_line_that_is_not_text_and_inserts_the_others() {
    let app = spawn_app(&[]).await;
    let mut file = Vec::new();
    for id in ids(0, 3000) {
        file.extend_from_slice(id.as_bytes());
        file.push(b'\n');
    }
    file.extend_from_slice(b"VI\xff\xfe\n");
    file.extend_from_slice(&vec![b'9'; 10_000_000]);
    file.push(b'\n');
    file.extend_from_slice(format!("VI12\u{202e}34\n{}\n", ids(3000, 1)[0]).as_bytes());
    let path = app.dir.path().join("ids.txt");
    std::fs::write(&path, file).unwrap();
    let out = app
        .reaper(&["enqueue", "--file", path.to_str().unwrap()])
        .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ids.txt:3001: not valid UTF-8 text"), "{err}");
    assert!(
        err.contains("ids.txt:3002: a line of 10000000 bytes"),
        "{err}"
    );
    assert!(err.contains("ids.txt:3003: \"VI12\\u{202e}34\""), "{err}");
    assert!(err.len() < 1000, "{} bytes of stderr", err.len());
    assert!(stdout(&out).contains("enqueued 3001"), "{}", stdout(&out));
    assert_eq!(app.count("pending").await, 3001);
}

#[tokio::test]
async fn a_lease_memories_reaper_never_grants_is_reported_and_taken_back() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 7)).await;
    for (id, lease) in [
        (1, "NULL"),
        (2, "'soon'"),
        (3, "'9999-01-01 00:00:00'"),
        // Held by a live daemon: left alone.
        (4, "strftime('%Y-%m-%d %H:%M:%f', 'now', '+10 minutes')"),
        // A BLOB SQLite reads no time from; a number it reads as a Julian day, long past.
        (5, "X'00'"),
        (6, "12345"),
        // The clock's time, which SQLite refuses in an index: read as no lease.
        (7, "'NOW'"),
    ] {
        let sql = format!(
            "UPDATE deletion_queue SET status = 'in_flight', claimed_by = 'other', lease_until = {lease} WHERE id = {id}"
        );
        sqlx::query(&sql).execute(app.pool.sqlite()).await.unwrap();
    }
    let status = stdout(&app.reaper(&["status"]).await);
    assert!(status.contains("never grants: 5"), "{status}");
    let check = stdout(&app.reaper(&["check"]).await);
    assert!(check.contains("5 in flight under a lease"), "{check}");
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let sent = app.sent_ids();
    assert_eq!(sent.len(), 6, "{sent:?}");
    assert!(
        !sent.contains(&ids(3, 1)[0]),
        "the live daemon's row was sent"
    );
    assert_eq!(
        (app.count("deleted").await, app.count("in_flight").await),
        (6, 1)
    );
}

#[tokio::test]
async fn a_database_path_that_is_not_a_file_is_refused() {
    let app = spawn_app(&[]).await;
    let base = app.standin.base_url();
    for (path, says) in [
        (":memory:", "is not a file path"),
        ("", "is not a file path"),
        ("/dev/null", "is a device"),
        ("/tmp", "is a directory"),
    ] {
        let text = config_text(&base, std::path::Path::new(path), &[]);
        std::fs::write(&app.config, text).unwrap();
        for args in [&["enqueue", "VI1"][..], &["status"], &["run", "--once"]] {
            let err = one_line_error(&app, args, 1).await;
            assert!(err.contains(says), "{path:?} {args:?}: {err}");
        }
    }
    assert!(!std::path::Path::new("/dev/null-journal").exists());
}

#[tokio::test]
async fn a_rate_beyond_any_limiter_is_refused_at_load() {
    let app = spawn_app(&[]).await;
    for key in ["api", "lookup"] {
        let text = config_text(
            &app.standin.base_url(),
            &app.db,
            &[(key, "requests_per_second = 4294967295")],
        );
        std::fs::write(&app.config, text).unwrap();
        let err = one_line_error(&app, &["check"], 1).await;
        assert!(err.contains("out of range: 1 to 1000"), "{err}");
    }
}

#[tokio::test]
async fn a_usage_error_escapes_what_was_typed() {
    let app = spawn_app(&[]).await;
    // A direction override: clap quotes it as typed.
    let out = app.reaper(&["status", "--last", "1\u{202e}"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("'1\\u{202e}'"), "{err}");
    assert!(!err.contains('\u{202e}'), "{err:?}");
}

/// A database URL variable set but empty (a secret that did not arrive) is an error, not a
/// quiet fall back to a local SQLite file while the server's rows wait.
#[tokio::test]
async fn an_empty_database_url_variable_is_an_error() {
    let app = spawn_app(&[]).await;
    let mut cmd = app.command(&["status"]);
    cmd.env("MEMORIES_REAPER_DATABASE_URL", "");
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("$MEMORIES_REAPER_DATABASE_URL is set but empty"),
        "{}",
        stderr(&out)
    );
}

/// A PostgreSQL server that refuses the connection is named as such, at once: the pool
/// alone waited `busy_timeout` + 5 s and said only that it timed out.
#[tokio::test]
async fn a_server_that_refuses_the_connection_is_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // Port 1 on this machine: nothing listens there.
    std::fs::write(
        &config,
        "[database]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\nbusy_timeout = \"10m\"\n",
    )
    .unwrap();
    for args in [&["status"][..], &["check"], &["run", "--once"]] {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("--config").arg(&config).args(args);
        cmd.env_remove("MEMORIES_REAPER_DATABASE_URL")
            .env("MEMORIES_API_KEY", "k")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // The guard turns the old wait (10 minutes here) into a failure; it measures nothing.
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), run(cmd))
            .await
            .expect("waited for the pool's timeout");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("Connection refused"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The same URL from the environment: the error says where it came from.
    std::fs::write(&config, "[database]\nbusy_timeout = \"10m\"\n").unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--config").arg(&config).arg("status");
    cmd.env(
        "MEMORIES_REAPER_DATABASE_URL",
        "postgres://nobody@127.0.0.1:1/none",
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run(cmd))
        .await
        .expect("waited for the pool's timeout");
    assert!(
        stderr(&out).contains("Connection refused")
            && stderr(&out).contains("(the URL from $MEMORIES_REAPER_DATABASE_URL)"),
        "{}",
        stderr(&out)
    );
}

/// `--file /dev/zero` is one endless line: the commands that read ids stop with one line
/// saying so, where they used to read for ever.
#[tokio::test]
async fn an_endless_file_of_ids_is_refused() {
    let app = spawn_app(&[]).await;
    for args in [
        &["enqueue", "--file", "/dev/zero"][..],
        &["hold", "add", "--file", "/dev/zero", "--reason", "r"],
        &["hold", "release", "--file", "/dev/zero"],
    ] {
        let out = app.reaper(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot read /dev/zero: a line longer than 64 MiB"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[tokio::test]
async fn a_rejected_id_with_an_invisible_character_is_shown_with_it() {
    let app = spawn_app(&[]).await;
    let file = app.dir.path().join("ids.txt");
    let id = &ids(0, 1)[0];
    std::fs::write(&file, format!("\u{feff}{id}\n")).unwrap();
    let out = app
        .reaper(&["enqueue", "--file", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("\"\\u{{feff}}{id}\": invalid video number")),
        "{}",
        stderr(&out)
    );
}

/// Root only (skipped otherwise): root is refused a queue whose folder another user owns,
/// with the line to run instead, and creates nothing there (files it created would belong
/// to root, and the service's user could not open them).
#[tokio::test]
async fn root_is_refused_a_queue_in_another_users_folder() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let app = spawn_app(&[]).await;
    let folder = app.dir.path().join("state");
    std::fs::create_dir(&folder).unwrap();
    // nobody: on every Debian system.
    std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).unwrap();
    let use_folder = |folder: &std::path::Path| {
        let text = config_text(&app.standin.base_url(), &folder.join("queue.db"), &[]);
        std::fs::write(&app.config, text).unwrap();
    };
    use_folder(&folder);
    let refused = |out: &std::process::Output| {
        stderr(out).contains("belongs to nobody, and this runs as root")
            && stderr(out).contains("runuser -u nobody -- memories-reaper \"--config\"")
    };
    let out = app.reaper(&["migrate"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(refused(&out), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        0,
        "files were created"
    );

    // A queue made by root, then handed to nobody (as a service's would be).
    let handed = app.dir.path().join("handed");
    std::fs::create_dir(&handed).unwrap();
    use_folder(&handed);
    assert!(app.reaper(&["migrate"]).await.status.success());
    for entry in std::fs::read_dir(&handed).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(&handed, Some(65534), Some(65534)).unwrap();
    for args in [
        &["status"][..],
        &["enqueue", &ids(0, 1)[0]],
        &["run", "--once"],
    ] {
        let out = app.reaper(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(refused(&out), "{args:?}: {}", stderr(&out));
    }
    for entry in std::fs::read_dir(&handed).unwrap() {
        let entry = entry.unwrap();
        let owner = std::os::unix::fs::MetadataExt::uid(&entry.metadata().unwrap());
        assert_eq!(owner, 65534, "{:?} belongs to root", entry.path());
    }
}

/// Root only (skipped otherwise): `check` run as a user who may read the queue but not
/// write it says so. SQLite opened such a file read-only, and in WAL mode its write lock
/// could still be taken: `check` said "writable" where the daemon could write nothing.
#[tokio::test]
async fn check_says_a_queue_this_user_may_only_read_is_read_only() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let app = spawn_app(&[]).await;
    let folder = app.dir.path().join("shared");
    std::fs::create_dir(&folder).unwrap();
    let text = config_text(&app.standin.base_url(), &folder.join("queue.db"), &[]);
    std::fs::write(&app.config, text).unwrap();
    assert!(app.reaper(&["migrate"]).await.status.success());
    // Another user (nobody) reaches the folder and reads every file, writes none.
    for path in [app.dir.path(), folder.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mode = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(&app.config, 0o644);
    for entry in std::fs::read_dir(&folder).unwrap() {
        mode(&entry.unwrap().path(), 0o644);
    }
    mode(&folder.join("queue.db"), 0o444);
    let check = || async {
        let out = app
            .command(&["check"])
            .uid(65534)
            .gid(65534)
            .output()
            .await
            .unwrap();
        let queue_line = |text: String| {
            text.lines()
                .find(|line| line.contains("queue.db"))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        (
            queue_line(String::from_utf8_lossy(&out.stdout).into_owned()),
            queue_line(String::from_utf8_lossy(&out.stderr).into_owned()),
        )
    };
    let (said, complained) = check().await;
    assert!(
        complained.contains("is read-only") && !said.contains("writable"),
        "stdout: {said}\nstderr: {complained}"
    );
    // Handed to nobody, the same queue is writable, as `check` says.
    for entry in std::fs::read_dir(&folder).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).unwrap();
    mode(&folder.join("queue.db"), 0o644);
    let (said, complained) = check().await;
    assert!(
        said.contains("writable"),
        "stdout: {said}\nstderr: {complained}"
    );
}
