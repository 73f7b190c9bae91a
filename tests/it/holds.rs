//! Legal holds through the commands an operator uses: a held video is never sent, whoever
//! queued it and in whichever namespace, until its hold is released.

use crate::on_both;
use crate::support::*;

on_both!(a_held_video_waits_for_its_release_whoever_queued_it);
async fn a_held_video_waits_for_its_release_whoever_queued_it() {
    let app = spawn_app(&[]).await;
    let queued = ids(0, 3);
    let held = queued[1].clone();
    app.insert("default", &queued).await;
    let out = app
        .reaper(&["hold", "add", &held, "--reason", "case 17: litigation"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "held 1 video in every namespace (0 were held there already: the first reason is kept); 1 queued row is now held"
        ),
        "{}",
        stdout(&out)
    );
    // Queued after the hold, in another namespace: held there too, and `enqueue` says so.
    app.standin.add_namespace("tenant-b");
    let out = app
        .reaper(&["enqueue", "--namespace", "tenant-b", &held])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "enqueued 1 in namespace tenant-b; rejected 0; 1 video is under a legal hold: its rows wait `held` until released"
        ),
        "{}",
        stdout(&out)
    );
    // A dry run does not count it among what would be sent.
    let out = app.reaper(&["run", "--once", "--dry-run"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("would send 2 ids in namespace default"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("namespace tenant-b"),
        "{}",
        stderr(&out)
    );

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !app.standin.received().iter().any(|r| r.ids.contains(&held)),
        "a held video was sent"
    );
    assert_eq!(app.count("deleted").await, 2);
    assert_eq!(app.count("held").await, 2);
    let out = app.reaper(&["status"]).await;
    assert!(stdout(&out).contains("legal holds: 1 "), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("  {held} in every namespace since "))
            && stdout(&out).contains(" UTC: case 17: litigation"),
        "{}",
        stdout(&out)
    );
    let out = app.reaper(&["hold", "list"]).await;
    assert_eq!(
        stdout(&out).trim_end().split('\t').collect::<Vec<_>>()[..2],
        [held.as_str(), "*"],
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("\t2 rows held\tcase 17: litigation"),
        "{}",
        stdout(&out)
    );

    // Released in one namespace only: nothing, the hold is in every namespace.
    let out = app
        .reaper(&["hold", "release", &held, "--namespace", "default"])
        .await;
    assert!(
        stdout(&out).contains(
            "released 0 holds in namespace default (1 video had no hold placed with that --namespace"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(app.count("held").await, 2);
    let out = app.reaper(&["hold", "release", &held]).await;
    assert!(
        stdout(&out).contains("released 1 hold in every namespace (0 videos had no hold placed without --namespace; `hold list` shows the holds that remain); 2 rows are pending again"),
        "{}",
        stdout(&out)
    );
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 4);
    let sent: Vec<_> = app
        .standin
        .received()
        .into_iter()
        .filter(|r| r.ids.contains(&held))
        .map(|r| r.unique_id.unwrap_or_default())
        .collect();
    assert_eq!(sent.len(), 2, "once in each namespace: {sent:?}");
    let out = app.reaper(&["hold", "list"]).await;
    assert_eq!(stdout(&out).trim(), "no legal holds");
}

on_both!(a_hold_without_a_reason_or_with_a_bad_id_says_so);
async fn a_hold_without_a_reason_or_with_a_bad_id_says_so() {
    let app = spawn_app(&[]).await;
    let id = ids(0, 1).remove(0);
    for reason in ["", "   ", "two\nlines"] {
        let out = app.reaper(&["hold", "add", &id, "--reason", reason]).await;
        assert_eq!(out.status.code(), Some(1), "{reason:?}");
        assert!(
            stderr(&out).contains("--reason must say why"),
            "{reason:?}: {}",
            stderr(&out)
        );
    }
    // A bad id is named and skipped; the good one is held (exit 1 says some were not).
    let out = app
        .reaper(&["hold", "add", &id, "not-a-video", "--reason", "case 9"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not-a-video"), "{}", stderr(&out));
    let out = app.reaper(&["hold", "list", "--json"]).await;
    let holds: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(holds[0]["video_no"], id.as_str());
    assert_eq!(holds[0]["namespace"], serde_json::Value::Null);
    assert_eq!(holds[0]["reason"], "case 9");
}

on_both!(a_hold_is_not_placed_on_a_schema_an_older_daemon_may_still_use);
async fn a_hold_is_not_placed_on_a_schema_an_older_daemon_may_still_use() {
    let app = spawn_app(&[]).await;
    // As if the database were still at the previous version (its daemons not restarted).
    app.pool
        .execute(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
        )
        .await
        .unwrap();
    for args in [
        &["hold", "add", &ids(0, 1)[0], "--reason", "case 1"][..],
        &["hold", "list"],
        &["status"],
    ] {
        let out = app.reaper(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("1 migration behind this memories-reaper")
                && stderr(&out).contains("restart the daemons on this version"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

on_both!(a_held_row_no_hold_covers_is_freed_by_the_next_pass);
async fn a_held_row_no_hold_covers_is_freed_by_the_next_pass() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 2)).await;
    // What a release racing a claim can leave on PostgreSQL: held, with no hold.
    app.pool
        .execute("UPDATE deletion_queue SET status = 'held'")
        .await
        .unwrap();
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 2);
}

on_both!(rows_found_held_at_claim_are_logged_with_their_namespace);
async fn rows_found_held_at_claim_are_logged_with_their_namespace() {
    let app = spawn_app(&[]).await;
    let video = ids(0, 1);
    app.insert("tenant-a", &video).await;
    // A hold the rows were not set held for (written past `hold add`, as a hold committed
    // while a claim was on its way): the claim finds it.
    app.pool
        .execute(&format!(
            "INSERT INTO legal_holds (video_no, reason) VALUES ('{}', 'case 9')",
            video[0]
        ))
        .await
        .unwrap();
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("held").await, 1);
    assert!(app.standin.received().is_empty());
    assert!(
        stderr(&out).contains("1 row in namespace tenant-a is under a legal hold"),
        "{}",
        stderr(&out)
    );
}

/// SQLite only: a hold written past the schema's CHECKs (a blob for a namespace) is shown
/// as what it is, never decoded with a panic.
#[tokio::test]
async fn a_hold_of_another_type_is_shown_not_a_panic() {
    let app = spawn_app(&[]).await;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&app.db)
        .pragma("ignore_check_constraints", "ON");
    let rogue = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query("INSERT INTO legal_holds (video_no, unique_id, reason) VALUES ('VI1', x'ff', 3.5)")
        .execute(&rogue)
        .await
        .unwrap();
    rogue.close().await;
    for args in [&["hold", "list"][..], &["status"]] {
        let out = app.reaper(args).await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("(not text)"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
}

/// PostgreSQL only: a producer with only the README's grants plants a temporary table named
/// like the one the hold trigger reads (pg_temp comes first in a search_path that does not
/// name it), then inserts a held video: the row is still written `held`.
#[tokio::test]
async fn a_producers_temporary_table_does_not_hide_a_hold() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        let video = &ids(0, 1)[0];
        let out = app
            .reaper(&["hold", "add", video, "--reason", "case 7"])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let Db::Postgres { name, .. } = &app.pool else {
            unreachable!("on PostgreSQL")
        };
        let role = format!("{name}_producer");
        for sql in [
            format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'producer-pw'"),
            format!("GRANT INSERT (video_no, unique_id, due_at) ON deletion_queue TO \"{role}\""),
        ] {
            app.pool.execute(&sql).await.unwrap();
        }
        let url = std::fs::read_to_string(app.dir.path().join("database_url")).unwrap();
        let mut url = url::Url::parse(&url).unwrap();
        url.set_username(&role).unwrap();
        url.set_password(Some("producer-pw")).unwrap();
        let mut producer = <sqlx::PgConnection as sqlx::Connection>::connect(url.as_str())
            .await
            .unwrap();
        for sql in [
            "CREATE TEMP TABLE legal_holds (video_no text, unique_id text)".to_owned(),
            format!("INSERT INTO deletion_queue (video_no) VALUES ('{video}')"),
        ] {
            sqlx::query(&sql).execute(&mut producer).await.unwrap();
        }
        assert_eq!(app.count("held").await, 1, "the planted table hid the hold");
        assert_eq!(app.count("pending").await, 0);
    })
    .await;
}
