//! The pipeline end to end: queue → pass → API stand-in → recorded outcome.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::on_both;
use crate::support::*;

on_both!(drains_1050_rows_in_11_requests);
async fn drains_1050_rows_in_11_requests() {
    let app = spawn_app(&[]).await;
    let all = ids(0, 1050);
    app.insert("default", &all).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let received = app.standin.received();
    let requests: Vec<(usize, &str)> = received
        .iter()
        .map(|r| (r.ids.len(), r.answered.as_str()))
        .collect();
    assert_eq!(received.len(), 11, "{requests:?}\n{}", stderr(&out));
    assert!(received
        .iter()
        .all(|r| r.ids.len() <= 100 && r.answered == "0000"));
    let sent: Vec<&String> = received.iter().flat_map(|r| &r.ids).collect();
    let distinct: HashSet<&String> = sent.iter().copied().collect();
    assert_eq!(sent.len(), 1050, "an id was sent twice");
    assert_eq!(distinct, all.iter().collect());
    assert_eq!(app.count("deleted").await, 1050);
    assert!(
        app.rows().await.iter().all(|r| r.batch_id.is_some()),
        "a row points at no batch"
    );
    let batches = app.batches().await;
    assert_eq!(batches.len(), 11);
    assert!(batches
        .iter()
        .all(|b| b.outcome == "deleted" && b.api_code.as_deref() == Some("0000")));
    // The stand-in answers 0429 above 5 requests a second: none means the limit held.
    assert!(received.iter().all(|r| r.answered != "0429"));
}

on_both!(several_requests_are_in_flight_against_a_slow_api);
async fn several_requests_are_in_flight_against_a_slow_api() {
    // Without lookups: a lookup answered well ends the probe too (`pass::window`).
    let app = spawn_app(&[("api", "concurrency = 4"), ("verify", "before = false")]).await;
    app.insert("default", &ids(0, 1000)).await;
    let latency = Duration::from_millis(800);
    app.standin.set_latency(latency);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 1000);

    let received = app.standin.received();
    assert_eq!(received.len(), 10);
    assert!(
        received.iter().all(|r| r.answered == "0000"),
        "over the rate"
    );
    // The window opens one request at a time: the first goes alone, and once answered,
    // more than one is in flight (arriving while another is still being answered).
    let arrivals: Vec<_> = received.iter().map(|r| r.at).collect();
    assert!(
        arrivals[1] - arrivals[0] >= latency,
        "a second request before the first answer"
    );
    let overlapping = arrivals
        .windows(2)
        .filter(|w| w[1] - w[0] < latency)
        .count();
    assert!(
        overlapping >= 3,
        "{overlapping} requests overlapped another"
    );
}

on_both!(a_shared_quota_slows_the_pace_instead_of_storming);
async fn a_shared_quota_slows_the_pace_instead_of_storming() {
    // Someone else uses the account: the stand-in takes 2 requests a second, not 5.
    let app = spawn_app(&[("retry", "max_attempts = 10")]).await;
    app.standin.set_per_second(2);
    app.insert("default", &ids(0, 2000)).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 2000);
    let too_many = app
        .standin
        .received()
        .iter()
        .filter(|r| r.answered == "0429")
        .count();
    // At 5 a second against 2, three requests in five would be refused, again and again
    // (over 30 answers of 0429 for 20 deletions, when the retries last at all). Halving the
    // pace at a refusal and climbing back slowly costs one refusal per climb.
    assert!(
        too_many <= 10,
        "{too_many} answers of 0429 for 20 deletions"
    );
    assert!(stderr(&out).contains("pace now"), "{}", stderr(&out));
}

on_both!(each_namespace_is_sent_as_its_own_unique_id);
async fn each_namespace_is_sent_as_its_own_unique_id() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 30)).await;
    app.insert("tenant-a", &ids(0, 30)).await; // the same numbers, another namespace
    app.insert("tenant-b", &ids(100, 150)).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let received = app.standin.received();
    for r in &received {
        assert_eq!(r.path, standin::V1_2_PATH);
        assert!(r.unique_id.is_some(), "a request without unique_id");
        assert!(r.ids.len() <= 100);
    }
    let deleted = app.standin.deleted();
    for QueueRow {
        video_no,
        namespace,
        status,
        ..
    } in app.rows().await
    {
        assert_eq!(status, "deleted");
        assert!(
            deleted.contains(&(namespace.clone(), video_no.clone())),
            "{video_no} not deleted in {namespace}"
        );
    }
    assert_eq!(deleted.len(), 210);
}

on_both!(namespaces_are_the_uploaders_strings_spaces_and_all);
async fn namespaces_are_the_uploaders_strings_spaces_and_all() {
    let app = spawn_app(&[]).await;
    let odd = ["Tenant B", "ünïcode & co/?=#%+", " padded "];
    for (i, namespace) in odd.iter().enumerate() {
        app.insert(namespace, &ids(i as u64 * 10, 10)).await;
    }

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 30);
    let deleted = app.standin.deleted();
    for (i, namespace) in odd.iter().enumerate() {
        for id in ids(i as u64 * 10, 10) {
            assert!(
                deleted.contains(&(namespace.to_string(), id.clone())),
                "{id} not deleted in {namespace:?}"
            );
        }
    }
}

on_both!(the_v1_1_path_sends_only_the_default_namespace);
async fn the_v1_1_path_sends_only_the_default_namespace() {
    let app = spawn_app(&[("api", "delete_path = \"/serve/api/video/delete_videos\"")]).await;
    app.insert("default", &ids(0, 5)).await;
    app.insert("tenant-a", &ids(10, 5)).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let received = app.standin.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, standin::V1_1_PATH);
    assert_eq!(received[0].unique_id, None);
    for QueueRow {
        namespace,
        status,
        last_error,
        ..
    } in app.rows().await
    {
        if namespace == "default" {
            assert_eq!(status, "deleted");
        } else {
            assert_eq!(status, "failed");
            assert!(last_error.unwrap().contains("/serve/api/v1/delete_videos"));
        }
    }
}

on_both!(the_same_video_queued_twice_is_sent_once);
async fn the_same_video_queued_twice_is_sent_once() {
    let app = spawn_app(&[]).await;
    let v = ids(0, 3);
    app.insert(
        "default",
        &[
            v[0].clone(),
            v[1].clone(),
            v[0].clone(),
            v[2].clone(),
            v[0].clone(),
        ],
    )
    .await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let received = app.standin.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].ids.len(), 3);
    let rows = app.rows().await;
    assert!(rows.iter().all(|r| r.status == "deleted"));
    let batches_of_v0: HashSet<_> = rows
        .iter()
        .filter(|r| r.video_no == v[0])
        .map(|r| r.batch_id)
        .collect();
    assert_eq!(
        batches_of_v0.len(),
        1,
        "duplicates settled by different batches"
    );
}

on_both!(a_video_queued_again_after_its_deletion_is_not_sent_again);
async fn a_video_queued_again_after_its_deletion_is_not_sent_again() {
    let app = spawn_app(&[]).await;
    let v = ids(0, 3);
    app.insert("default", &v).await;
    app.insert("tenant-a", &v[..1]).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.standin.received().len(), 2);

    // Queued again, with a new one among them; and v[1] in a namespace it was never
    // deleted in, which must be sent.
    let mut again = v.clone();
    again.extend(ids(10, 1));
    app.insert("default", &again).await;
    app.insert("tenant-b", &v[1..2]).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let received = app.standin.received();
    assert_eq!(received.len(), 4, "{received:?}");
    // The second pass's two requests, in whichever order they went (side by side).
    let second: HashSet<(Option<&str>, &[String])> = received[2..]
        .iter()
        .map(|r| (r.unique_id.as_deref(), r.ids.as_slice()))
        .collect();
    let new = ids(10, 1);
    let expected = HashSet::from([
        (Some("default"), new.as_slice()),
        (Some("tenant-b"), &v[1..2]),
    ]);
    assert_eq!(second, expected, "only the new video, and v[1] in tenant-b");
    assert!(received.iter().all(|r| r.answered == "0000"));
    let rows = app.rows().await;
    assert!(rows.iter().all(|r| r.status == "deleted"), "{rows:?}");
    for id in &v {
        let batches: HashSet<_> = rows
            .iter()
            .filter(|r| &r.video_no == id && r.namespace == "default")
            .map(|r| r.batch_id)
            .collect();
        assert_eq!(
            batches.len(),
            1,
            "{id}: settled by the batch that deleted it"
        );
    }
    assert!(stderr(&out).contains("already deleted"), "{}", stderr(&out));
}

on_both!(transient_answers_are_retried_until_deleted);
async fn transient_answers_are_retried_until_deleted() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 10)).await;
    app.standin.script([
        Script::status(503, "upstream down"),
        Script::status(200, "<html>proxy error</html>"),
        Script::code("0429"),
        Script::code("7777"),
    ]);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let batches = app.batches().await;
    let outcomes: Vec<(i64, &str)> = batches
        .iter()
        .map(|b| (b.attempt, b.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, "retry"),
            (2, "retry"),
            (3, "retry"),
            (4, "retry"),
            (5, "deleted")
        ]
    );
    assert!(batches[1]
        .error
        .as_deref()
        .unwrap()
        .contains("not the documented JSON"));
    assert!(app
        .rows()
        .await
        .iter()
        .all(|r| r.status == "deleted" && r.attempts == 5));
}

on_both!(an_outage_outlasting_the_retry_budget_leaves_rows_pending);
async fn an_outage_outlasting_the_retry_budget_leaves_rows_pending() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 250)).await;
    // The whole API is down, its lookups too: a lookup answered well would end the cold
    // start's probe (the key and the API answer), and the first requests go together.
    app.standin.always(Some(Script::status(502, "bad gateway")));
    app.standin
        .always_for_lookups(Some(Script::status(502, "bad gateway")));

    let out = app.reaper(&["run", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("250 due rows are still pending"));

    // The pass stopped after one batch's budget: it did not hammer the API with the others.
    assert_eq!(app.standin.received().len(), 5);
    assert_eq!(app.count("pending").await, 250);
    for QueueRow {
        attempts,
        last_error,
        ..
    } in app.rows().await.iter().take(100)
    {
        assert_eq!(*attempts, 5);
        assert!(last_error.as_deref().unwrap().contains("server error"));
    }

    // When the API is back, the next pass deletes them all (once the stand-in's rolling
    // second no longer holds the first run's requests).
    app.standin.always(None);
    app.standin.always_for_lookups(None);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 250);
}

on_both!(authorization_and_account_errors_stop_the_pass);
async fn authorization_and_account_errors_stop_the_pass() {
    for (script, says) in [
        (Script::code("0401"), "check the key"),
        (Script::code("9009"), "check the key"),
        (Script::code("0402"), "credits"),
        (Script::code("0403"), "disabled"),
        (Script::status(401, "unauthorized"), "check the key"),
        (Script::status(403, "forbidden"), "check the key"),
    ] {
        let app = spawn_app(&[]).await;
        app.insert("default", &ids(0, 150)).await;
        app.standin.always(Some(script.clone()));

        let out = app.reaper(&["run", "--once"]).await;
        assert_eq!(out.status.code(), Some(3), "{script:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{script:?}: {}", stderr(&out));
        assert_eq!(
            app.standin.received().len(),
            1,
            "{script:?}: sent again after a stop"
        );
        assert_eq!(app.count("pending").await, 150, "{script:?}");
    }
}

on_both!(a_rotated_key_is_picked_up_by_the_next_pass);
async fn a_rotated_key_is_picked_up_by_the_next_pass() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    let key_file = app.dir.path().join("api_key");
    std::fs::write(&key_file, "sk-old-revoked\n").unwrap();
    app.set_api_key_file(&key_file);

    // One daemon, two passes (the start-up pass and a tick), the key file changed between.
    let config = std::fs::read_to_string(&app.config)
        .unwrap()
        .replace("0 0 1 1 *", "* * * * * *");
    std::fs::write(&app.config, config).unwrap();
    let mut cmd = app.command(&["run"]);
    cmd.env_remove("MEMORIES_API_KEY");
    let mut daemon = cmd.spawn().unwrap();
    app.wait_for_requests(1).await;
    assert!(!app.standin.received()[0].authorized);
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    for _ in 0..100 {
        if app.count("deleted").await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("deleted").await, 3);
    signal(&daemon, "TERM");
    let status = daemon.wait().await.unwrap();
    assert!(status.success());
}

on_both!(one_bad_id_among_100_is_isolated);
async fn one_bad_id_among_100_is_isolated() {
    let app = spawn_app_with(50, &[("api", "requests_per_second = 50")]).await;
    let all = ids(0, 100);
    app.insert("default", &all).await;
    app.standin.reject(&all[37]);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    for QueueRow {
        video_no,
        status,
        last_error,
        ..
    } in app.rows().await
    {
        if video_no == all[37] {
            assert_eq!(status, "failed");
            let last_error = last_error.unwrap();
            assert!(
                last_error.contains("invalid video number"),
                "the API's message: {last_error}"
            );
            assert!(last_error.contains("refused 3 times"), "{last_error}");
        } else {
            assert_eq!(status, "deleted", "{video_no}");
        }
    }
    let received = app.standin.received();
    // The whole batch, refused, is sent once more to confirm the refusal. Then halving
    // 100 down to one id: a half whose sibling went through holds the bad id and is split
    // without being sent whole, which takes 11 requests for id 37 (the whole included).
    // The lone id is refused three times (isolation.confirmations) before it fails.
    assert_eq!(received.len(), 1 + 11 + 2, "{} requests", received.len());
    assert_eq!(
        received[0].ids, received[1].ids,
        "the refusal confirmed whole"
    );
    let lone: Vec<_> = received
        .iter()
        .filter(|r| r.ids.len() == 1 && r.ids[0] == all[37])
        .collect();
    assert_eq!(lone.len(), 3, "refused three times before it failed");
    assert!(received.iter().all(|r| r.ids.len() <= 100));
}

on_both!(an_id_deleted_before_is_isolated_and_counts_as_deleted);
async fn an_id_deleted_before_is_isolated_and_counts_as_deleted() {
    // Without looking first (a look would not list it, and not send it: see verify.rs).
    let app = spawn_app_with(
        50,
        &[
            ("api", "requests_per_second = 50"),
            ("verify", "before = false"),
        ],
    )
    .await;
    let all = ids(0, 100);
    app.insert("default", &all).await;
    app.standin.mark_deleted("default", &all[80]);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 100);
    assert!(app
        .batches()
        .await
        .iter()
        .any(|b| b.api_code.as_deref() == Some("0409")));
    let deleted = app.standin.deleted();
    assert!(all
        .iter()
        .all(|id| deleted.contains(&("default".into(), id.clone()))));
}

on_both!(invalid_video_numbers_fail_without_being_sent);
async fn invalid_video_numbers_fail_without_being_sent() {
    let app = spawn_app(&[]).await;
    let good = ids(0, 3);
    let bad = [
        "",
        " VI123",
        "VI123\n",
        "VI12\u{1}3",
        "abc",
        "PI-123",
        &format!("VI{}", "9".repeat(80)),
    ];
    let mut rows: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
    rows.insert(2, good[0].clone());
    rows.extend(good[1..].iter().cloned());
    app.insert("default", &rows).await;

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let sent = app.sent_ids();
    assert_eq!(sent.iter().collect::<HashSet<_>>(), good.iter().collect());
    for QueueRow {
        video_no,
        status,
        last_error,
        ..
    } in app.rows().await
    {
        if good.contains(&video_no) {
            assert_eq!(status, "deleted");
        } else {
            assert_eq!(status, "failed", "{video_no:?}");
            assert!(last_error.unwrap().starts_with("invalid video number"));
        }
    }
}

on_both!(retry_after_is_honoured);
async fn retry_after_is_honoured() {
    let app = spawn_app(&[("retry", "max_backoff = \"5s\"")]).await;
    app.insert("default", &ids(0, 2)).await;
    app.standin.script([Script::Reply {
        status: 429,
        body: "slow down".into(),
        retry_after: Some("2".into()),
    }]);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let received = app.standin.received();
    assert_eq!(received.len(), 2);
    // The backoff alone would be 10 ms; the server asked for 2 s.
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
}

on_both!(a_hung_request_is_cut_by_the_timeout);
async fn a_hung_request_is_cut_by_the_timeout() {
    let app = spawn_app(&[("api", "timeout = \"500ms\"")]).await;
    app.insert("default", &ids(0, 4)).await;
    app.standin.script([Script::Hang(Duration::from_secs(600))]);

    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let batches = app.batches().await;
    assert_eq!(batches[0].outcome, "retry");
    assert!(
        batches[0].error.as_deref().unwrap().contains("timed out"),
        "{batches:?}"
    );
    assert_eq!(batches[1].outcome, "deleted");
    assert_eq!(app.count("deleted").await, 4);
}

#[tokio::test]
async fn the_key_never_appears_in_logs_the_database_or_status() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin.script([Script::status(500, "oops")]);
    let mut cmd = app.command(&["run", "--once"]);
    cmd.env("RUST_LOG", "trace");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = stderr(&out) + &stdout(&out);
    // The trace output is real: it shows the HTTP exchange, just not the key.
    assert!(logs.contains("TRACE"), "no trace output");
    assert!(logs.contains("hyper"), "no trace from the HTTP client");
    assert!(!logs.contains(KEY), "the key is in the logs");

    // A refused key's error names no key either.
    let mut cmd = app.command(&["run", "--once"]);
    cmd.env("RUST_LOG", "trace")
        .env("MEMORIES_API_KEY", "sk-wrong-key-also-secret");
    app.insert("default", &ids(10, 1)).await;
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(!(stderr(&out) + &stdout(&out)).contains("sk-wrong-key-also-secret"));

    for args in [&["status"][..], &["status", "--json"][..]] {
        let out = app.reaper(args).await;
        assert!(out.status.success());
        assert!(!stdout(&out).contains(KEY) && !stderr(&out).contains(KEY));
    }
    app.pool.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(KEY), "the key is in {path}");
        }
    }
}

on_both!(a_dead_holders_lease_is_taken_over);
async fn a_dead_holders_lease_is_taken_over() {
    // timeout 1 s: a lease of 3 × 1 s + 1 s.
    let app = spawn_app(&[("api", "timeout = \"1s\"")]).await;
    app.insert("default", &ids(0, 20)).await;
    app.standin
        .always(Some(Script::Hang(Duration::from_secs(600))));

    let mut holder = app.spawn(&["run", "--once"]);
    app.wait_for_requests(1).await;
    holder.kill().await.unwrap(); // SIGKILL: no release, no record
    holder.wait().await.unwrap();
    let sent_by_holder = app.standin.received().len();
    assert_eq!(app.count("in_flight").await, 20);
    app.standin.always(None);

    // While the lease runs, the rows are not sent again.
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.standin.received().len(), sent_by_holder);
    assert_eq!(app.count("in_flight").await, 20);

    tokio::time::sleep(Duration::from_millis(4500)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("lease expired"), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 20);
}

on_both!(two_passes_at_once_send_nothing_twice);
async fn two_passes_at_once_send_nothing_twice() {
    // The default sender's lease, not the tests' 2 s: this is not about a takeover, and on a
    // loaded machine a renewal late by 2 s rightly stopped the sender mid-drain (160 of
    // 1,000 sent), which this test then took for a lost drain.
    let app = spawn_app_with(
        1000,
        &[
            ("api", "requests_per_second = 100"),
            ("batch", "size = 20"),
            ("database", "sender_lease = \"15s\""),
        ],
    )
    .await;
    app.insert("default", &ids(0, 1000)).await;
    app.standin.set_latency(Duration::from_millis(20));

    let (a, b) = tokio::join!(
        app.reaper(&["run", "--once"]),
        app.reaper(&["run", "--once"])
    );
    // The one standing by leaves rows due (exit 3) or finds none left (0).
    for out in [&a, &b] {
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr(out));
    }

    let received = app.standin.received();
    let mut times_sent: HashMap<String, usize> = HashMap::new();
    for id in received.iter().flat_map(|r| r.ids.iter()) {
        *times_sent.entry(id.clone()).or_default() += 1;
    }
    assert_eq!(times_sent.len(), 1000);
    assert!(times_sent.values().all(|n| *n == 1), "an id was sent twice");
    assert_eq!(app.count("deleted").await, 1000);
    // One sender per database: one of the two sent everything, the other stood by.
    let sent = "deleted (code 0000)";
    let (sender, standby) = if stderr(&a).contains(sent) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(stderr(sender).contains(sent), "{}", stderr(sender));
    assert!(!stderr(standby).contains(sent), "{}", stderr(standby));
    assert!(
        stderr(standby).contains("sends for this database"),
        "{}",
        stderr(standby)
    );
}

on_both!(producers_insert_while_a_pass_runs);
async fn producers_insert_while_a_pass_runs() {
    // One request in flight at a time, twenty of half a second each: the pass lasts ten
    // seconds, far longer than the producer's inserts.
    let app = spawn_app(&[("api", "concurrency = 1")]).await;
    app.insert("default", &ids(0, 2000)).await;
    app.standin.set_latency(Duration::from_millis(500));

    let mut pass = app.spawn(&["run", "--once"]);
    app.wait_for_requests(1).await;
    // One insert per transaction, as a busy producer would, while the pass writes too.
    for id in ids(5000, 200) {
        app.insert("default", &[id]).await;
    }
    assert!(
        pass.try_wait().unwrap().is_none(),
        "the pass ended before the producer did"
    );
    let out = tokio::time::timeout(Duration::from_secs(60), pass.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // `--once` drains what arrived during the pass too.
    assert_eq!(app.count("deleted").await, 2200);
}

on_both!(sigterm_mid_pass_finishes_the_request_and_releases_the_rest);
async fn sigterm_mid_pass_finishes_the_request_and_releases_the_rest() {
    // Without lookups, the cold start's probe is the one request in flight (looking
    // first, a lookup answered well lets a claim's two batches and others go together).
    let app = spawn_app(&[("verify", "before = false")]).await;
    app.insert("default", &ids(0, 500)).await;
    app.standin.set_latency(Duration::from_millis(1500));

    let daemon = app.spawn(&["run"]);
    app.wait_for_requests(1).await;
    signal(&daemon, "TERM");
    let out = tokio::time::timeout(Duration::from_secs(30), daemon.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    assert_eq!(app.standin.received().len(), 1, "sent more after SIGTERM");
    let batches = app.batches().await;
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0].outcome, "deleted",
        "the request in flight was not recorded"
    );
    let counts = app.counts().await;
    assert_eq!(counts.get("deleted"), Some(&100));
    assert_eq!(counts.get("pending"), Some(&400));
    assert_eq!(counts.get("in_flight"), None);
}

on_both!(the_daemon_wakes_on_its_cron_rule);
async fn the_daemon_wakes_on_its_cron_rule() {
    let app = spawn_app(&[("schedule", "cron = \"* * * * * *\"")]).await;
    let mut daemon = app.spawn(&["run"]);
    // The start-up pass is over (it found nothing): from now on only a tick runs a pass.
    wait_for_line(&mut daemon, "waiting for the next tick").await;
    app.insert("default", &ids(0, 5)).await;
    for _ in 0..100 {
        if app.count("deleted").await == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("deleted").await, 5, "no tick sent them");
    signal(&daemon, "INT");
    assert!(daemon.wait().await.unwrap().success());
}

#[tokio::test]
async fn rows_are_never_sent_before_they_are_due() {
    let app = spawn_app(&[("schedule", "cron = \"* * * * * *\"")]).await;
    // Due in two seconds: the start-up pass cannot send them, only a later tick can.
    for id in ids(0, 5) {
        sqlx::query(
            "INSERT INTO deletion_queue (video_no, due_at)
             VALUES (?1, strftime('%Y-%m-%d %H:%M:%f', 'now', '+2 seconds'))",
        )
        .bind(id)
        .execute(app.pool.sqlite())
        .await
        .unwrap();
    }
    let mut daemon = app.spawn(&["run"]);
    for _ in 0..100 {
        if app.count("deleted").await == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("deleted").await, 5);
    let early: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deletion_queue q JOIN deletion_batches b ON b.id = q.batch_id
          WHERE b.started_at < q.due_at",
    )
    .fetch_one(app.pool.sqlite())
    .await
    .unwrap();
    assert_eq!(early, 0, "rows were sent before they were due");
    signal(&daemon, "INT");
    assert!(daemon.wait().await.unwrap().success());
}

on_both!(enqueue_inserts_valid_ids_and_reports_the_rest);
async fn enqueue_inserts_valid_ids_and_reports_the_rest() {
    let app = spawn_app(&[]).await;
    let file = app.dir.path().join("ids.txt");
    let good = ids(0, 2500);
    std::fs::write(
        &file,
        format!(
            "{}\n\n  \nnot-a-video\n{}\n",
            good[..2000].join("\n"),
            good[2000..].join("\r\n")
        ),
    )
    .unwrap();

    let out = app
        .reaper(&[
            "enqueue",
            "--file",
            file.to_str().unwrap(),
            "--namespace",
            "tenant-a",
            "VI1",
            "bad id",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "some ids were rejected");
    let err = stderr(&out);
    assert!(
        err.contains("not-a-video") && err.contains("ids.txt:2003"),
        "{err}"
    );
    assert!(err.contains("argument 2"), "{err}");
    assert!(stdout(&out).contains("enqueued 2501 in namespace tenant-a; rejected 2"));
    let rows = app.rows().await;
    assert_eq!(rows.len(), 2501);
    assert!(rows
        .iter()
        .all(|r| r.namespace == "tenant-a" && r.status == "pending"));
}

on_both!(status_shows_counts_oldest_pending_and_last_batches);
async fn status_shows_counts_oldest_pending_and_last_batches() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    app.reaper(&["run", "--once"]).await;
    app.insert("tenant-a", &ids(10, 2)).await;

    let out = app.reaper(&["status"]).await;
    let text = stdout(&out);
    assert!(
        text.contains("default") && text.contains("deleted") && text.contains("tenant-a"),
        "{text}"
    );
    assert!(text.contains("oldest pending: row 4"), "{text}");
    assert!(
        text.contains("outcome=deleted http=200 code=0000"),
        "{text}"
    );

    let out = app.reaper(&["status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["oldest_pending"]["unique_id"], "tenant-a");
    assert_eq!(json["last_batches"][0]["outcome"], "deleted");
}

#[tokio::test]
async fn bad_configuration_is_one_line_naming_the_problem() {
    let app = spawn_app(&[]).await;
    for (extra, says) in [
        (("api", "base_url = \"http://api.memories.ai\""), "in clear"),
        (("batch", "size = 500"), "1 to 100"),
        (("schedule", "cron = \"every day\""), "fields"),
        (("retry", "max_attempts = 0"), "max_attempts"),
        (("api", "timout = \"1s\""), "timout"),
        (("api", "timeout = \"soon\""), "timeout"),
    ] {
        let text = app.config_text(&[extra]);
        std::fs::write(&app.config, text).unwrap();
        let out = app.reaper(&["run", "--once"]).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(!err.contains("panicked"));
    }
    let out = run({
        let mut cmd = app.command(&["status"]);
        cmd.arg("--config").arg(app.dir.path().join("missing.toml"));
        cmd
    })
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.toml"));
}

#[tokio::test]
async fn a_locked_database_is_reported_and_loses_nothing() {
    let app = spawn_app(&[("database", "busy_timeout = \"300ms\"")]).await;
    // Another process holds the write lock for longer than the busy timeout.
    let mut holder = app.pool.sqlite().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let out = app.reaper(&["enqueue", &ids(0, 1)[0]]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("locked by another process"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);

    let out = app.reaper(&["enqueue", &ids(0, 1)[0]]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn an_answer_that_cannot_be_recorded_is_not_lost() {
    // The database is locked after the request went out and past the busy timeout: the
    // answer cannot be recorded. The rows stay held until the lease (4 s here) expires,
    // then go out again; the API answers 0409 (deleted before), which settles them.
    let app = spawn_app(&[
        ("api", "timeout = \"1s\""),
        ("database", "busy_timeout = \"300ms\""),
    ])
    .await;
    app.insert("default", &ids(0, 10)).await;
    app.standin.set_latency(Duration::from_millis(500));
    let pass = app.spawn(&["run", "--once"]);
    app.wait_for_requests(1).await;
    let mut holder = app.pool.sqlite().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let out = pass.wait_with_output().await.unwrap();
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("locked by another process"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("the pass did not finish; 0 due rows are still pending"),
        "{}",
        stderr(&out)
    );
    // The pass's last line does not call them pending: they are not, yet.
    assert!(
        stderr(&out).contains(
            "rows the database could not take back return to pending when their lease runs out"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        app.count("in_flight").await,
        10,
        "held until the lease expires"
    );

    app.standin.set_latency(Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(app.count("deleted").await, 10);
    let answered: Vec<String> = app
        .standin
        .received()
        .into_iter()
        .map(|r| r.answered)
        .collect();
    assert_eq!(answered.first().map(String::as_str), Some("0000"));
    assert!(answered[1..].iter().all(|a| a == "0409"), "{answered:?}");
}

#[tokio::test]
async fn without_a_config_file_the_database_goes_to_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let systemd_state = dir.path().join("var-lib");
    std::fs::create_dir(&systemd_state).unwrap();
    let out = run({
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("migrate")
            .env("STATE_DIRECTORY", &systemd_state)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(systemd_state.join("queue.db").exists());

    // Outside systemd: the user's state directory, created on first use.
    let home = dir.path().join("home");
    let out = run({
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("migrate")
            .env_remove("STATE_DIRECTORY")
            .env_remove("XDG_STATE_HOME")
            .env("HOME", &home)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(home.join(".local/state/memories-reaper/queue.db").exists());
}

on_both!(json_logs_carry_the_batch_fields);
async fn json_logs_carry_the_batch_fields() {
    let app = spawn_app(&[]).await;
    app.insert("tenant-a", &ids(0, 7)).await;
    let out = app.reaper(&["--log-format", "json", "run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let batch = lines
        .iter()
        .find(|l| l["fields"]["batch_outcome"] == "deleted")
        .expect("a batch line");
    // The message reads on its own, as journalctl's default output shows it.
    let message = batch["fields"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(": 7 ids in namespace tenant-a, attempt 1, deleted (code 0000), took "),
        "{message}"
    );
    let fields = &batch["fields"];
    assert_eq!(fields["batch_namespace"], "tenant-a");
    assert_eq!(fields["batch_count"], 7);
    assert_eq!(fields["batch_attempt"], 1);
    assert_eq!(fields["batch_outcome"], "deleted");
    assert_eq!(fields["batch_code"], "0000");
    assert!(fields["batch_id"].is_number() && fields["batch_duration_ms"].is_number());
    assert!(
        !stderr(&out).contains('\u{1b}'),
        "colour codes when not on a terminal"
    );
}

#[tokio::test]
async fn a_quick_restart_stays_within_the_rate_limit() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 500)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // However long the second process takes to start, its predecessor's five requests
    // look as if they had just gone out: it must wait for them to leave the window.
    sqlx::query("UPDATE deletion_batches SET started_at = strftime('%Y-%m-%d %H:%M:%f', 'now')")
        .execute(app.pool.sqlite())
        .await
        .unwrap();
    let stamped = std::time::Instant::now();
    app.insert("default", &ids(500, 500)).await;
    let out = app.reaper(&["run", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let received = app.standin.received();
    assert_eq!(received.len(), 10);
    let waited = received[5].at - stamped;
    assert!(
        waited >= Duration::from_millis(900),
        "the restarted process sent {waited:?} after its predecessor's five requests"
    );
    assert!(
        received.iter().all(|r| r.answered == "0000"),
        "{:?}",
        received.iter().map(|r| &r.answered).collect::<Vec<_>>()
    );
    assert_eq!(app.count("deleted").await, 1000);
}

on_both!(random_faults_delay_deletions_but_lose_none);
async fn random_faults_delay_deletions_but_lose_none() {
    let app = spawn_app(&[("schedule", "cron = \"* * * * * *\"")]).await;
    let log = app.dir.path().join("requests.jsonl");
    app.standin.log_to(&log).unwrap();
    app.standin.set_faults(Some(Faults {
        seed: 7,
        rate: 0.3,
        latency: Duration::from_millis(1),
        jitter: Duration::from_millis(20),
        hang: Duration::from_secs(3),
    }));
    let mut queued = HashSet::new();
    for (i, namespace) in ["default", "tenant-a", "tenant-b"].iter().enumerate() {
        let batch = ids(i as u64 * 1000, 150);
        app.insert(namespace, &batch).await;
        queued.extend(batch.into_iter().map(|id| (namespace.to_string(), id)));
    }
    let mut daemon = app.spawn(&["run"]);
    let settled = async {
        while app.count("deleted").await < 450 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let drained = tokio::time::timeout(Duration::from_secs(90), settled).await;
    signal(&daemon, "TERM");
    let status = daemon.wait().await.unwrap();
    assert!(drained.is_ok(), "not drained: {:?}", app.counts().await);
    assert_eq!(status.code(), Some(0));

    // The deletions (the log holds the lookups too).
    let lines: Vec<LogLine> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<LogLine>(l).unwrap())
        .filter(|l| !l.path.contains("/list_"))
        .collect();
    assert!(
        lines.iter().any(|l| l.fault.is_some()),
        "no fault was injected"
    );
    assert!(lines
        .iter()
        .all(|l| l.authorized && !l.over_limit && l.ids.len() <= 100));
    let deleted: HashSet<(String, String)> = lines
        .iter()
        .filter(|l| l.applied)
        .flat_map(|l| l.ids.iter().map(|id| (l.namespace.clone(), id.clone())))
        .collect();
    assert_eq!(deleted, queued, "each id deleted in its own namespace");
}
