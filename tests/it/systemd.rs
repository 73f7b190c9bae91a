//! What systemd sees: sd_notify messages on a simulated `NOTIFY_SOCKET`, and journal
//! entries on a simulated journald socket. (This machine's PID 1 is not systemd; the
//! sockets are plain Unix datagram sockets read by the test, as systemd would read them.)

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::on_both;
use crate::support::*;

/// Reads datagrams until `done` says enough, or `within` runs out.
fn collect(
    socket: &UnixDatagram,
    within: Duration,
    mut done: impl FnMut(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + within;
    let mut buf = vec![0; 1 << 16];
    while Instant::now() < deadline && !done(&got) {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

on_both!(notify_ready_status_watchdog_and_stopping);
async fn notify_ready_status_watchdog_and_stopping() {
    let app = spawn_app(&[]).await;
    app.insert("default", &ids(0, 3)).await;
    let path = app.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();

    let mut cmd = app.command(&["run"]);
    cmd.env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000");
    let daemon = cmd.spawn().unwrap();
    let has = |got: &[Vec<u8>], what: &str| {
        got.iter()
            .any(|m| String::from_utf8_lossy(m).contains(what))
    };
    let got = tokio::task::spawn_blocking({
        let socket = socket.try_clone().unwrap();
        move || {
            collect(&socket, Duration::from_secs(20), |got| {
                has(got, "READY=1")
                    && has(got, "last pass finished")
                    && got.iter().filter(|m| m == &b"WATCHDOG=1\n").count() >= 3
            })
        }
    })
    .await
    .unwrap();
    let text: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(has(&got, "READY=1"), "{text:?}");
    // A Status line from the start (`systemctl status` right after start), then the pass's.
    assert!(has(&got, "STATUS=started; first pass now"), "{text:?}");
    assert!(
        text.iter().any(|m| m.contains(
            "STATUS=0 due rows pending; last pass finished: 1 request, 3 deleted, 0 failed"
        )),
        "{text:?}"
    );
    assert!(has(&got, "WATCHDOG=1"), "{text:?}");

    // A reload: RELOADING=1 (with the time systemd 253 asks for), then READY=1 again.
    signal(&daemon, "HUP");
    let reload = tokio::task::spawn_blocking({
        let socket = socket.try_clone().unwrap();
        move || {
            collect(&socket, Duration::from_secs(10), |got| {
                has(got, "RELOADING=1") && got.iter().any(|m| m == b"READY=1\n")
            })
        }
    })
    .await
    .unwrap();
    let reload: Vec<String> = reload
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .filter(|m| !m.starts_with("WATCHDOG"))
        .collect();
    assert!(
        reload[0].starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reload:?}"
    );
    assert_eq!(
        reload.last().map(String::as_str),
        Some("READY=1\n"),
        "{reload:?}"
    );

    signal(&daemon, "TERM");
    let stopping = tokio::task::spawn_blocking(move || {
        collect(&socket, Duration::from_secs(10), |got| {
            has(got, "STOPPING=1")
        })
    })
    .await
    .unwrap();
    assert!(has(&stopping, "STOPPING=1"));
    let out = daemon.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!text.concat().contains(KEY));
}

on_both!(a_pass_that_makes_no_progress_stops_the_watchdog_pings);
async fn a_pass_that_makes_no_progress_stops_the_watchdog_pings() {
    let app = spawn_app(&[("api", "timeout = \"30s\""), ("api", "concurrency = 1")]).await;
    app.insert("default", &ids(0, 1000)).await;
    // Five answers, slowly: the pass makes progress for about a second and a half. Then
    // every request hangs.
    app.standin.set_latency(Duration::from_millis(300));
    let ok = r#"{"code":"0000","msg":"success","data":null,"success":true}"#;
    app.standin.script(vec![Script::status(200, ok); 5]);
    app.standin
        .always(Some(Script::Hang(Duration::from_secs(600))));
    let path = app.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();

    let mut cmd = app.command(&["run"]);
    cmd.env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000");
    let mut daemon = cmd.spawn().unwrap();
    // The first request goes out a second after the start (a new sender's wait), then
    // five answers come in 1.5 s.
    let socket1 = socket.try_clone().unwrap();
    let early =
        tokio::task::spawn_blocking(move || collect(&socket1, Duration::from_secs(2), |_| false))
            .await
            .unwrap();
    assert!(
        early.iter().any(|m| m == b"WATCHDOG=1\n"),
        "no ping while the pass made progress"
    );
    app.wait_for_requests(6).await;
    // The sixth request hangs (up to its 30 s timeout): after the watchdog period without
    // progress, no more pings, so systemd would restart the daemon.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let socket2 = socket.try_clone().unwrap();
    tokio::task::spawn_blocking(move || collect(&socket2, Duration::from_millis(300), |_| false))
        .await
        .unwrap();
    let later =
        tokio::task::spawn_blocking(move || collect(&socket, Duration::from_secs(2), |_| false))
            .await
            .unwrap();
    assert!(
        !later.iter().any(|m| m == b"WATCHDOG=1\n"),
        "pinged while the pass was stuck"
    );
    daemon.kill().await.unwrap();
}

/// Splits a journald datagram into its fields (both the `NAME=value` and the
/// length-prefixed forms of the native protocol).
fn fields(datagram: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'=' || b == b'\n')
            .unwrap_or(rest.len());
        let name = String::from_utf8_lossy(&rest[..end]).into_owned();
        if end == rest.len() {
            break;
        }
        if rest[end] == b'=' {
            let value_end = rest[end..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| end + p);
            out.push((
                name,
                String::from_utf8_lossy(&rest[end + 1..value_end]).into_owned(),
            ));
            rest = &rest[(value_end + 1).min(rest.len())..];
        } else {
            let len = u64::from_le_bytes(rest[end + 1..end + 9].try_into().unwrap()) as usize;
            let value = &rest[end + 9..end + 9 + len];
            out.push((name, String::from_utf8_lossy(value).into_owned()));
            rest = &rest[(end + 10 + len).min(rest.len())..];
        }
    }
    out
}

/// SQLite only: the test binds the one journal socket of the machine, and the logging is
/// the same on both backends.
#[tokio::test]
async fn under_systemd_logs_go_to_the_journal_with_fields_and_priorities() {
    let journal_dir = std::path::Path::new("/run/systemd/journal");
    let journal = journal_dir.join("socket");
    if journal.exists() {
        let listening = UnixDatagram::unbound()
            .and_then(|probe| probe.connect(&journal))
            .is_ok();
        assert!(
            !listening,
            "a real journald listens on {}: this test needs it free",
            journal.display()
        );
        // Left by an earlier run that stopped half-way.
        std::fs::remove_file(&journal).unwrap();
    }
    std::fs::create_dir_all(journal_dir).unwrap();
    let socket = UnixDatagram::bind(&journal).unwrap();
    // Removed however the test ends.
    struct Unbind<'a>(&'a std::path::Path);
    impl Drop for Unbind<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _unbind = Unbind(&journal);

    let app = spawn_app(&[]).await;
    let all = ids(0, 2);
    app.insert("tenant-a", &all).await;
    app.standin.reject(&all[1]);
    // stderr is a file whose device and inode JOURNAL_STREAM names, as systemd does it.
    let stderr_path = app.dir.path().join("stderr");
    let stderr_file = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr_file.metadata().unwrap();
    let mut cmd = app.command(&["run", "--once"]);
    cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(stderr_file);
    // Read while the daemon writes: a datagram socket holds only a few unread entries, and
    // a writer facing a full one waits (as it would for a stalled journald).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = std::thread::spawn({
        let socket = socket.try_clone().unwrap();
        let done = done.clone();
        move || {
            let mut quiet_after_end = 0;
            collect(&socket, Duration::from_secs(60), |_| {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    quiet_after_end += 1;
                }
                quiet_after_end > 20
            })
        }
    });
    let out = run(cmd).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let got = reader.join().unwrap();
    assert!(out.status.success());

    let entries: Vec<Vec<(String, String)>> = got
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| fields(d))
        .collect();
    let find = |name: &str, value: &str| {
        entries
            .iter()
            .filter(|e| e.iter().any(|(n, v)| n == name && v == value))
            .collect::<Vec<_>>()
    };
    let field = |e: &Vec<(String, String)>, name: &str| {
        e.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };

    let deleted = find("BATCH_OUTCOME", "deleted");
    assert!(!deleted.is_empty(), "{entries:?}");
    assert_eq!(field(deleted[0], "PRIORITY").as_deref(), Some("6"));
    assert_eq!(
        field(deleted[0], "BATCH_NAMESPACE").as_deref(),
        Some("tenant-a")
    );
    assert_eq!(
        field(deleted[0], "SYSLOG_IDENTIFIER").as_deref(),
        Some("memories-reaper")
    );
    // journalctl's default output shows MESSAGE alone: it must carry the facts itself.
    let message = field(deleted[0], "MESSAGE").unwrap_or_default();
    let batch = field(deleted[0], "BATCH_ID").unwrap_or_default();
    let count = field(deleted[0], "BATCH_COUNT").unwrap_or_default();
    let ids = if count == "1" { "id" } else { "ids" };
    assert!(
        message.starts_with(&format!(
            "batch {batch}: {count} {ids} in namespace tenant-a"
        )) && message.contains("deleted (code 0000)"),
        "{message}"
    );
    let pass = find("DELETED", &count);
    assert!(
        pass.iter().any(|e| field(e, "MESSAGE")
            .unwrap_or_default()
            .contains(&format!("{count} deleted"))),
        "a pass's MESSAGE carries its totals: {entries:?}"
    );
    let failed = find("ROW_STATUS", "failed");
    assert_eq!(failed.len(), 1, "{entries:?}");
    assert_eq!(field(failed[0], "PRIORITY").as_deref(), Some("4"));
    assert_eq!(
        field(failed[0], "VIDEO_NO").as_deref(),
        Some(all[1].as_str())
    );
    assert!(!got.concat().windows(KEY.len()).any(|w| w == KEY.as_bytes()));
    // Nothing went to the stream itself: the journal got it all, once.
    let stream = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!stream.contains("deleted (code 0000)"), "{stream}");
}
