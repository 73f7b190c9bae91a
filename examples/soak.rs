//! The soak: hunts for lost deletions. For a given duration and seed it runs the real
//! daemon binary against the stand-in misbehaving at random, while producers insert rows
//! (several namespaces, duplicates, invalid ids, ids the API rejects), and kills the daemon
//! at random moments (SIGKILL and SIGTERM) and restarts it. Then it drains with the faults
//! off, checks everything below against the database and the stand-in's request log, and
//! prints one summary line; exit 1 with one line per violation.
//!
//! - every valid id inserted was deleted under its own namespace; every invalid or rejected
//!   id is `failed` with a reason; no row is left `pending` or `in_flight`; none was lost;
//! - no request held more than 100 ids or an id twice, went out without the key, went over
//!   the account's rate, or named an id in a namespace it was not queued in;
//! - an id deleted twice only after a response cut by the network, or after a kill -9 cut
//!   a request whose answer was never recorded (at most one such request per kill -9);
//! - SIGTERM always ended in exit 0; the daemon never panicked; its memory stayed flat;
//! - `receipts --verify` passes on the record of it all, before and after a prune.
//!
//! ```sh
//! cargo build --bins --examples
//! target/debug/examples/soak --duration 60s --seed 1
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use tokio::process::{Child, Command};

mod common;
#[allow(dead_code)]
#[path = "../tests/it/support/standin.rs"]
mod standin;

const KEY: &str = "soak-key";
const NAMESPACES: [&str; 4] = ["default", "tenant-a", "tenant-b", "tenant-c"];
/// Ids that `VideoNoRule` refuses: each must end `failed` without being sent.
const INVALID: [&str; 7] = [
    "",
    "   ",
    "VI6064\n0415",
    "vi606404158946574336",
    "PI-606404158946574336",
    "VI60640415894657433x",
    "VI606404158946574336606404158946574336606404158946574336606404158946574336",
];

#[derive(Parser)]
struct Args {
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    duration: Duration,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The share of requests the stand-in answers with a random fault.
    #[arg(long, default_value_t = 0.15)]
    fault_rate: f64,
    /// Ids the producers insert per second, all namespaces together.
    #[arg(long, default_value_t = 40)]
    insert_rate: u32,
    /// The daemon binary; by default the one beside this example's directory.
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Keep the working directory (database, logs) and print where it is.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Valid,
    Invalid,
    Rejected,
}

/// What the producers inserted, row by row.
#[derive(Default)]
struct Inserted {
    rows: Vec<(String, String, Kind)>,
    /// When each (namespace, id) was last inserted, in ms since the epoch, taken before
    /// its transaction began: a duplicate inserted after the id was deleted is sent again
    /// (and answered `0409`), which is not a lost answer.
    last_insert: HashMap<(String, String), u128>,
    /// Indexes in `rows` of valid ids, to draw duplicates from.
    valid: Vec<usize>,
    duplicates: u64,
}

#[derive(Default)]
struct Chaos {
    kills: u64,
    terms: u64,
    starts: u64,
    /// Peak RSS of each incarnation, and its RSS a few seconds in and at its end.
    rss: Vec<(u64, Option<u64>, u64, Duration)>,
    violations: Vec<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match soak(&args).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("soak: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn soak(args: &Args) -> anyhow::Result<bool> {
    let bin = common::daemon_binary(args.bin.clone())?;
    let dir = tempfile::tempdir()?;
    let work = dir.path();
    let standin = standin::Standin::start(KEY, 5).await;
    for namespace in NAMESPACES {
        standin.add_namespace(namespace);
    }
    let log = work.join("requests.jsonl");
    standin.log_to(&log)?;
    standin.set_faults(Some(standin::Faults {
        seed: args.seed.wrapping_add(2),
        rate: args.fault_rate,
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(60),
        hang: Duration::from_secs(3),
    }));
    let db = work.join("queue.db");
    let config = work.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = {:?}\ntimeout = \"1s\"\n\
             [database]\npath = {:?}\n\
             [schedule]\ncron = \"* * * * * *\"\n\
             [retry]\nmax_attempts = 4\ninitial_backoff = \"50ms\"\nmax_backoff = \"1s\"\n\
             [log]\nformat = \"json\"\n",
            standin.base_url(),
            db.display().to_string()
        ),
    )?;
    let status = daemon(&bin, &config, &["migrate"], &work.join("migrate.log"))?
        .wait()
        .await?;
    anyhow::ensure!(status.success(), "migrate failed: see {}", work.display());
    let pool = common::producer_pool(&db).await?;

    let started = Instant::now();
    let deadline = started + args.duration;
    let producers = tokio::spawn(produce(
        pool.clone(),
        standin.clone(),
        args.seed.wrapping_add(1),
        args.insert_rate,
        deadline,
    ));
    let chaos = chaos(&bin, &config, work, args.seed, deadline).await;
    let inserted = producers.await??;

    // Drain, the API behaving again: passes until nothing is pending or in flight (rows
    // held by a killed daemon come back when their lease, 4 s here, expires).
    standin.set_faults(None);
    let drain_started = Instant::now();
    let mut drains = 0;
    while left(&pool).await? > 0 && drain_started.elapsed() < Duration::from_secs(300) {
        drains += 1;
        let log = work.join(format!("drain-{drains}.log"));
        daemon(&bin, &config, &["run", "--once"], &log)?
            .wait()
            .await?;
        if left(&pool).await? > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    let requests: Vec<standin::LogLine> = std::fs::read_to_string(&log)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<standin::LogLine>, _>>()?
        .into_iter()
        // The deletions; the lookups' own quota is the stand-in's to enforce (0429).
        .filter(|r| !r.path.contains("/list_"))
        .collect();
    let mut violations = chaos.violations.clone();
    // The record of it all, kills and restarts included, still verifies; and again after
    // a prune (which, an hour being its shortest cutoff, removes nothing here: the unit
    // tests prune for real).
    for args in [
        &["receipts", "--verify"][..],
        &["prune", "--older-than", "1h"],
        &["receipts", "--verify"],
    ] {
        let out = std::process::Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()?;
        if !out.status.success() {
            violations.push(format!(
                "{}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let rows = check_rows(&pool, &inserted, &requests, &mut violations).await?;
    let sends = check_requests(&inserted, &requests, chaos.kills, &mut violations);
    let memory = check_memory(&chaos, &mut violations);
    check_logs(work, &mut violations)?;

    let faults = requests.iter().filter(|r| r.fault.is_some()).count();
    let ok = violations.is_empty();
    for v in &violations {
        println!("violation: {v}");
    }
    println!(
        "soak seed={} duration={}: inserted {} rows ({} duplicates, {} invalid, {} rejected) · \
         {} requests ({faults} faulty) · {} starts, {} kill -9, {} SIGTERM · {rows} · {sends} · \
         {memory} · drained in {:.1}s · {}",
        args.seed,
        humantime::format_duration(args.duration),
        inserted.rows.len(),
        inserted.duplicates,
        inserted
            .rows
            .iter()
            .filter(|r| r.2 == Kind::Invalid)
            .count(),
        inserted
            .rows
            .iter()
            .filter(|r| r.2 == Kind::Rejected)
            .count(),
        requests.len(),
        chaos.starts,
        chaos.kills,
        chaos.terms,
        drain_started.elapsed().as_secs_f64(),
        if ok { "OK" } else { "FAILED" }
    );
    if args.keep || !ok {
        let kept = dir.keep();
        println!("soak: database and logs kept in {}", kept.display());
    }
    Ok(ok)
}

fn daemon(bin: &Path, config: &Path, args: &[&str], log: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(log)?;
    Ok(Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MEMORIES_API_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?)
}

/// Rows not yet settled.
async fn left(pool: &SqlitePool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM deletion_queue WHERE status IN ('pending', 'in_flight')",
    )
    .fetch_one(pool)
    .await?)
}

/// Inserts as producers do, ten times a second, in transactions of a few to a few dozen
/// rows, until the deadline.
async fn produce(
    pool: SqlitePool,
    standin: standin::Standin,
    seed: u64,
    rate: u32,
    deadline: Instant,
) -> anyhow::Result<Inserted> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut inserted = Inserted::default();
    let mut next_no = 606_404_158_946_574_336u64 + seed % 1_000 * 1_000_000_000;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while Instant::now() < deadline {
        tick.tick().await;
        let n = rng.random_range(0..=(rate / 5).max(1));
        let mut rows = Vec::new();
        let at_ms = epoch_ms();
        for _ in 0..n {
            let namespace = NAMESPACES[rng.random_range(0..NAMESPACES.len())].to_owned();
            let roll = rng.random::<f64>();
            let row = if roll < 0.005 {
                let id = INVALID[rng.random_range(0..INVALID.len())].to_owned();
                (namespace, id, Kind::Invalid)
            } else if roll < 0.01 {
                next_no += 1;
                let id = format!("VI{next_no}");
                standin.reject(&id);
                (namespace, id, Kind::Rejected)
            } else if roll < 0.06 && !inserted.valid.is_empty() {
                inserted.duplicates += 1;
                let earlier = inserted.valid[rng.random_range(0..inserted.valid.len())];
                inserted.rows[earlier].clone()
            } else {
                next_no += 1;
                (namespace, format!("VI{next_no}"), Kind::Valid)
            };
            if row.2 == Kind::Valid {
                inserted.valid.push(inserted.rows.len());
            }
            inserted
                .last_insert
                .insert((row.0.clone(), row.1.clone()), at_ms);
            inserted.rows.push(row.clone());
            rows.push(row);
        }
        let mut tx = pool.begin().await?;
        for (namespace, id, _) in &rows {
            sqlx::query("INSERT INTO deletion_queue (video_no, unique_id) VALUES (?1, ?2)")
                .bind(id)
                .bind(namespace)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(inserted)
}

/// Runs the daemon until the deadline, killing it (SIGKILL or SIGTERM, evenly) after 1 to
/// 12 seconds of life and restarting it, and samples its memory.
async fn chaos(bin: &Path, config: &Path, work: &Path, seed: u64, deadline: Instant) -> Chaos {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chaos = Chaos::default();
    while Instant::now() < deadline {
        chaos.starts += 1;
        let log = work.join(format!("daemon-{}.log", chaos.starts));
        let mut child = match daemon(bin, config, &["run"], &log) {
            Ok(child) => child,
            Err(e) => {
                chaos
                    .violations
                    .push(format!("cannot start the daemon: {e}"));
                return chaos;
            }
        };
        let Some(pid) = child.id() else {
            chaos.violations.push("the daemon has no pid".into());
            return chaos;
        };
        let born = Instant::now();
        let life = Duration::from_millis(rng.random_range(1_000..12_000));
        let (mut peak, mut early, mut last) = (0, None, 0);
        while born.elapsed() < life && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Ok(Some(status)) = child.try_wait() {
                chaos.violations.push(format!(
                    "daemon #{} exited on its own ({status}): see {}",
                    chaos.starts,
                    log.display()
                ));
                break;
            }
            if let Some(rss) = common::memory_kib(pid, "VmRSS:") {
                peak = peak.max(rss);
                last = rss;
                if early.is_none() && born.elapsed() >= Duration::from_secs(3) {
                    early = Some(rss);
                }
            }
        }
        chaos.rss.push((peak, early, last, born.elapsed()));
        let term = rng.random_bool(0.5);
        let signal = if term { "TERM" } else { "KILL" };
        let _ = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) if term => {
                chaos.terms += 1;
                if status.code() != Some(0) {
                    chaos.violations.push(format!(
                        "daemon #{} ended {status} on SIGTERM, not 0: see {}",
                        chaos.starts,
                        log.display()
                    ));
                }
            }
            Ok(_) => chaos.kills += u64::from(!term),
            Err(_) => {
                chaos.violations.push(format!(
                    "daemon #{} still running 10 s after SIG{signal}",
                    chaos.starts
                ));
                let _ = child.kill().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
    }
    chaos
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Every row settled as its kind says, none lost.
async fn check_rows(
    pool: &SqlitePool,
    inserted: &Inserted,
    requests: &[standin::LogLine],
    violations: &mut Vec<String>,
) -> anyhow::Result<String> {
    let rows = sqlx::query("SELECT video_no, unique_id, status, last_error FROM deletion_queue")
        .fetch_all(pool)
        .await?;
    if rows.len() != inserted.rows.len() {
        violations.push(format!(
            "{} rows inserted, {} in the queue",
            inserted.rows.len(),
            rows.len()
        ));
    }
    let kinds: HashMap<(&str, &str), Kind> = inserted
        .rows
        .iter()
        .map(|(ns, id, kind)| ((ns.as_str(), id.as_str()), *kind))
        .collect();
    let applied: HashSet<(&str, &str)> = requests
        .iter()
        .filter(|r| r.applied)
        .flat_map(|r| r.ids.iter().map(|id| (r.namespace.as_str(), id.as_str())))
        .collect();
    let (mut deleted, mut failed) = (0, 0);
    for row in &rows {
        let id: String = row.get("video_no");
        let namespace: String = row.get("unique_id");
        let status: String = row.get("status");
        let last_error: Option<String> = row.get("last_error");
        let key = (namespace.as_str(), id.as_str());
        let expected = match kinds.get(&key) {
            Some(Kind::Valid) => "deleted",
            Some(Kind::Invalid | Kind::Rejected) => "failed",
            None => {
                violations.push(format!("row {id:?} in {namespace} was never inserted"));
                continue;
            }
        };
        match status.as_str() {
            "deleted" => deleted += 1,
            "failed" => failed += 1,
            _ => {}
        }
        if status != expected {
            violations.push(format!(
                "{id:?} in {namespace} is {status}, not {expected} (last error: {last_error:?})"
            ));
        } else if expected == "deleted" && !applied.contains(&key) {
            violations.push(format!(
                "{id:?} is deleted but the API never deleted it in {namespace}"
            ));
        } else if expected == "failed" && last_error.as_deref().unwrap_or("").is_empty() {
            violations.push(format!("{id:?} in {namespace} failed without a reason"));
        }
    }
    Ok(format!("{deleted} rows deleted, {failed} failed"))
}

/// Each request within the API's rules; ids deleted twice only where a cut explains it.
fn check_requests(
    inserted: &Inserted,
    requests: &[standin::LogLine],
    kills: u64,
    violations: &mut Vec<String>,
) -> String {
    let queued: HashSet<(&str, &str)> = inserted
        .rows
        .iter()
        .filter(|r| r.2 != Kind::Invalid)
        .map(|(ns, id, _)| (ns.as_str(), id.as_str()))
        .collect();
    let invalid: HashSet<&str> = inserted
        .rows
        .iter()
        .filter(|r| r.2 == Kind::Invalid)
        .map(|r| r.1.as_str())
        .collect();
    // (namespace, id) → the request that deleted it.
    let mut deleted_by: HashMap<(&str, &str), usize> = HashMap::new();
    let (mut after_cut, mut late_duplicates, mut after_kill) = (0, 0, HashSet::new());
    for (i, r) in requests.iter().enumerate() {
        let distinct: HashSet<&String> = r.ids.iter().collect();
        if r.ids.len() > 100 || distinct.len() != r.ids.len() {
            violations.push(format!(
                "request {i}: {} ids, {} distinct",
                r.ids.len(),
                distinct.len()
            ));
        }
        if !r.authorized {
            violations.push(format!("request {i} went out without the key"));
        }
        if r.over_limit {
            violations.push(format!("request {i} went over the account's 5 requests/s"));
        }
        for id in &r.ids {
            let key = (r.namespace.as_str(), id.as_str());
            if invalid.contains(id.as_str()) && !queued.contains(&key) {
                violations.push(format!("request {i} sent the invalid id {id:?}"));
            } else if !queued.contains(&key) {
                violations.push(format!(
                    "request {i} sent {id} in {}, where it was not queued",
                    r.namespace
                ));
            }
            let late = |first: usize| {
                inserted
                    .last_insert
                    .get(&(key.0.to_owned(), key.1.to_owned()))
                    .is_some_and(|at| *at > requests[first].at_ms)
            };
            match deleted_by.get(&key) {
                Some(&first) if late(first) => late_duplicates += 1,
                Some(&first) if requests[first].delivered => {
                    after_kill.insert(first);
                }
                Some(_) => after_cut += 1,
                None if r.applied => {
                    deleted_by.insert(key, i);
                }
                None => {}
            }
        }
    }
    // A kill -9 cuts at most the one request in flight, whose answer is then never recorded.
    if after_kill.len() as u64 > kills {
        violations.push(format!(
            "{} requests whose answer was delivered had their ids sent again, with only {kills} kill -9",
            after_kill.len()
        ));
    }
    format!(
        "ids sent again: {after_cut} after cut responses, {late_duplicates} queued again after \
         deletion, from {} requests cut by kill -9",
        after_kill.len()
    )
}

/// The daemon's memory does not grow with time: in every incarnation that lived long
/// enough, its RSS at the end is within 25% (plus 4 MiB of slack) of its RSS 3 s in.
fn check_memory(chaos: &Chaos, violations: &mut Vec<String>) -> String {
    let peak = chaos.rss.iter().map(|r| r.0).max().unwrap_or(0);
    let mut growth = 0i64;
    for (i, (_, early, last, lived)) in chaos.rss.iter().enumerate() {
        let Some(early) = early else { continue };
        growth = growth.max(*last as i64 - *early as i64);
        if *last > early + early / 4 + 4096 {
            violations.push(format!(
                "daemon #{} grew from {early} KiB to {last} KiB in {lived:?}",
                i + 1
            ));
        }
    }
    format!(
        "peak RSS {:.1} MiB, largest growth {growth} KiB",
        peak as f64 / 1024.0
    )
}

fn check_logs(work: &Path, violations: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(work)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path)?;
            if text.contains("panicked") {
                violations.push(format!("a panic in {}", path.display()));
            }
            if text.contains(KEY) {
                violations.push(format!("the key in {}", path.display()));
            }
        }
    }
    Ok(())
}
