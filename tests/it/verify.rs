//! Looking before deleting (`[verify] before`), against the real binary and a stand-in
//! that knows which videos exist in which namespace: a wrong namespace ends `absent`,
//! never `deleted`; a namespace the account lacks is neither listed nor created; a lookup
//! that cannot be trusted concludes nothing; a request whose answer was lost is what
//! deleted a video no longer listed.

use std::time::Duration;

use crate::on_both;
use crate::support::standin::Meta;
use crate::support::*;

/// Looked up again a second after a first miss.
const QUICK: &[(&str, &str)] = &[("verify", "absent_after = \"1s\"")];

/// (namespace, id) pairs for the stand-in's catalogue.
fn videos(namespace: &str, ids: &[String]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| (namespace.to_owned(), id.clone()))
        .collect()
}

/// Runs `run --once` twice, a little more than `absent_after` apart.
async fn two_passes(app: &App) {
    for pass in 0..2 {
        if pass > 0 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        let out = app.reaper(&["run", "--once"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

on_both!(ids_queued_under_the_wrong_namespace_end_absent_never_deleted);
async fn ids_queued_under_the_wrong_namespace_end_absent_never_deleted() {
    let app = spawn_app(QUICK).await;
    let real = ids(0, 5);
    let elsewhere = ids(100, 2);
    let mut catalogue = videos("tenant-a", &real);
    catalogue.extend(videos("tenant-b", &elsewhere));
    app.standin.set_catalogue(catalogue);
    app.insert("tenant-a", &real[..3]).await;
    // A producer's mistake: these two live in tenant-a.
    app.insert("tenant-b", &real[3..]).await;

    two_passes(&app).await;
    let rows = app.rows().await;
    for QueueRow {
        video_no,
        namespace,
        status,
        ..
    } in &rows
    {
        let expected = if namespace == "tenant-a" {
            "deleted"
        } else {
            "absent"
        };
        assert_eq!(status, expected, "{video_no} in {namespace}");
    }
    let absent = rows.iter().find(|r| r.status == "absent").unwrap();
    let note = absent.last_error.as_deref().unwrap_or("");
    assert!(note.contains("not in namespace tenant-b on"), "{note}");
    assert!(
        app.standin
            .received()
            .iter()
            .all(|r| r.unique_id.as_deref() == Some("tenant-a")),
        "a request was sent for ids not in their namespace"
    );
    let status = stdout(&app.reaper(&["status"]).await);
    assert!(
        status.lines().any(|l| l.contains("tenant-b")
            && l.contains("absent")
            && l.trim_end().ends_with(" 2")),
        "{status}"
    );
}

#[tokio::test]
async fn a_namespace_the_account_lacks_is_neither_listed_nor_created() {
    let app = spawn_app(QUICK).await;
    // Not through `app.insert`, which gives the stand-in's account the namespace.
    for id in ids(0, 2) {
        sqlx::query("INSERT INTO deletion_queue (video_no, unique_id) VALUES (?1, 'tenant-typo')")
            .bind(id)
            .execute(app.pool.sqlite())
            .await
            .unwrap();
    }
    two_passes(&app).await;
    assert_eq!(app.count("absent").await, 2);
    assert!(app.standin.received().is_empty());
    assert!(app.standin.created_namespaces().is_empty());
    assert!(app
        .standin
        .lookups()
        .iter()
        .all(|l| l.unique_id.as_deref() != Some("tenant-typo")));
}

on_both!(a_listing_that_ignores_its_filter_marks_nothing_absent);
async fn a_listing_that_ignores_its_filter_marks_nothing_absent() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin.set_listing(Listing::IgnoresFilter);
    // By default the batch goes unverified, with one warning for the pass.
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 3);
    let err = stderr(&out);
    assert_eq!(err.matches("lookups cannot be used").count(), 1, "{err}");
    assert!(err.contains("video_nos filter was ignored"), "{err}");

    // Required: the rows wait, nothing is sent.
    let app = spawn_app(&[("verify", "required = true")]).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin.set_listing(Listing::IgnoresFilter);
    let out = app.reaper(&["run", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(app.count("pending").await, 3);
    assert!(app.standin.received().is_empty());
    assert_eq!(app.count("absent").await, 0);
}

on_both!(lookups_that_fail_past_their_tries_conclude_nothing);
async fn lookups_that_fail_past_their_tries_conclude_nothing() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin
        .always_for_lookups(Some(Script::status(503, "lookups down")));
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 3, "sent unverified");
    assert!(stderr(&out).contains("after 3 tries"), "{}", stderr(&out));
}

on_both!(a_video_no_longer_listed_after_our_lost_answer_is_deleted_not_absent);
async fn a_video_no_longer_listed_after_our_lost_answer_is_deleted_not_absent() {
    let app = spawn_app(&[("api", "timeout = \"1s\""), ("retry", "max_attempts = 1")]).await;
    let id = ids(0, 1);
    app.insert("default", &id).await;
    // The request's answer never comes (the client times out)...
    app.standin.script([Script::Hang(Duration::from_secs(3))]);
    let out = app.reaper(&["run", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(app.count("pending").await, 1);
    // ... but the API carried it out.
    app.standin.mark_deleted("default", &id[0]);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = app.rows().await;
    assert_eq!(rows[0].status, "deleted");
    let note = rows[0].last_error.as_deref().unwrap_or("");
    assert!(note.contains("deleted by that request"), "{note}");
    assert_eq!(app.standin.received().len(), 1, "not sent again");
    // Listed before the request, gone after it: the deletion is verified.
    assert_eq!(
        proofs(&app).await,
        [("deleted".into(), Some("listed_lost_unlisted".into()), true)]
    );
}

/// (status, proof, whether `checked_at` is set) of every row.
async fn proofs(app: &App) -> Vec<(String, Option<String>, bool)> {
    app.pool
        .texts("SELECT status, proof, CAST(checked_at AS TEXT) FROM deletion_queue ORDER BY id")
        .await
        .into_iter()
        .map(|row| {
            (
                row[0].clone().unwrap_or_default(),
                row[1].clone(),
                row[2].is_some(),
            )
        })
        .collect()
}

/// The first pass sends `video` unverified (the lookups refused for the rate) and loses the
/// answer (the client times out); the stand-in deletes nothing.
async fn sent_unverified_answer_lost(app: &App) {
    app.standin.always_for_lookups(Some(Script::code("0429")));
    app.standin.script([Script::Hang(Duration::from_secs(3))]);
    let out = app.reaper(&["run", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lookups cannot be used"),
        "{}",
        stderr(&out)
    );
    assert_eq!(app.standin.received().len(), 1, "sent unverified");
    app.standin.always_for_lookups(None);
}

const LOST: &[(&str, &str)] = &[
    ("api", "timeout = \"1s\""),
    ("retry", "max_attempts = 1"),
    ("verify", "absent_after = \"1s\""),
    ("lookup", "requests_per_second = 5"),
];

on_both!(a_lost_answer_then_a_miss_is_never_stamped_verified);
async fn a_lost_answer_then_a_miss_is_never_stamped_verified() {
    // The video lives in tenant-a; a producer queued it in `default` by mistake.
    let app = spawn_app(LOST).await;
    let id = ids(0, 1);
    app.standin.set_catalogue(videos("tenant-a", &id));
    app.insert("default", &id).await;
    sent_unverified_answer_lost(&app).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Deleted by that request, or never there: it cannot be told, and it is not verified.
    assert_eq!(
        proofs(&app).await,
        [("deleted".into(), Some("lost_unlisted".into()), false)]
    );
    let receipts = stdout(&app.reaper(&["receipts"]).await);
    let header = receipts.lines().next().unwrap_or("");
    assert!(header.ends_with(",source,proof"), "{header}");
    assert!(
        receipts
            .lines()
            .nth(1)
            .unwrap_or("")
            .ends_with(",lost_unlisted"),
        "{receipts}"
    );
    let out = app.reaper(&["receipts", "--verify"]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let status = stdout(&app.reaper(&["status"]).await);
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["deleted", "lost_unlisted", "1"]),
        "{status}"
    );
    // Where it lives, it is still there.
    let out = app.reaper(&["locate", &id[0]]).await;
    assert!(stdout(&out).contains("tenant-a"), "{}", stdout(&out));
}

on_both!(a_lone_id_of_a_namespace_the_account_lacks_is_absent_never_deleted);
async fn a_lone_id_of_a_namespace_the_account_lacks_is_absent_never_deleted() {
    let app = spawn_app(LOST).await;
    let id = ids(0, 1);
    app.standin.set_catalogue(videos("tenant-a", &id));
    // Inserted as a producer would, in a namespace the account does not have.
    app.pool
        .execute(&format!(
            "INSERT INTO deletion_queue (video_no, unique_id) VALUES ('{}', 'nowhere')",
            id[0]
        ))
        .await
        .unwrap();
    sent_unverified_answer_lost(&app).await;
    // Missed once (no such namespace): looked up again absent_after later.
    two_passes(&app).await;
    assert_eq!(
        proofs(&app).await,
        [("absent".into(), Some("no_namespace".into()), false)]
    );
    let note = app.rows().await[0].last_error.clone().unwrap_or_default();
    assert!(
        note.contains("the account has no namespace nowhere"),
        "{note}"
    );
    let out = app.reaper(&["receipts", "--verify"]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[tokio::test]
async fn lookups_are_paced_on_their_own_quota() {
    // Deletions may go at 50 a second; lookups get 2.
    let app = spawn_app_with(
        50,
        &[
            ("api", "requests_per_second = 50"),
            ("batch", "size = 10"),
            ("lookup", "requests_per_second = 2"),
        ],
    )
    .await;
    app.standin.set_lookup_per_second(2);
    app.insert("default", &ids(0, 1000)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 1000);
    let lookups = app.standin.lookups();
    // One list of namespaces and a listing per claim (200 ids: 20 batches of 10), none
    // refused for the rate, none skipped: every claim was looked up.
    assert_eq!(lookups.len(), 1 + 5, "{lookups:?}");
    assert!(lookups.iter().all(|l| l.answered == "0000"), "{lookups:?}");
    assert!(
        !stderr(&out).contains("lookups cannot be used"),
        "{}",
        stderr(&out)
    );
}

/// Looks deleted videos up again a second after their deletion, and fails them after two
/// rounds of still being listed.
const AFTER: &[(&str, &str)] = &[(
    "verify",
    "after = true\nafter_delay = \"1s\"\nafter_rounds = 2",
)];

/// (status, checked_at, relisted) of every row.
async fn checks(app: &App) -> Vec<(String, Option<String>, i64)> {
    app.pool
        .texts(
            "SELECT status, CAST(checked_at AS TEXT), CAST(relisted AS TEXT)
               FROM deletion_queue ORDER BY id",
        )
        .await
        .into_iter()
        .map(|row| {
            let relisted = row[2].as_deref().and_then(|r| r.parse().ok());
            (
                row[0].clone().unwrap_or_default(),
                row[1].clone(),
                relisted.unwrap_or(-1),
            )
        })
        .collect()
}

on_both!(a_lying_api_is_caught_by_looking_after);
async fn a_lying_api_is_caught_by_looking_after() {
    let app = spawn_app(AFTER).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin.set_lying(true);
    two_passes(&app).await;
    // Sent, still listed a second later: sent again in the second pass.
    assert_eq!(app.standin.received().len(), 2);
    assert!(checks(&app)
        .await
        .iter()
        .all(|(s, c, r)| s == "deleted" && c.is_none() && *r == 1));
    // The second check backs off: four times after_delay from the second deletion.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.count("failed").await,
        0,
        "checked again before its backoff"
    );
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.count("failed").await,
        3,
        "still listed after two rounds"
    );
    assert!(proofs(&app)
        .await
        .iter()
        .all(|(_, proof, _)| proof.as_deref() == Some("still_listed")));
    let note = app.rows().await[0].last_error.clone().unwrap_or_default();
    assert!(note.contains("still listed the video"), "{note}");
    assert!(
        stderr(&out).contains("still lists them"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_listing_that_lags_behind_a_deletion_is_settled_by_a_later_lookup_not_a_0409() {
    let app = spawn_app(AFTER).await;
    app.insert("default", &ids(0, 2)).await;
    app.standin.set_listing_lag(Duration::from_millis(2500));
    two_passes(&app).await;
    // Still listed a second after the deletion: sent again, and answered 0409 (or, if the
    // listing caught up first, not sent: listed before, gone now, verified); either way no
    // row is settled by that answer alone: each waits for a lookup, or was settled by one.
    let codes: Vec<String> = app
        .standin
        .received()
        .iter()
        .map(|r| r.answered.clone())
        .collect();
    assert_eq!(codes[0], "0000");
    assert!(codes[1..].iter().all(|c| c == "0409"), "{codes:?}");
    let pending_lookup: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT check_at, checked_at FROM deletion_queue")
            .fetch_all(app.pool.sqlite())
            .await
            .unwrap();
    assert!(
        pending_lookup
            .iter()
            .all(|(due, done)| due.is_some() || done.is_some()),
        "{pending_lookup:?}"
    );
    // A 0409's check backs off (four times after_delay) past the listing's lag.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // The listing caught up: verified by the lookup.
    let rows = checks(&app).await;
    assert!(
        rows.iter().all(|(s, c, _)| s == "deleted" && c.is_some()),
        "{rows:?}\n{}",
        stderr(&out)
    );
}

on_both!(locate_names_the_namespaces_that_hold_each_video);
async fn locate_names_the_namespaces_that_hold_each_video() {
    let app = spawn_app(&[]).await;
    let v = ids(0, 4);
    let mut catalogue = videos("tenant-a", &v[..2]);
    catalogue.extend(videos("tenant-b", &v[1..3]));
    app.standin.set_catalogue(catalogue);
    let file = app.dir.path().join("ids.txt");
    std::fs::write(&file, format!("{}\n\nnot-an-id\n{}\n", v[2], v[3])).unwrap();
    let out = app
        .reaper(&["locate", &v[0], &v[1], "--file", file.to_str().unwrap()])
        .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "one not found, one invalid: {}",
        stderr(&out)
    );
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            format!("{}\ttenant-a", v[0]),
            format!("{}\ttenant-a\ttenant-b", v[1]),
            format!("{}\ttenant-b", v[2]),
            format!("{}\t-", v[3]),
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("ids.txt:3: \"not-an-id\""), "{err}");
    assert!(err.contains("3 of 4 ids found, in 3 namespaces"), "{err}");
    assert!(app.standin.received().is_empty(), "locate deletes nothing");
    assert!(app.standin.created_namespaces().is_empty());
}

#[tokio::test]
async fn receipts_say_what_became_of_each_settled_row() {
    let app = spawn_app(QUICK).await;
    let v = ids(0, 3);
    app.standin.set_catalogue(videos("default", &v[..2]));
    app.insert("default", &v).await;
    app.insert("default", &["not-an-id".to_owned()]).await;
    two_passes(&app).await;
    app.insert("default", &ids(10, 1)).await; // pending: no receipt

    let out = app.reaper(&["receipts"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("row_id,video_no,namespace,status,queued_at"),
        "{text}"
    );
    assert_eq!(lines.len(), 1 + 4, "{text}");
    let line = |id: &str| lines.iter().find(|l| l.contains(id)).copied().unwrap_or("");
    let deleted: Vec<&str> = line(&v[0]).split(',').collect();
    assert_eq!(deleted[3], "deleted");
    assert_eq!(deleted[11], "0000", "the API's code: {deleted:?}");
    assert!(
        !deleted[13].is_empty(),
        "listed before it was sent: {deleted:?}"
    );
    assert!(line(&v[2]).contains(",absent,"), "{text}");
    assert!(line("not-an-id").contains(",failed,"), "{text}");

    let out = app
        .reaper(&["receipts", "--format", "jsonl", "--status", "absent"])
        .await;
    let json: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["video_no"], v[2].as_str());
    assert!(json[0]["missed_at"].is_string());

    let file = app.dir.path().join("receipts.csv");
    let out = app
        .reaper(&[
            "receipts",
            "--namespace",
            "tenant-x",
            "--output",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(
        stdout(&out).contains("wrote 0 receipts"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        1,
        "the header"
    );
    // Never over an existing file: pointed at the queue by mistake, it truncated it.
    let db = app.db.to_str().unwrap();
    let out = app.reaper(&["receipts", "--output", db]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(app.count("deleted").await > 0, "the queue is intact");
    let out = app.reaper(&["receipts", "--status", "pending"]).await;
    assert_eq!(out.status.code(), Some(1));
}

async fn edit(app: &App, sql: &str) {
    sqlx::query(sql)
        .execute(app.pool.sqlite())
        .await
        .expect(sql);
}

#[tokio::test]
async fn the_settlement_chain_verifies_and_finds_one_edited_byte() {
    let app = spawn_app(QUICK).await;
    let v = ids(0, 250);
    app.standin.set_catalogue(videos("default", &v[..240]));
    app.insert("default", &v).await;
    app.insert("default", &["not-an-id".to_owned()]).await;
    two_passes(&app).await;
    assert!(app.reaper(&["retry-failed"]).await.status.success());
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // The head the daemon logs after a pass.
    let logged = stderr(&out)
        .lines()
        .find(|l| l.contains("settlement chain head"))
        .and_then(|l| l.split("chain_head=").nth(1))
        .map(|h| h.trim_matches('"').to_owned())
        .unwrap_or_default();

    let verify = || app.reaper(&["receipts", "--verify"]);
    let out = verify().await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let said = stdout(&out);
    assert!(said.contains("entries verified"), "{said}");
    assert!(
        said.trim_end().ends_with(&logged) && logged.len() == 64,
        "{said} / {logged}"
    );

    // One byte of any column of a request's record, and a record added by hand: each
    // found, and undone.
    let first = "(SELECT min(id) FROM deletion_batches WHERE api_code = '0000')";
    let last = "(SELECT max(id) FROM deletion_batches)";
    for (change, undo, found) in [
        (
            format!("UPDATE deletion_batches SET api_msg = 'Success' WHERE id = {first}"),
            "UPDATE deletion_batches SET api_msg = 'success' WHERE api_msg = 'Success'".to_owned(),
            "differs from chain entry",
        ),
        (
            format!("UPDATE deletion_batches SET started_at = replace(started_at, '.', ',') WHERE id = {first}"),
            "UPDATE deletion_batches SET started_at = replace(started_at, ',', '.')".to_owned(),
            "differs from chain entry",
        ),
        (
            // The same bytes, another type: a BLOB once stopped the check itself.
            format!("UPDATE deletion_batches SET api_msg = CAST(api_msg AS BLOB) WHERE id = {first}"),
            "UPDATE deletion_batches SET api_msg = CAST(api_msg AS TEXT) WHERE typeof(api_msg) = 'blob'".to_owned(),
            "differs from chain entry",
        ),
        (
            format!("UPDATE deletion_batches SET http_status = 201 WHERE id = {last}"),
            "UPDATE deletion_batches SET http_status = 200 WHERE http_status = 201".to_owned(),
            "differs from chain entry",
        ),
        (
            format!("UPDATE deletion_batches SET sender = sender || 'x' WHERE id = {first}"),
            "UPDATE deletion_batches SET sender = substr(sender, 1, length(sender) - 1) WHERE sender LIKE '%x'".to_owned(),
            "differs from chain entry",
        ),
        (
            "INSERT INTO deletion_batches (unique_id, ids_count, attempt, outcome, api_code) VALUES ('default', 1, 1, 'deleted', '0000')".to_owned(),
            format!("DELETE FROM deletion_batches WHERE id = {last}"),
            "has no chain entry",
        ),
    ] {
        edit(&app, &change).await;
        let out = verify().await;
        assert_eq!(out.status.code(), Some(1), "{change}");
        assert!(
            stderr(&out).contains(found) && stderr(&out).contains("deletion_batches was edited"),
            "{change}: {}",
            stderr(&out)
        );
        edit(&app, &undo).await;
        assert_eq!(verify().await.status.code(), Some(0), "{undo}");
    }

    // A row's status, by hand: absent made deleted.
    let row: i64 = sqlx::query_scalar("SELECT min(id) FROM deletion_queue WHERE status = 'absent'")
        .fetch_one(app.pool.sqlite())
        .await
        .unwrap();
    edit(
        &app,
        &format!("UPDATE deletion_queue SET status = 'deleted' WHERE id = {row}"),
    )
    .await;
    let out = verify().await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "row {row} is deleted but the chain says otherwise"
        )),
        "{}",
        stderr(&out)
    );
    edit(
        &app,
        &format!("UPDATE deletion_queue SET status = 'absent' WHERE id = {row}"),
    )
    .await;
    assert_eq!(verify().await.status.code(), Some(0));

    // One byte of the chain itself.
    edit(
        &app,
        "UPDATE settlement_chain SET namespace = 'defaulT' WHERE seq = 1",
    )
    .await;
    let out = verify().await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("entry 1 does not match"),
        "{}",
        stderr(&out)
    );
}

on_both!(a_listing_in_short_pages_is_read_to_its_end);
async fn a_listing_in_short_pages_is_read_to_its_end() {
    let app = spawn_app(&[]).await;
    app.standin.set_page_cap(20);
    // Six lookups in about a second at the daemon's 5 a second: a stand-in holding 5
    // strictly answered one `0429` on a loaded machine (the first request, on a new
    // connection, arrives later than the others, and the limiter's margin is 10 ms),
    // retried and counted here as a seventh. The pacing is tested apart; here, the pages.
    app.standin.set_lookup_per_second(50);
    app.insert("default", &ids(0, 100)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.count("deleted").await,
        100,
        "a short page passed for the whole listing"
    );
    // One list of namespaces, then pages of 20 until every id asked for is listed.
    assert_eq!(app.standin.lookups().len(), 1 + 5);
}

on_both!(one_lookup_serves_two_batches);
/// A lookup asks two batches' ids (verification at the ceiling takes half the lookup
/// quota); each deletion still carries at most 100.
async fn one_lookup_serves_two_batches() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 400)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 400);
    let asked: Vec<usize> = filtered_lookups(&app).iter().map(|l| l.asked).collect();
    assert_eq!(asked, [200, 200], "lookups of the claims");
    let deletions = app.standin.received();
    assert_eq!(deletions.len(), 4);
    assert!(deletions.iter().all(|r| r.ids.len() == 100));
}

on_both!(a_lookup_answer_longer_than_a_deletions_is_read_whole);
/// 200 videos listed with all their fields can pass 64 KiB, the most a deletion's answer
/// is read: the lookup reads its answer whole, and every row is deleted as listed first,
/// none sent unverified for an answer cut short.
async fn a_lookup_answer_longer_than_a_deletions_is_read_whole() {
    let app = spawn_app(&[]).await;
    let all = ids(0, 200);
    let tagged = Meta {
        tags: vec!["t".repeat(500)],
        ..Meta::default()
    };
    app.standin.set_catalogue_with(
        all.iter()
            .map(|id| (("default".to_owned(), id.clone()), tagged.clone())),
    );
    app.insert("default", &all).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let proofs = proofs(&app).await;
    assert_eq!(proofs.len(), 200);
    assert!(
        proofs
            .iter()
            .all(|(status, proof, _)| status == "deleted"
                && proof.as_deref() == Some("listed_answered")),
        "{}",
        stderr(&out)
    );
}

on_both!(an_api_that_pages_lookups_of_two_hundred_is_asked_a_hundred);
/// An API that answers 200 ids asked with pages of 100 is asked 100 at a time from then
/// on; one that does not even say its page size has the lookup asked again in hundreds
/// (a page cut short, unsaid, must not make videos look missing).
async fn an_api_that_pages_lookups_of_two_hundred_is_asked_a_hundred() {
    for unsaid in [false, true] {
        let app = spawn_app(&[("api", "concurrency = 1")]).await;
        if unsaid {
            app.standin.set_page_cap_unsaid(100);
        } else {
            app.standin.set_page_cap(100);
        }
        app.insert("default", &ids(0, 600)).await;
        let out = app.reaper(&["run", "--once"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(app.count("deleted").await, 600, "unsaid: {unsaid}");
        let logs = stderr(&out);
        assert_eq!(logs.matches("asking 100 at a time").count(), 1, "{logs}");
        let asked: Vec<usize> = filtered_lookups(&app).iter().map(|l| l.asked).collect();
        // The first claim's 200: paged (said), or asked again in hundreds (unsaid); then
        // claims of 100.
        let first: &[usize] = if unsaid {
            &[200, 100, 100]
        } else {
            &[200, 200]
        };
        assert_eq!(asked[..first.len()], *first, "unsaid: {unsaid}");
        assert_eq!(asked[first.len()..], [100; 4], "unsaid: {unsaid}");
    }
}

on_both!(a_short_page_that_does_not_say_its_size_is_asked_again);
/// An API that cuts a page short and says neither its size nor the total: what the page
/// did not list is asked again, never taken for missing (it would end `absent`).
async fn a_short_page_that_does_not_say_its_size_is_asked_again() {
    let app = spawn_app(&[]).await;
    app.standin.set_page_cap_unsaid(30);
    // 70 exist; 10 more were never uploaded.
    app.insert("default", &ids(0, 80)).await;
    let uploaded = ids(0, 70).into_iter().map(|v| ("default".to_owned(), v));
    app.standin.set_catalogue(uploaded);
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 70, "{}", stderr(&out));
    let rows = app.rows().await;
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.status == "pending")
        .map(|r| r.video_no.as_str())
        .collect();
    assert_eq!(
        missed.len(),
        10,
        "only the never uploaded wait for a second look"
    );
    assert!(missed.iter().all(|v| ids(70, 10).iter().any(|i| i == v)));
}

fn filtered_lookups(app: &App) -> Vec<Lookup> {
    let lookups = app.standin.lookups();
    lookups.into_iter().filter(|l| l.filtered).collect()
}
