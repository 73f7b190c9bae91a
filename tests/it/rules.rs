//! Lifecycle rules against the stand-in's catalogue: a rule's plan matches exactly what it
//! describes; enqueued, exactly those are deleted, each once, as `rule:NAME`; a held one
//! waits for its release; trip-wires hold a listing until confirmed; `max_per_run` spreads
//! a run; a restart mid-listing resumes it without enqueueing twice.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::on_both;
use crate::support::standin::{varied_catalogue, Meta};
use crate::support::*;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A video of the catalogue: (namespace, id) and what the listing shows.
type Video = ((String, String), Meta);

/// `n` videos in each of `namespaces` namespaces (`ns-00`, …), of varied ages, states and
/// tags.
fn catalogue(namespaces: usize, n: usize) -> Vec<Video> {
    let names: Vec<String> = (0..namespaces).map(|i| format!("ns-{i:02}")).collect();
    let now = chrono::Utc::now().timestamp_millis();
    varied_catalogue(&names, namespaces * n, 700_000_000_000_000_000, now)
}

/// The config's text, then these `[[rule]]` tables.
fn with_rules(app: &App, extra: &[(&str, &str)], rules: &str) {
    let text = format!("{}{rules}", app.config_text(extra));
    std::fs::write(&app.config, text).expect("write config");
}

/// Fast enough to list and delete 50,000 videos in a test.
const FAST: &[(&str, &str)] = &[
    ("api", "requests_per_second = 1000"),
    ("lookup", "requests_per_second = 1000"),
    ("rules", "lookup_share = 1000"),
    ("schedule", "cron = \"* * * * * *\""),
];

/// How long `until` waits: a hang guard, not a measure (a listing of 50,000 videos beside
/// two busy CPUs took over a minute).
const GUARD: Duration = Duration::from_secs(300);

async fn until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A daemon whose log goes to a file, to be waited on and read whole at the end.
struct Daemon {
    child: tokio::process::Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(app: &App, name: &str) -> Self {
        let log = app.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create the log file");
        let mut cmd = app.command(&["run"]);
        cmd.stderr(file);
        Self {
            child: cmd.spawn().expect("start memories-reaper"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for(&self, needle: &str) {
        until(needle, GUARD, async || self.log().contains(needle)).await;
    }

    /// SIGTERM; its whole log.
    async fn stop(self) -> String {
        signal(&self.child, "TERM");
        let out = run_child(self.child).await;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(out.status.success(), "{log}");
        log
    }
}

on_both!(a_rule_reports_then_deletes_exactly_what_it_describes_each_once);
async fn a_rule_reports_then_deletes_exactly_what_it_describes_each_once() {
    let app = spawn_app_with(1000, &[]).await;
    app.standin.set_lookup_per_second(1000);
    let videos = catalogue(20, 2500);
    let now = chrono::Utc::now().timestamp_millis();
    let expected: HashSet<(String, String)> = videos
        .iter()
        .filter(|(_, m)| m.status == "PARSE_ERROR" && now - m.create_ms >= 180 * DAY_MS)
        .map(|(v, _)| v.clone())
        .collect();
    assert!(expected.len() > 1000, "{}", expected.len());
    // A second rule, by tag, stays in report mode throughout.
    let scratch: HashSet<(String, String)> = videos
        .iter()
        .filter(|((ns, _), m)| {
            ["ns-00", "ns-01"].contains(&ns.as_str())
                && m.tags.iter().any(|t| t == "scratch")
                && now - m.create_ms >= 30 * DAY_MS
        })
        .map(|(v, _)| v.clone())
        .collect();
    app.standin.set_catalogue_with(videos);
    let rule = |mode: &str| {
        format!(
            "[[rule]]\nname = \"old-errors\"\nall_namespaces = true\nolder_than = \"180d\"\n\
             status = [\"PARSE_ERROR\"]\nmode = \"{mode}\"\n\
             [[rule]]\nname = \"scratch\"\nnamespaces = [\"ns-01\", \"ns-00\"]\ntag = \"scratch\"\n\
             older_than = \"30d\"\n"
        )
    };
    with_rules(&app, FAST, &rule("report"));

    // The plan, listed live, changes nothing.
    let out = app.reaper(&["rules", "plan"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains(&format!(
            "{} of 50000 listed match (0 could not be judged)",
            expected.len()
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "{} of 5000 listed match (0 could not be judged)",
            scratch.len()
        )),
        "{plan}"
    );
    let in_ns_03 = expected.iter().filter(|(ns, _)| ns == "ns-03").count();
    assert!(
        plan.lines().any(|l| l.starts_with("  ns-03 ")
            && l.split_whitespace().nth(1) == Some("2500")
            && l.split_whitespace().nth(2) == Some(in_ns_03.to_string().as_str())),
        "{plan}"
    );
    let sample_line = plan
        .lines()
        .find(|l| l.starts_with("  ns-03 "))
        .unwrap_or_default();
    let sample = sample_line.rsplit("  ").next().unwrap_or_default();
    for id in sample.split(", ") {
        assert!(
            expected.contains(&("ns-03".to_owned(), id.to_owned())),
            "{id} in {plan}"
        );
    }

    // In report mode the daemon records and logs, and enqueues nothing.
    let daemon = Daemon::start(&app, "report");
    daemon
        .wait_for(&format!(
            "would enqueue {} videos; nothing enqueued",
            expected.len()
        ))
        .await;
    daemon.stop().await;
    assert_eq!(app.counts().await.values().sum::<i64>(), 0);
    let out = app.reaper(&["rules", "plan", "--last"]).await;
    assert!(
        stdout(&out).contains(&format!("{} of 50000 listed match", expected.len()))
            && stdout(&out).contains("report, done"),
        "{}",
        stdout(&out)
    );
    // What the daemon tallied in SQL, namespace by namespace (counts, oldest, newest, the
    // sample), is what the plan counted from the listing itself.
    let namespaces = |text: &str| -> Vec<String> {
        let lines = text.lines().filter(|l| l.starts_with("  ns-"));
        lines.map(str::to_owned).collect()
    };
    assert_eq!(namespaces(&stdout(&out)), namespaces(&plan));
    assert_eq!(
        namespaces(&plan).len(),
        20 + 2,
        "both rules' namespaces: {plan}"
    );

    // Enqueue mode, with one of them held: all the others are deleted, each once.
    let held = expected.iter().min().cloned().unwrap_or_default();
    let out = app
        .reaper(&["hold", "add", &held.1, "--reason", "case 4"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    with_rules(&app, FAST, &rule("enqueue"));
    let daemon = Daemon::start(&app, "enqueue");
    let total = expected.len() as i64;
    until(
        "the rule's deletions",
        Duration::from_secs(120),
        async || app.count("deleted").await == total - 1,
    )
    .await;
    assert_eq!(app.count("held").await, 1);
    let out = app.reaper(&["hold", "release", &held.1]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    until("the released video", GUARD, async || {
        app.count("deleted").await == total
    })
    .await;
    daemon.stop().await;

    let mut sent: HashMap<(String, String), usize> = HashMap::new();
    for r in app.standin.received() {
        for id in r.ids {
            *sent
                .entry((r.unique_id.clone().unwrap_or_default(), id))
                .or_default() += 1;
        }
    }
    assert_eq!(sent.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(sent.values().all(|n| *n == 1), "some video was sent twice");
    let out = app.reaper(&["receipts", "--format", "jsonl"]).await;
    let receipts: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(receipts.len(), expected.len());
    assert!(
        receipts
            .iter()
            .all(|r| r["source"] == "rule:old-errors" && r["status"] == "deleted"),
        "{:?}",
        receipts.first()
    );
}

on_both!(a_listing_that_matches_too_much_waits_for_confirmation_then_spreads);
async fn a_listing_that_matches_too_much_waits_for_confirmation_then_spreads() {
    let app = spawn_app_with(1000, &[]).await;
    app.standin.set_lookup_per_second(1000);
    let now = chrono::Utc::now().timestamp_millis();
    // 60 of 100 are 40 days old, 40 are a day old.
    let videos: Vec<Video> = ids(0, 100)
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let age = if i < 60 { 40 } else { 1 };
            (
                ("tenant".to_owned(), id),
                Meta {
                    create_ms: now - age * DAY_MS,
                    ..Meta::default()
                },
            )
        })
        .collect();
    app.standin.set_catalogue_with(videos);
    with_rules(
        &app,
        FAST,
        "[[rule]]\nname = \"month\"\nnamespaces = [\"tenant\", \"ghost\"]\nolder_than = \"30d\"\n\
         stop_above = 50\nstop_above_share = 1.0\n\
         mode = \"enqueue\"\nmax_per_run = 25\n",
    );
    let out = app.reaper(&["check"]).await;
    assert!(
        stdout(&out).contains(
            "rule month: mode = \"enqueue\", older than 30 days in tenant, ghost; runs on \"* * * * * *\""
        ),
        "{}",
        stdout(&out)
    );
    let out = app.reaper(&["rules", "confirm", "month"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("has no listing held by a trip-wire"),
        "{}",
        stderr(&out)
    );

    let daemon = Daemon::start(&app, "month");
    daemon
        .wait_for("enqueues nothing: 60 videos match, more than stop_above = 50")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        app.counts().await.values().sum::<i64>(),
        0,
        "a tripped listing enqueued"
    );
    assert!(
        app.standin.created_namespaces().is_empty(),
        "listing created a namespace"
    );
    let out = app.reaper(&["status"]).await;
    assert!(
        stdout(&out).contains("  month: listing 1 (enqueue, tripped) started ")
            && stdout(&out).contains(" UTC: 60 of 100 listed match, 0 enqueued; 60 videos match, more than stop_above = 50"),
        "{}",
        stdout(&out)
    );

    let out = app.reaper(&["rules", "confirm", "month"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("confirmed"), "{}", stdout(&out));
    until("the confirmed listing's deletions", GUARD, async || {
        app.count("deleted").await == 60
    })
    .await;
    let log = daemon.stop().await;
    assert_eq!(
        log.matches("rule month: enqueued 25 videos").count(),
        2,
        "{log}"
    );
    assert!(log.contains("rule month: enqueued 10 videos"), "{log}");
    assert!(log.contains("the account has no namespace ghost"), "{log}");
    let sent: Vec<String> = app.sent_ids();
    assert_eq!(sent.len(), 60);
    assert_eq!(sent.iter().collect::<HashSet<_>>().len(), 60);
    assert!(ids(0, 60).iter().all(|id| sent.contains(id)));
}

on_both!(a_restart_mid_listing_resumes_it_and_enqueues_nothing_twice);
async fn a_restart_mid_listing_resumes_it_and_enqueues_nothing_twice() {
    let app = spawn_app_with(1000, &[]).await;
    app.standin.set_lookup_per_second(1000);
    let videos = catalogue(1, 2400);
    let now = chrono::Utc::now().timestamp_millis();
    let expected: HashSet<String> = videos
        .iter()
        .filter(|(_, m)| now - m.create_ms >= 200 * DAY_MS)
        .map(|((_, id), _)| id.clone())
        .collect();
    app.standin.set_catalogue_with(videos);
    let rule = "[[rule]]\nname = \"old\"\nnamespaces = [\"ns-00\"]\nolder_than = \"200d\"\n\
                mode = \"enqueue\"\nstop_above_share = 1.0\n";
    // Two pages a second: 12 pages take 6 s.
    let slow = [
        ("api", "requests_per_second = 1000"),
        ("lookup", "requests_per_second = 1000"),
        ("rules", "lookup_share = 2"),
        ("schedule", "cron = \"* * * * * *\""),
    ];
    with_rules(&app, &slow, rule);
    let daemon = Daemon::start(&app, "first");
    daemon.wait_for("rule old: listing 1 started").await;
    until("a few pages", Duration::from_secs(30), async || {
        let pages = app
            .pool
            .texts("SELECT CAST(next_page AS TEXT) FROM rule_namespaces")
            .await;
        pages
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|p| p.parse::<i64>().ok())
            >= Some(4)
    })
    .await;
    signal(&daemon.child, "KILL");
    let _ = run_child(daemon.child).await;
    // The listing kept to its share of the lookups: 2 a second.
    let listing: Vec<Instant> = app
        .standin
        .lookups()
        .iter()
        .filter(|l| !l.filtered && l.unique_id.is_some())
        .map(|l| l.at)
        .collect();
    assert!(listing.len() >= 3, "{}", listing.len());
    for (i, at) in listing.iter().enumerate() {
        let in_second = listing[i..]
            .iter()
            .take_while(|t| t.duration_since(*at) < Duration::from_millis(990))
            .count();
        assert!(
            in_second <= 2,
            "{in_second} listing requests within a second"
        );
    }
    assert_eq!(app.counts().await.values().sum::<i64>(), 0);

    with_rules(&app, FAST, rule);
    let daemon = Daemon::start(&app, "second");
    until("the rule's deletions", GUARD, async || {
        app.count("deleted").await == expected.len() as i64
    })
    .await;
    let log = daemon.stop().await;
    // The listing the first daemon started is the one that enqueued them all.
    assert!(
        log.contains(&format!(
            "rule old: listing 1 read 2400 videos in 1 namespaces: {} match",
            expected.len()
        )),
        "not resumed: {log}"
    );
    let listings = app
        .pool
        .texts(
            "SELECT CAST(id AS TEXT), state, CAST(enqueued AS TEXT) FROM rule_listings ORDER BY id",
        )
        .await;
    assert_eq!(listings[0][1].as_deref(), Some("done"), "{listings:?}");
    assert_eq!(
        listings[0][2],
        Some(expected.len().to_string()),
        "{listings:?}"
    );
    let rows = app.pool.texts("SELECT video_no FROM deletion_queue").await;
    assert_eq!(rows.len(), expected.len(), "a video was enqueued twice");
    let sent = app.sent_ids();
    assert_eq!(sent.len(), expected.len());
    assert_eq!(sent.into_iter().collect::<HashSet<_>>(), expected);
}

on_both!(a_rule_that_cannot_be_meant_is_refused_at_start);
async fn a_rule_that_cannot_be_meant_is_refused_at_start() {
    let app = spawn_app(&[]).await;
    for (rule, says) in [
        (
            "name = \"a\"\nall_namespaces = true\n",
            "rule a: has no condition",
        ),
        (
            "name = \"a\"\nall_namespaces = true\nolder_than = \"90m\"\n",
            "under one day",
        ),
        (
            "name = \"a\"\nall_namespaces = true\ntag = \"x\"\nmax_items = 5\n",
            "unknown field `max_items`",
        ),
    ] {
        with_rules(&app, &[], &format!("[[rule]]\n{rule}"));
        for args in [&["check"][..], &["run", "--once"]] {
            let out = app.reaper(args).await;
            assert_eq!(out.status.code(), Some(1), "{rule}");
            assert!(stderr(&out).contains(says), "{rule}: {}", stderr(&out));
            assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
        }
    }
}

on_both!(an_api_that_ignores_the_page_ends_the_listing_instead_of_looping);
async fn an_api_that_ignores_the_page_ends_the_listing_instead_of_looping() {
    let app = spawn_app_with(1000, &[]).await;
    app.standin.set_lookup_per_second(1000);
    app.standin.set_listing(Listing::IgnoresPage);
    let now = chrono::Utc::now().timestamp_millis();
    let videos: Vec<Video> = ids(0, 500)
        .into_iter()
        .map(|id| {
            let meta = Meta {
                create_ms: now - 100 * DAY_MS,
                ..Meta::default()
            };
            (("tenant".to_owned(), id), meta)
        })
        .collect();
    app.standin.set_catalogue_with(videos);
    with_rules(
        &app,
        FAST,
        "[[rule]]\nname = \"old\"\nnamespaces = [\"tenant\"]\nolder_than = \"30d\"\n",
    );
    let out = app.reaper(&["rules", "plan"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "200 of 200 listed match (0 could not be judged); mode = \"report\": a run enqueues \
             nothing; in enqueue mode it would trip: 200 of the 200 videos of namespace \
             \"tenant\" match, more than stop_above_share = 0.5"
        ),
        "{}",
        stdout(&out)
    );
    let daemon = Daemon::start(&app, "pages");
    daemon
        .wait_for(
            "rule old (mode = \"report\"): would enqueue 200 videos; in enqueue mode it would \
             trip: 200 of the 200 videos of namespace \"tenant\" match, more than \
             stop_above_share = 0.5",
        )
        .await;
    let log = daemon.stop().await;
    assert!(
        log.contains("page 2 of namespace tenant listed only videos of earlier pages"),
        "{log}"
    );
}

on_both!(a_stale_listing_is_listed_afresh_and_a_removed_rule_s_is_set_aside);
async fn a_stale_listing_is_listed_afresh_and_a_removed_rule_s_is_set_aside() {
    let app = spawn_app_with(1000, &[]).await;
    app.standin.set_lookup_per_second(1000);
    app.standin
        .set_catalogue_with(catalogue(1, 400).into_iter().collect::<Vec<_>>());
    let rule = "[[rule]]\nname = \"old\"\nnamespaces = [\"ns-00\"]\nolder_than = \"30d\"\n\
                mode = \"enqueue\"\nstop_above = 10\n";
    with_rules(&app, FAST, rule);
    let daemon = Daemon::start(&app, "trip");
    daemon
        .wait_for("rule old: listing 1 enqueues nothing")
        .await;
    daemon.stop().await;

    // Restarted, with the rule not due for a year: its gauge says tripped from the start.
    let port = free_port();
    let listen = format!("listen = \"127.0.0.1:{port}\"");
    let mut extra = FAST.to_vec();
    extra.push(("metrics", listen.as_str()));
    with_rules(&app, &extra, &format!("{rule}schedule = \"0 0 1 1 *\"\n"));
    let daemon = Daemon::start(&app, "gauge");
    let url = format!("http://127.0.0.1:{port}/metrics");
    until("the rule's gauge", Duration::from_secs(30), async || {
        let text = match reqwest::get(&url).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .any(|l| l == "memories_reaper_rule_tripped{rule=\"old\"} 1")
    })
    .await;
    daemon.stop().await;
    with_rules(&app, FAST, rule);

    // Eight days later, the tripped listing is not confirmed: it is listed afresh.
    let week_ms = 8 * DAY_MS;
    app.pool
        .execute(&format!(
            "UPDATE rule_listings SET listed_at_ms = listed_at_ms - {week_ms}"
        ))
        .await
        .expect("age the listing");
    let daemon = Daemon::start(&app, "stale");
    daemon
        .wait_for("rule old: listing 1 is older than 7days: listed afresh")
        .await;
    daemon
        .wait_for("rule old: listing 2 enqueues nothing")
        .await;
    daemon.stop().await;

    // The rule removed from the config: its tripped listing is set aside.
    with_rules(&app, FAST, "");
    let daemon = Daemon::start(&app, "removed");
    daemon
        .wait_for("set aside 1 listings of lifecycle rules no longer configured")
        .await;
    daemon.stop().await;
    let states = app
        .pool
        .texts("SELECT state, note FROM rule_listings ORDER BY id")
        .await;
    assert_eq!(
        states,
        vec![
            vec![
                Some("superseded".to_owned()),
                Some("older than 7 days: listed afresh".to_owned())
            ],
            vec![
                Some("superseded".to_owned()),
                Some("the rule is no longer configured".to_owned())
            ],
        ]
    );
    let left = app.pool.texts("SELECT video_no FROM rule_snapshot").await;
    assert!(left.is_empty(), "{} snapshot rows left", left.len());
    assert_eq!(app.counts().await.values().sum::<i64>(), 0);
}
