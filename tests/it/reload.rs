//! SIGHUP against the real binary: the configuration is read again and used from the next
//! pass; the request in flight is never dropped; what cannot change live is refused with
//! one line and the old configuration kept.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStderr;

use crate::on_both;
use crate::support::*;

/// The daemon's log, read line by line as the test goes.
struct Log(Lines<BufReader<ChildStderr>>);

impl Log {
    fn of(child: &mut tokio::process::Child) -> Self {
        Self(BufReader::new(child.stderr.take().expect("stderr is piped")).lines())
    }

    /// Reads until a line holds `needle` (at most 30 s); returns that line.
    async fn until(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = self.0.next_line().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        found
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no line with {needle:?} in the log"))
    }
}

fn write_config(app: &App, extra: &[(&str, &str)]) {
    let text = app.config_text(extra);
    std::fs::write(&app.config, text).expect("write config");
}

on_both!(sighup_reloads_between_passes_and_keeps_the_request_in_flight);
async fn sighup_reloads_between_passes_and_keeps_the_request_in_flight() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin.set_latency(Duration::from_millis(1500));
    let mut daemon = app.spawn(&["run"]);
    let mut log = Log::of(&mut daemon);
    app.wait_for_requests(1).await;

    // Mid-request: a new retry budget and log level; the request goes on.
    write_config(
        &app,
        &[("retry", "max_attempts = 7"), ("log", "level = \"debug\"")],
    );
    signal(&daemon, "HUP");
    let line = log.until("configuration reloaded").await;
    assert!(line.contains("retry.max_attempts=7"), "{line}");
    for _ in 0..100 {
        if app.count("deleted").await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("deleted").await,
        3,
        "the request in flight was dropped"
    );
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "SIGHUP ended the daemon"
    );
    let outcomes: Vec<String> = app.batches().await.into_iter().map(|b| b.outcome).collect();
    assert_eq!(outcomes, ["deleted"]);

    // What cannot change live is refused, and so is a file that does not parse.
    let elsewhere = app.dir.path().join("other.db");
    let text = config_text(&app.standin.base_url(), &elsewhere, &[]);
    std::fs::write(&app.config, text).unwrap();
    signal(&daemon, "HUP");
    let line = log.until("reload refused").await;
    assert!(line.contains("database.path/url cannot change"), "{line}");
    std::fs::write(&app.config, "[api\nnonsense").unwrap();
    signal(&daemon, "HUP");
    let line = log.until("reload refused").await;
    assert!(line.contains("line 1"), "{line}");
    assert!(!elsewhere.exists(), "the refused database was opened");

    // A new schedule is armed at once: a tick every second now drains new rows.
    app.standin.set_latency(Duration::ZERO);
    app.insert("default", &ids(10, 2)).await;
    write_config(
        &app,
        &[
            ("schedule", "cron = \"* * * * * *\""),
            ("log", "level = \"memories_reaper=debug\""),
        ],
    );
    signal(&daemon, "HUP");
    log.until("schedule armed afresh").await;
    // The level changed live: debug lines (each tick's), none before.
    log.until("DEBUG").await;
    for _ in 0..100 {
        if app.count("deleted").await == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("deleted").await,
        5,
        "the new schedule did not run"
    );

    signal(&daemon, "TERM");
    let status = daemon.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
}

on_both!(sighup_during_run_once_is_ignored_not_fatal);
async fn sighup_during_run_once_is_ignored_not_fatal() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    app.standin.set_latency(Duration::from_millis(1000));
    let mut daemon = app.spawn(&["run", "--once"]);
    let mut log = Log::of(&mut daemon);
    app.wait_for_requests(1).await;
    signal(&daemon, "HUP");
    log.until("ignored by `run --once`").await;
    let status = daemon.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(app.count("deleted").await, 3);
}

/// Never in any year: April has 30 days.
const NEVER: &str = "cron = \"0 0 31 4 *\"";

#[tokio::test]
async fn a_schedule_that_never_fires_is_refused_at_start_and_at_reload() {
    let app = spawn_app(&[]).await;
    // At start: `run` exits 1 with one line naming the setting and `check --next`, for the
    // daemon's schedule and for a rule's.
    write_config(&app, &[("schedule", NEVER)]);
    let out = app.reaper(&["run"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("schedule.cron \"0 0 31 4 *\" matches no time from now on")
            && err.contains("check --next"),
        "{err}"
    );
    let rule = "[[rule]]\nname = \"old\"\nall_namespaces = true\nolder_than = \"30d\"\n\
                schedule = \"0 0 30 2 *\"\n";
    let text = app.config_text(&[]) + rule;
    std::fs::write(&app.config, text).expect("write config");
    for args in [&["run"][..], &["check"]] {
        let out = app.reaper(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("rule old: schedule \"0 0 30 2 *\" matches no time"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // At reload: refused, the running schedule kept, and the daemon runs on.
    write_config(&app, &[("schedule", "cron = \"* * * * * *\"")]);
    let mut daemon = app.spawn(&["run"]);
    let mut log = Log::of(&mut daemon);
    log.until("waiting for the next tick").await;
    write_config(&app, &[("schedule", NEVER)]);
    signal(&daemon, "HUP");
    let line = log.until("reload refused").await;
    assert!(line.contains("matches no time from now on"), "{line}");
    // The old schedule still ticks: rows queued now are deleted.
    app.insert("default", &ids(0, 2)).await;
    for _ in 0..100 {
        if app.count("deleted").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("deleted").await, 2, "the kept schedule stopped");
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon ended");
    signal(&daemon, "TERM");
    assert_eq!(daemon.wait().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn sighup_is_ignored_from_before_the_program_does_anything() {
    let app = spawn_app(&[]).await;
    let mut daemon = app.spawn(&["run"]);
    let pid = daemon.id().expect("running");
    // SigIgn in /proc is a hex mask; SIGHUP is signal 1, its lowest bit. It is set by the
    // first statement of `main`: what comes before (the loader) no program can guard.
    let ignores_hup = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & 1 == 1)
    };
    let mut stderr = daemon.stderr.take().expect("piped");
    for _ in 0..2000 {
        if ignores_hup() {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    assert!(ignores_hup(), "SIGHUP is not ignored");
    // A storm of SIGHUPs from then on, through the start: none ends the daemon.
    for _ in 0..30 {
        signal(&daemon, "HUP");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "a SIGHUP ended the daemon"
    );
    signal(&daemon, "TERM");
    let status = daemon.wait().await.unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
}

#[tokio::test]
async fn check_next_needs_no_key() {
    let app = spawn_app(&[]).await;
    let out = app
        .command(&["check", "--next", "3"])
        .env_remove("MEMORIES_API_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let times = stdout
        .lines()
        .filter(|l| l.starts_with("  ") && l.ends_with("+00:00"))
        .count();
    assert_eq!(times, 3, "{stdout}");
    // Without --next, the missing key is a problem.
    let out = app
        .command(&["check"])
        .env_remove("MEMORIES_API_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[tokio::test]
async fn values_that_would_prove_nothing_are_refused_by_their_own_names() {
    let app = spawn_app(&[]).await;
    for (table, line, said) in [
        (
            "verify",
            "absent_after = \"0s\"",
            "verify.absent_after = \"0s\" is too short",
        ),
        (
            "verify",
            "after_delay = \"0s\"",
            "verify.after_delay = \"0s\" is too short",
        ),
        (
            "rules",
            "lookup_share = 0",
            "lookup_share: 0 requests a second is out of range",
        ),
    ] {
        write_config(&app, &[(table, line)]);
        let out = app.reaper(&["check"]).await;
        assert_eq!(out.status.code(), Some(1), "{line}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{line}: {}", stderr(&out));
    }
}
