//! Several daemons on one database: one sends, the others stand by, and one of them takes
//! over when the sender dies. (tests/hosts-fail.sh does the same across network
//! namespaces, with a link cut and the database restarted.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::on_both;
use crate::support::*;

/// The most requests the stand-in received in any window of `window`.
fn busiest(received: &[Received], window: Duration) -> usize {
    let times: Vec<Instant> = received.iter().map(|r| r.at).collect();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

/// The pid in the sender's lease (`… pid N (…)`).
async fn sender_pid(app: &App) -> Option<u32> {
    let rows = app.pool.texts("SELECT holder FROM sender_lease").await;
    let holder = rows.first()?.first()?.clone()?;
    holder
        .split(" pid ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

on_both!(three_daemons_send_as_one_and_a_standby_takes_over_when_the_sender_is_killed);
async fn three_daemons_send_as_one_and_a_standby_takes_over_when_the_sender_is_killed() {
    let app = spawn_app(&[("schedule", "cron = \"* * * * * *\"")]).await;
    let all = ids(0, 2500);
    app.insert("default", &all).await;
    let mut daemons: Vec<_> = (0..3).map(|_| app.spawn(&["run"])).collect();
    app.wait_for_requests(5).await;
    let pid = sender_pid(&app).await.expect("a sender holds the lease");
    let sender = daemons
        .iter()
        .position(|d| d.id() == Some(pid))
        .expect("the sender is one of the three");
    let status = stdout(&app.reaper(&["status"]).await);
    assert!(
        status.contains("sender: ") && status.contains(&format!(" pid {pid} ")),
        "{status}"
    );
    let mut killed = daemons.remove(sender);
    killed.start_kill().expect("kill -9 the sender");
    let kill = Instant::now();
    killed.wait().await.expect("the sender ended");

    for _ in 0..600 {
        if app.count("deleted").await == all.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for d in &mut daemons {
        d.start_kill().ok();
    }
    let deleted = app.count("deleted").await;
    if deleted != all.len() as i64 {
        // What the two that were left said, their last lines.
        let mut said = String::new();
        for d in daemons {
            if let Ok(out) = d.wait_with_output().await {
                let log = stderr(&out);
                let lines: Vec<&str> = log.lines().collect();
                said += &lines[lines.len().saturating_sub(25)..].join("\n");
                said += "\n----\n";
            }
        }
        panic!(
            "{deleted} of {} deleted; the daemons said:\n{said}",
            all.len()
        );
    }

    let received = app.standin.received();
    // No id deleted twice: an id sent again (its answer cut by the kill) is answered
    // 0409, never a second 0000.
    let mut deleted: HashMap<&str, usize> = HashMap::new();
    for r in received.iter().filter(|r| r.answered == "0000") {
        for id in &r.ids {
            *deleted.entry(id).or_default() += 1;
        }
    }
    assert_eq!(deleted.len(), all.len());
    assert!(deleted.values().all(|n| *n == 1), "an id was deleted twice");
    // One sender at a time: the killed one's requests, then its successor's, never mixed.
    let senders: Vec<String> = app
        .pool
        .texts("SELECT sender FROM deletion_batches ORDER BY id")
        .await
        .into_iter()
        .map(|row| row[0].clone().unwrap_or_default())
        .collect();
    let mut turns = senders.clone();
    turns.dedup();
    assert_eq!(turns.len(), 2, "the senders took turns: {turns:?}");
    // One rate for the account: never more than 5 in any second, never a 0429. (Failing,
    // it shows each request's arrival from the kill, and each record's sender and times.)
    let timeline = || {
        let arrivals: Vec<String> = received
            .iter()
            .map(|r| {
                let ms = |t: Instant| match t.checked_duration_since(kill) {
                    Some(after) => after.as_millis() as i128,
                    None => -(kill.duration_since(t).as_millis() as i128),
                };
                format!("{:+}ms {} ids {}", ms(r.at), r.ids.len(), r.answered)
            })
            .collect();
        arrivals.join("\n")
    };
    let records = app
        .pool
        .texts(
            "SELECT CAST(id AS TEXT), sender, CAST(started_at AS TEXT), outcome \
             FROM deletion_batches ORDER BY id",
        )
        .await;
    assert!(
        received.iter().all(|r| r.answered != "0429"),
        "arrivals (from the kill):\n{}\nrecords: {records:?}",
        timeline()
    );
    assert!(
        busiest(&received, Duration::from_secs(1)) <= 5,
        "{}",
        timeline()
    );
    // The takeover, within the lease (2 s) and a third, plus a pass's start: generous.
    let first_after = received
        .iter()
        .find(|r| r.at > kill + Duration::from_millis(200))
        .expect("requests after the kill");
    let takeover = first_after.at - kill;
    assert!(
        takeover < Duration::from_secs(10),
        "took over after {takeover:?}"
    );
}

/// PostgreSQL only: the server's certificate is checked as `sslmode` says, with rustls.
#[tokio::test]
async fn the_server_is_verified_over_tls_as_sslmode_says() {
    if !postgres_available() {
        return;
    }
    let ca = postgres_server::server()
        .and_then(|server| server.ca.clone())
        .expect("the test server's CA (MEMORIES_REAPER_TEST_POSTGRES_CA, with the URL)");
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        let url_file = app.dir.path().join("database_url");
        let url = std::fs::read_to_string(&url_file).unwrap();
        // The certificate names localhost and 127.0.0.1.
        let with = |parameters: &str| {
            std::fs::write(&url_file, format!("{url}?{parameters}")).unwrap();
        };
        with(&format!("sslmode=verify-full&sslrootcert={ca}"));
        let out = app.reaper(&["status"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        // Another CA (the system's): the server is not believed, and nothing is sent.
        with("sslmode=verify-full");
        let out = app.reaper(&["status"]).await;
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("invalid peer certificate"),
            "{}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("reaper_admin:"),
            "the password was shown"
        );
    })
    .await;
}

/// PostgreSQL only: a URL naming a socket's folder (`host=/dir`, as libpq's) reaches the
/// server through it, and logs name that folder.
#[tokio::test]
async fn a_socket_s_folder_names_the_server() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        let found = app
            .pool
            .texts(
                "SELECT current_setting('unix_socket_directories'), current_setting('port'), \
                 current_database(), current_user",
            )
            .await;
        let [folders, port, database, user] = &found[0][..] else {
            panic!("{found:?}")
        };
        let (folders, port, database, user) = (
            folders.as_deref().unwrap(),
            port.as_deref().unwrap(),
            database.as_deref().unwrap(),
            user.as_deref().unwrap(),
        );
        let folder = folders.split(',').next().unwrap().trim();
        // The test server trusts its socket: no password in this URL.
        std::fs::write(
            app.dir.path().join("database_url"),
            format!("postgres:///{database}?host={folder}&port={port}&user={user}"),
        )
        .unwrap();
        let out = app.reaper(&["status"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        app.insert("default", &ids(0, 3)).await;
        let out = app.reaper(&["run", "--once"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(app.count("deleted").await, 3);
        assert!(
            stderr(&out).contains(&format!("postgres://{user}@{folder}/{database}")),
            "{}",
            stderr(&out)
        );
    })
    .await;
}

/// PostgreSQL only: a schema every role may create objects in (the default before
/// PostgreSQL 15) lets a producer define a function the daemon would call with its rights:
/// refused, with the statement that fixes it.
#[tokio::test]
async fn a_schema_every_role_may_create_in_is_refused() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        app.pool
            .execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
            .await
            .unwrap();
        for args in [&["status"][..], &["check"], &["run", "--once"]] {
            let out = app.reaper(args).await;
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
        app.pool
            .execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            .await
            .unwrap();
        let out = app.reaper(&["status"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
    })
    .await;
}

/// PostgreSQL only: a role that may only read (an auditor's) can read the queue, but
/// `run --once` with it cannot ask for the sender's lease: it says so and exits 1, where it
/// used to ask forever.
#[tokio::test]
async fn a_role_that_may_only_read_runs_no_pass_and_says_why() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        app.insert("default", &ids(0, 2)).await;
        let Db::Postgres { name, .. } = &app.pool else {
            unreachable!("on PostgreSQL")
        };
        let role = format!("{name}_reader");
        app.pool
            .execute(&format!(
                "CREATE ROLE \"{role}\" LOGIN PASSWORD 'reader-pw'"
            ))
            .await
            .unwrap();
        app.pool
            .execute(&format!(
                "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{role}\""
            ))
            .await
            .unwrap();
        let url_file = app.dir.path().join("database_url");
        let mut url = url::Url::parse(&std::fs::read_to_string(&url_file).unwrap()).unwrap();
        url.set_username(&role).unwrap();
        url.set_password(Some("reader-pw")).unwrap();
        std::fs::write(&url_file, url.as_str()).unwrap();

        let out = app.reaper(&["status"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        // The guard turns a hang into a failure; it measures nothing.
        let out = tokio::time::timeout(Duration::from_secs(120), app.reaper(&["run", "--once"]))
            .await
            .expect("run --once asked for the lease forever");
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot ask for the sender's lease, so this run sent nothing")
                && stderr(&out).contains("permission denied"),
            "{}",
            stderr(&out)
        );
        assert!(app.standin.received().is_empty());
    })
    .await;
}

/// PostgreSQL only: `status` (like every command but `run` and `migrate`) pointed at a
/// database without the queue says so, and leaves it without tables; on SQLite they
/// refuse a file that does not exist.
#[tokio::test]
async fn a_read_command_does_not_create_the_queue_where_a_url_points() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        let Db::Postgres { name, .. } = &app.pool else {
            unreachable!("on PostgreSQL")
        };
        let empty = format!("{name}_empty");
        app.pool
            .execute(&format!("CREATE DATABASE \"{empty}\""))
            .await
            .unwrap();
        let url_file = app.dir.path().join("database_url");
        let mut url = url::Url::parse(&std::fs::read_to_string(&url_file).unwrap()).unwrap();
        url.set_path(&empty);
        std::fs::write(&url_file, url.as_str()).unwrap();
        for args in [
            &["status"][..],
            &["hold", "list"],
            &["enqueue", &ids(0, 1)[0]],
        ] {
            let out = app.reaper(args).await;
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("has no queue yet"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
        let mut empty_db = url.clone();
        empty_db.set_query(None);
        let pool = sqlx::PgPool::connect(empty_db.as_str()).await.unwrap();
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        assert_eq!(tables, 0, "a read command created tables");
        let out = app.reaper(&["migrate"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let out = app.reaper(&["status"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        app.pool
            .execute(&format!("DROP DATABASE \"{empty}\" WITH (FORCE)"))
            .await
            .unwrap();
    })
    .await;
}

/// PostgreSQL only: the producers' contract. `due_at` is read by the schema's own function,
/// never by PostgreSQL's date input (which reads 'tomorrow', 'epoch' and 'infinity'), and a
/// time without a zone is UTC; a session in another zone writing one is refused, since it
/// meant its own zone and the row would be due early.
#[tokio::test]
async fn a_due_at_postgresql_would_read_its_own_way_is_refused_at_insert() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        let url = std::fs::read_to_string(app.dir.path().join("database_url")).unwrap();
        let mut producer = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let insert =
            "INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI606404158946574336', $1)";
        for bad in [
            "tomorrow",
            "epoch",
            "now",
            "infinity",
            "-infinity",
            "",
            "2099-01-01",
            "2026-02-30 00:00:00",
            "2099-01-01 24:00:00",
            "2099-01-01 00:00:60",
            "2099-01-01 00:00:00+23",
        ] {
            let refused = sqlx::query(insert).bind(bad).execute(&mut producer).await;
            assert!(refused.is_err(), "{bad:?} was accepted");
        }
        for good in [
            "2099-01-01 00:00:00",
            "2099-01-01T00:00:00Z",
            "2099-01-01 00:00:00.123456+05:30",
            "2099-01-01 00:00:00-12:00",
        ] {
            sqlx::query(insert)
                .bind(good)
                .execute(&mut producer)
                .await
                .unwrap_or_else(|e| panic!("{good:?} refused: {e}"));
        }
        // A session in Los Angeles writing its local time without the zone.
        sqlx::query("SET TimeZone = 'America/Los_Angeles'")
            .execute(&mut producer)
            .await
            .unwrap();
        let local = sqlx::query(
            "INSERT INTO deletion_queue (video_no, due_at)
             VALUES ('VI606404158946574337', localtimestamp + interval '6 hours')",
        )
        .execute(&mut producer)
        .await;
        let refused = local.expect_err("a local time without its zone was taken as UTC");
        assert!(
            refused
                .to_string()
                .contains("has no zone, and this session's TimeZone is America/Los_Angeles"),
            "{refused}"
        );
        // With its zone, or left to the default (now), the same session is served.
        for ok in [
            "INSERT INTO deletion_queue (video_no, due_at)
             VALUES ('VI606404158946574338', now() + interval '6 hours')",
            "INSERT INTO deletion_queue (video_no) VALUES ('VI606404158946574339')",
        ] {
            sqlx::query(ok)
                .execute(&mut producer)
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(app.counts().await.values().sum::<i64>(), 6);
        // The one due now is the only one sent; the one six hours ahead is not.
        let out = app.reaper(&["run", "--once"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let sent: Vec<String> = app
            .standin
            .received()
            .into_iter()
            .filter(|r| r.path.ends_with("delete_videos"))
            .flat_map(|r| r.ids)
            .collect();
        assert_eq!(sent, ["VI606404158946574339"]);
    })
    .await;
}

/// PostgreSQL only: `check` counts what `status` counts: rows with a due_at that cannot be
/// read (only a producer who dropped the schema's CHECK can write one) and rows in flight
/// under a lease this program never grants.
#[tokio::test]
async fn check_counts_unreadable_rows_and_impossible_leases() {
    if !postgres_available() {
        return;
    }
    on(Backend::Postgres, async {
        let app = spawn_app(&[]).await;
        for sql in [
            "ALTER TABLE deletion_queue DROP CONSTRAINT deletion_queue_due_at_check",
            "INSERT INTO deletion_queue (video_no, due_at) VALUES ('VI1', 'tomorrow')",
            "INSERT INTO deletion_queue (video_no, status, lease_until)
             VALUES ('VI2', 'in_flight', now() + interval '10 years')",
        ] {
            app.pool.execute(sql).await.unwrap();
        }
        let out = app.reaper(&["check"]).await;
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            said.contains("2 rows, 1 with an unreadable due_at")
                && said.contains("1 in flight under a lease memories-reaper never grants"),
            "{said}"
        );
    })
    .await;
}
