//! Hostile input from producers, against the real binary and a producer's connection:
//! nothing a producer writes makes a video go early, or go at all when it cannot be read.

use crate::support::*;

/// Inserts one row as a producer would, with `due_at` given.
async fn insert_due(app: &App, due_at: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI606404158946574336', ?1)")
        .bind(due_at)
        .execute(&app.pool)
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
            sqlx::query(number).execute(&app.pool).await.is_err(),
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
    .execute(&app.pool)
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
            sqlx::query(&sql).execute(&app.pool).await.is_err(),
            "{bad} was accepted"
        );
    }
    sqlx::query("INSERT INTO deletion_queue (video_no) VALUES ('VI606404158946574336')")
        .execute(&app.pool)
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
async fn a_closed_stdout_is_not_an_error_and_a_committed_change_stays_committed() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["check", "--next", "5"],
        &["migrate"],
        &["retry-failed"],
        &["enqueue", "VI606404158946579999"],
    ] {
        let out = with_closed_stdout(&app, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
    assert_eq!(app.count("pending").await, 4, "the enqueue committed");
}
