//! The benchmark: how close the daemon runs to the account's ceiling of 5 requests of
//! 100 ids a second (500 ids/s), beside the shell-script way of doing it, and what it
//! costs locally. Starts the stand-in in this process, runs the real binary against it,
//! and prints a table (BENCHMARKS.md holds one from this machine).
//!
//! ```sh
//! cargo build --release --bin memories-reaper --example bench
//! target/release/examples/bench                  # the full run, about 26 minutes
//! target/release/examples/bench --squeeze-only   # the squeezed-quota table alone
//! target/release/examples/bench --verify-only    # looking first, on and off
//! target/release/examples/bench --receipts-only  # receipts of 10,000 and 1,000,000 rows
//! target/release/examples/bench --rules-only     # a rule listing 50,000 videos, about 12 minutes
//! target/release/examples/bench --local-only     # the local settle rate, peak memory, the claims' cost
//! target/release/examples/bench --quick    # the smoke check CI runs: small sizes
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::process::Command;

use memories_reaper::config::Database;
use memories_reaper::pass::Store;
use memories_reaper::queue::Queue;

mod common;
#[allow(dead_code)]
#[path = "../tests/it/support/standin.rs"]
mod standin;

const KEY: &str = "bench-key";
/// The ceiling: 5 requests a second of 100 ids.
const CEILING: f64 = 500.0;

/// A step that visits each of `0..n` once, modulo `n` (it shares no factor with `n`), and
/// lands far from the last (near the golden ratio of `n`): the next row's video is on
/// another page of the index.
fn shuffle_step(n: i64) -> i64 {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let mut step = ((n as f64 * 0.618) as i64).max(1);
    while gcd(step, n) != 1 {
        step += 1;
    }
    step
}

#[derive(Parser)]
struct Args {
    /// Small sizes, for a smoke check: it must finish, not meet a number.
    #[arg(long)]
    quick: bool,
    /// The daemon binary; by default the one beside this example's directory.
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Only the squeezed-quota section (about two minutes).
    #[arg(long)]
    squeeze_only: bool,
    /// Only the looking-first section (about two minutes).
    #[arg(long)]
    verify_only: bool,
    /// Only the full-speed table: warm and cold drains at 1 s and 300 ms, verification
    /// on and off, both quotas held (about three minutes).
    #[arg(long)]
    speed_only: bool,
    /// Only the receipts figures (about a minute).
    #[arg(long)]
    receipts_only: bool,
    /// Only the lifecycle rules' section (about 12 minutes).
    #[arg(long)]
    rules_only: bool,
    /// Only the local settle rate, the peak memory and the claims' cost (also over one
    /// video's many rows; about five minutes): the figures a change to the queue must not
    /// worsen.
    #[arg(long)]
    local_only: bool,
    /// Another memories-reaper binary to measure the local settle rate beside, in the same
    /// run (alternating): the 0.1.0 release, built with `git worktree add ../v010 33af72a
    /// && (cd ../v010 && cargo build --release)`. It runs without lookups (it has none).
    #[arg(long, value_name = "BINARY")]
    against: Option<PathBuf>,
}

struct Bench {
    bin: PathBuf,
    dir: tempfile::TempDir,
    runs: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = bench(args).await {
        eprintln!("bench: {e:#}");
        std::process::exit(1);
    }
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let bin = common::daemon_binary(args.bin)?;
    let mut b = Bench {
        bin,
        dir: tempfile::tempdir()?,
        runs: 0,
    };
    let q = |full: usize, quick: usize| if args.quick { quick } else { full };
    if args.squeeze_only {
        return squeeze_section(&mut b, q(6_000, 600)).await;
    }
    if args.receipts_only {
        println!("| measure | figure |");
        println!("|---|---|");
        return receipts_rows(&mut b, q(1_000_000, 100_000)).await;
    }
    if args.verify_only {
        return verify_section(&mut b, q(20_000, 600)).await;
    }
    if args.speed_only {
        return speed_section(&mut b, q(6_000, 600)).await;
    }
    if args.rules_only {
        return rules_section(&mut b, q(50_000, 2_000), q(20_000, 600)).await;
    }
    if args.local_only {
        println!("| measure | figure |");
        println!("|---|---|");
        let against = args.against.as_deref();
        let (settle, most, dups) = (q(200_000, 20_000), q(1_000_000, 100_000), q(10_000, 2_000));
        return local_rows(&mut b, settle, most, dups, against).await;
    }

    println!(
        "## At the ceiling: stand-in allowing 5 requests/s, drain of {} ids",
        q(20_000, 2_000)
    );
    println!();
    println!(
        "| API latency | how | ids/s over the drain | % of 500 | after the first answer | % of 500 | wall time | 0429 answers |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for latency in [0, 300, 1000] {
        let latency = Duration::from_millis(latency);
        let drain = b.drain(q(20_000, 2_000), latency, 5, &[]).await?;
        ceiling_row(latency, "memories-reaper", &drain);
        let ids = if latency.is_zero() {
            q(20_000, 500)
        } else {
            q(3_000, 300)
        };
        let baseline = b.baseline(ids, latency).await?;
        let how = format!("shell script (sqlite3 + curl), {ids} ids");
        ceiling_row(latency, &how, &baseline);
    }

    println!();
    let warm_ids = q(6_000, 600);
    println!(
        "## Starting warm: {warm_ids} ids at 1 s latency, cold (a new database: one probe request first) and warm (a pass answered 0000 a moment before: no probe)"
    );
    println!();
    println!(
        "| API latency | how | ids/s over the drain | % of 500 | after the first answer | % of 500 | wall time | 0429 answers |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let second = Duration::from_secs(1);
    let cold = b.drain(warm_ids, second, 5, &[]).await?;
    ceiling_row(second, "memories-reaper, cold", &cold);
    let warm = b.drain_warm(warm_ids, second, &[]).await?;
    ceiling_row(second, "memories-reaper, warm", &warm);

    println!();
    let (fall, rise) = if args.quick { (3, 8) } else { (10, 30) };
    println!(
        "## A shared quota: the stand-in takes 5 requests/s, then 2 from {fall} s, then 5 again from {rise} s"
    );
    println!();
    let drain = b.shared_quota(q(25_000, 4_000), fall, rise).await?;
    println!("| seconds | requests/s answered 0000 | 0429 answers |");
    println!("|---|---|---|");
    for (i, (ok, too_many)) in drain.iter().enumerate() {
        println!(
            "| {}–{} | {:.1} | {too_many} |",
            i * 2,
            i * 2 + 2,
            *ok as f64 / 2.0
        );
    }

    println!();
    squeeze_section(&mut b, q(6_000, 600)).await?;

    println!();
    verify_section(&mut b, q(20_000, 600)).await?;

    println!();
    speed_section(&mut b, q(6_000, 600)).await?;

    println!();
    println!(
        "## Local cost (stand-in without a limit, requests_per_second = 1000 for deletions and lookups, concurrency = 16)"
    );
    println!();
    println!("| measure | figure |");
    println!("|---|---|");
    let (settle, most, dups) = (q(200_000, 20_000), q(1_000_000, 100_000), q(10_000, 2_000));
    local_rows(&mut b, settle, most, dups, args.against.as_deref()).await?;
    let idle = b.idle_cpu(Duration::from_secs(q(10, 3) as u64)).await?;
    // /proc counts CPU time in clock ticks of 10 ms.
    let idle = if idle < 10.0 {
        "under 10 ms (less than one clock tick)".to_owned()
    } else {
        format!("{idle:.0} ms")
    };
    println!("| CPU while idle between ticks, {} s | {idle} |", q(10, 3));
    receipts_rows(&mut b, q(1_000_000, 100_000)).await?;
    let (n, took) = b.enqueue(q(1_000_000, 100_000)).await?;
    println!(
        "| `enqueue` of {n} ids from a file | {:.1} s ({:.0} ids/s) |",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    println!();
    rules_section(&mut b, q(50_000, 2_000), q(20_000, 600)).await
}

/// Rows of the local-cost table: `receipts` of 10,000 and of `large` settled rows (the
/// same memory at both: it streams).
async fn receipts_rows(b: &mut Bench, large: usize) -> anyhow::Result<()> {
    for n in [10_000, large] {
        let (took, peak) = b.receipts(n).await?;
        println!(
            "| `receipts` of {n} settled rows to a file | {:.1} s ({:.0} rows/s), peak memory {:.1} MiB |",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            peak as f64 / 1024.0
        );
    }
    Ok(())
}

/// `[verify] before` on and off at 300 ms of latency: the lookups have their own quota of
/// 5 a second, and must cost the deletions nothing.
async fn verify_section(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    let latency = Duration::from_millis(300);
    println!("## Looking first: {n} ids at 300 ms latency, lookups on their own 5/s quota");
    println!();
    println!(
        "| verify.before | deletions: ids/s over the drain | % of 500 | after the first answer | % of 500 | lookups | lookups/s | 0429 answers (deletions) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for before in [false, true] {
        let setting = format!("before = {before}");
        let drain = b.drain(n, latency, 5, &[("verify", &setting)]).await?;
        println!(
            "| {before} | {:.0} | {:.1}% | {:.0} | {:.1}% | {} | {:.1} | {} |",
            drain.sustained,
            drain.sustained / CEILING * 100.0,
            drain.steady,
            drain.steady / CEILING * 100.0,
            drain.lookups,
            drain.lookups as f64 / drain.wall.as_secs_f64(),
            drain.too_many
        );
    }
    Ok(())
}

/// The shipped defaults against both documented quotas (5 deletions and 5 lookups a
/// second, held by the stand-in): warm and cold drains, at 1 s and 300 ms (and warm at 2 s
/// and 3 s, where more than 8 requests must be in flight), looking first (the default)
/// and not.
async fn speed_section(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    println!(
        "## Full speed with the defaults: {n} ids, the stand-in holding 5 deletions and 5 lookups a second"
    );
    println!();
    println!(
        "| API latency | start | verify.before | ids/s over the drain | % of 500 | after the first answer | % of 500 | lookups/s | 0429 (deletions) | 0429 (lookups) | most in flight |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (latency, warm) in [
        (1000, true),
        (300, true),
        (1000, false),
        (2000, true),
        (3000, true),
    ] {
        for before in [true, false] {
            let latency = Duration::from_millis(latency);
            let setting = format!("before = {before}");
            let extra = [("verify", setting.as_str())];
            let drain = match warm {
                true => b.drain_warm(n, latency, &extra).await?,
                false => b.drain(n, latency, 5, &extra).await?,
            };
            println!(
                "| {} ms | {} | {before} | {:.0} | {:.1}% | {:.0} | {:.1}% | {:.1} | {} | {} | {} |",
                latency.as_millis(),
                if warm { "warm" } else { "cold" },
                drain.sustained,
                drain.sustained / CEILING * 100.0,
                drain.steady,
                drain.steady / CEILING * 100.0,
                drain.lookups as f64 / drain.wall.as_secs_f64(),
                drain.too_many,
                drain.lookups_too_many,
                drain.in_flight,
            );
        }
    }
    Ok(())
}

/// A lifecycle rule listing `videos` videos in 20 namespaces at its default share (1
/// listing request a second), alone and beside a drain of `drain` other ids with
/// verification on, at 300 ms latency, against the documented quotas (5 deletions and 5
/// lookups a second).
async fn rules_section(b: &mut Bench, videos: usize, drain: usize) -> anyhow::Result<()> {
    println!(
        "## Lifecycle rules: a rule listing {videos} videos in 20 namespaces (rules.lookup_share = 1), 300 ms latency, 5 deletions and 5 lookups a second allowed"
    );
    println!();
    println!(
        "| run | listing requests | listing time | listing requests/s | most in any second | lookups answered 0429 | deletions: ids/s over the drain | % of 500 | deletions answered 0429 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut series = Vec::new();
    for beside in [0, drain] {
        let run = b.rule_listing(videos, beside).await?;
        let how = match beside {
            0 => "listing alone".to_owned(),
            n => format!("listing beside a drain of {n} ids, verify.before on"),
        };
        let (rate, pct, too_many) = match &run.drain {
            Some(d) => (
                format!("{:.0}", d.sustained),
                format!("{:.1}%", d.sustained / CEILING * 100.0),
                d.too_many.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {how} | {} | {:.0} s | {:.2} | {} | {} | {rate} | {pct} | {too_many} |",
            run.listing,
            run.listing_time.as_secs_f64(),
            run.listing as f64 / run.listing_time.as_secs_f64().max(0.001),
            run.busiest_second,
            run.lookups_too_many,
        );
        if beside > 0 {
            series = run.series;
        }
    }
    println!();
    println!("### Over time, beside the drain (10 s buckets)");
    println!();
    println!("| seconds | deleted ids/s | listing requests/s | verification lookups/s |");
    println!("|---|---|---|---|");
    for (i, (deleted, listing, verifying)) in series.iter().enumerate() {
        println!(
            "| {}–{} | {:.0} | {:.2} | {:.2} |",
            i * 10,
            (i + 1) * 10,
            *deleted as f64 / 10.0,
            *listing as f64 / 10.0,
            *verifying as f64 / 10.0
        );
    }
    Ok(())
}

/// The local settle rate (`settle` ids against an unlimited stand-in), the peak memory of
/// that drain and of one of `most` rows, one claim's cost at 10,000 and `most` pending
/// rows, with the claim's plan, and the claims over `dups` rows of one video.
async fn local_rows(
    b: &mut Bench,
    settle: usize,
    most: usize,
    dups: usize,
    against: Option<&Path>,
) -> anyhow::Result<()> {
    let unlimited = [
        ("api", "requests_per_second = 1000"),
        ("api", "concurrency = 16"),
        ("lookup", "requests_per_second = 1000"),
    ];
    if let Some(other) = against {
        side_by_side(b, settle, other).await?;
    }
    let drain = b
        .drain(settle, Duration::ZERO, 1_000_000, &unlimited)
        .await?;
    println!(
        "| ids settled a second (claim, send, record), {settle} ids | {:.0} ({:.1}× the ceiling) |",
        drain.sustained,
        drain.sustained / CEILING
    );
    let most_drained = b.drain(most, Duration::ZERO, 1_000_000, &unlimited).await?;
    for (n, drained) in [(settle, &drain), (most, &most_drained)] {
        println!(
            "| peak memory draining {n} rows, verify.before on | {:.1} MiB |",
            drained.peak_rss_kib as f64 / 1024.0
        );
    }
    for n in [10_000, most] {
        let (claim, plan) = b.claim_time(n).await?;
        println!(
            "| one claim of 100 at {n} pending rows | {:.2} ms |",
            claim.as_secs_f64() * 1000.0
        );
        if n == 10_000 {
            println!("| the claim's query plan | {} |", plan.join("; "));
        }
    }
    let (first, longest, claims) = b.duplicate_claims(dups).await?;
    println!(
        "| {dups} queued rows of one video: the first claim (100 rows + 1,000 duplicates) | {:.1} ms |",
        first.as_secs_f64() * 1000.0
    );
    println!(
        "| the same: the longest of the {claims} claims that settle the rest from its deletion | {:.1} ms |",
        longest.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The local settle rate of this build (looking first, the default, and not) beside
/// `other`'s (without lookups, which the 0.1.0 release did not have), in turns, three
/// runs each; the means, their ratio, and each one's peak memory.
async fn side_by_side(b: &mut Bench, n: usize, other: &Path) -> anyhow::Result<()> {
    let mut runs: [Vec<Drain>; 3] = Default::default();
    let unlimited = [
        ("api", "requests_per_second = 1000"),
        ("api", "concurrency = 16"),
    ];
    for _ in 0..3 {
        let looking = [&unlimited[..], &[("lookup", "requests_per_second = 1000")]].concat();
        runs[0].push(b.drain(n, Duration::ZERO, 1_000_000, &looking).await?);
        let blind = [&looking[..], &[("verify", "before = false")]].concat();
        runs[1].push(b.drain(n, Duration::ZERO, 1_000_000, &blind).await?);
        let this = std::mem::replace(&mut b.bin, other.to_owned());
        let theirs = b.drain(n, Duration::ZERO, 1_000_000, &unlimited).await;
        b.bin = this;
        runs[2].push(theirs?);
    }
    let mean =
        |drains: &[Drain]| drains.iter().map(|d| d.sustained).sum::<f64>() / drains.len() as f64;
    let peak =
        |drains: &[Drain]| drains.iter().map(|d| d.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let theirs = mean(&runs[2]);
    for (how, drains) in [
        ("this build, verify.before on (the default)", &runs[0]),
        ("this build, verify.before off", &runs[1]),
        (&*format!("{} (no lookups)", other.display()), &runs[2]),
    ] {
        let each: Vec<String> = drains
            .iter()
            .map(|d| format!("{:.0}", d.sustained))
            .collect();
        println!(
            "| ids settled a second, {n} ids: {how} | {:.0} ({}; {:.2}× the other binary's), peak memory {:.1} MiB |",
            mean(drains),
            each.join(", "),
            mean(drains) / theirs,
            peak(drains)
        );
    }
    Ok(())
}

/// Someone else uses all but 1 request a second of the account's quota; leases are short
/// (`api.timeout = "1s"`). Before the claim's guard, workers waiting for their rate turn
/// lost their claims and the same ids were deleted thousands of times over.
async fn squeeze_section(b: &mut Bench, n: usize) -> anyhow::Result<()> {
    println!("## A squeezed quota: the stand-in takes 1 request/s, api.timeout = 1s, {n} ids");
    println!();
    println!("| daemons | requests | 0429 answers | % of requests | ids deleted more than once | wall time |");
    println!("|---|---|---|---|---|---|");
    for daemons in [1, 2] {
        let (received, wall) = b.squeeze(n, daemons).await?;
        let too_many = received.iter().filter(|r| r.answered == "0429").count();
        let mut times = std::collections::HashMap::new();
        for r in received.iter().filter(|r| r.answered == "0000") {
            for id in &r.ids {
                *times.entry(id.clone()).or_insert(0) += 1;
            }
        }
        let twice = times.values().filter(|n| **n > 1).count();
        anyhow::ensure!(times.len() == n, "{} of {n} ids deleted", times.len());
        println!(
            "| {daemons} | {} | {too_many} | {:.1}% | {twice} | {:.0} s |",
            received.len(),
            too_many as f64 * 100.0 / received.len().max(1) as f64,
            wall.as_secs_f64()
        );
    }
    Ok(())
}

fn too_many_lookups(standin: &standin::Standin) -> usize {
    let lookups = standin.lookups();
    lookups.iter().filter(|l| l.answered == "0429").count()
}

fn ceiling_row(latency: Duration, how: &str, drain: &Drain) {
    println!(
        "| {} ms | {how} | {:.0} | {:.1}% | {:.0} | {:.1}% | {:.1} s | {} |",
        latency.as_millis(),
        drain.sustained,
        drain.sustained / CEILING * 100.0,
        drain.steady,
        drain.steady / CEILING * 100.0,
        drain.wall.as_secs_f64(),
        drain.too_many
    );
}

struct Drain {
    /// Ids a second over the drain: from the first request out to one second after the
    /// last, the span in which 5 requests a second could have carried them. 500 is the
    /// ceiling; without a limit (local cost), from the first request to the last answer.
    sustained: f64,
    /// The same from the first answer on: the daemon sends one request first and the
    /// others once it is answered, so this leaves out that first round trip.
    steady: f64,
    wall: Duration,
    too_many: usize,
    /// The most deletion requests at the stand-in at once (each there for the latency).
    in_flight: usize,
    peak_rss_kib: u64,
    /// Lookups the stand-in answered (`[verify] before`), and of them `0429`.
    lookups: usize,
    lookups_too_many: usize,
}

/// One run of a rule's listing (`Bench::rule_listing`).
struct RuleRun {
    /// Whole-namespace `list_videos` requests, and from the first to the last.
    listing: usize,
    listing_time: Duration,
    /// The most listing requests in any rolling second.
    busiest_second: usize,
    lookups_too_many: usize,
    drain: Option<Drain>,
    /// Per 10 s from the daemon's start: (ids deleted, listing requests, verification
    /// lookups).
    series: Vec<(usize, usize, usize)>,
}

impl Bench {
    /// A fresh database holding `n` pending rows, and a config pointing at `base_url`.
    async fn setup(
        &mut self,
        n: usize,
        base_url: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<(PathBuf, PathBuf)> {
        self.runs += 1;
        let run = self.dir.path().join(format!("run-{}", self.runs));
        std::fs::create_dir_all(&run)?;
        let db = run.join("queue.db");
        let config = run.join("config.toml");
        let mut api = format!("base_url = {base_url:?}\n");
        if !extra.iter().any(|(_, line)| line.starts_with("timeout")) {
            api.push_str("timeout = \"10s\"\n");
        }
        let mut others = String::new();
        for (table, line) in extra {
            match *table {
                "api" => api.push_str(&format!("{line}\n")),
                table => others.push_str(&format!("[{table}]\n{line}\n")),
            }
        }
        std::fs::write(
            &config,
            format!(
                "[api]\n{api}[database]\npath = {:?}\n[schedule]\ncron = \"0 0 1 1 *\"\n\
                 [retry]\nmax_attempts = 10\ninitial_backoff = \"100ms\"\nmax_backoff = \"2s\"\n{others}",
                db.display().to_string()
            ),
        )?;
        let status = self.command(&config, &["migrate"]).status().await?;
        anyhow::ensure!(status.success(), "migrate failed");
        if n > 0 {
            let pool = common::producer_pool(&db).await?;
            // The numbers 1..=n of the drain, queued in no order, as a queue holds them
            // unless its producer sorts them (in order, an index of videos is written a
            // page at a time, and a cost that grows with the pages touched hides: it did).
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO deletion_queue (video_no)
                 SELECT printf('VI%018d', 606404158946574336 + 1 + (i * ?2) % ?1) FROM n",
            )
            .bind(n as i64)
            .bind(shuffle_step(n as i64))
            .execute(&pool)
            .await?;
            pool.close().await;
        }
        Ok((db, config))
    }

    fn command(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(config)
            .args(args)
            .env("MEMORIES_API_KEY", KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// `run --once` over `n` rows against a stand-in answering after `latency` and taking
    /// `per_second` requests a second.
    async fn drain(
        &mut self,
        n: usize,
        latency: Duration,
        per_second: usize,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Drain> {
        let standin = standin::Standin::start(KEY, per_second).await;
        standin.set_latency(latency);
        // Lookups have a quota of their own, 5 a second; unlimited with the deletions.
        standin.set_lookup_per_second(per_second.max(5));
        let (_, config) = self.setup(n, &standin.base_url(), extra).await?;
        let started = Instant::now();
        let child = self.command(&config, &["run", "--once"]).spawn()?;
        let peak_rss_kib = watch_rss(child).await?;
        let wall = started.elapsed();
        Ok(Drain {
            lookups: standin.lookups().len(),
            lookups_too_many: too_many_lookups(&standin),
            ..summarize(
                &standin.received(),
                per_second <= 5,
                latency,
                wall,
                peak_rss_kib,
            )
        })
    }

    /// The daemon with one rule in report mode over every namespace of a catalogue of
    /// `videos` (20 namespaces, ages 0 to 399 days), and `drain` due rows: until the rule's
    /// listing is done and the rows are deleted.
    async fn rule_listing(&mut self, videos: usize, drain: usize) -> anyhow::Result<RuleRun> {
        let latency = Duration::from_millis(300);
        let standin = standin::Standin::start(KEY, 5).await;
        standin.set_latency(latency);
        standin.set_lookup_per_second(5);
        let now = chrono::Utc::now().timestamp_millis();
        let namespaces: Vec<String> = (0..20).map(|i| format!("ns-{i:02}")).collect();
        let mut catalogue =
            standin::varied_catalogue(&namespaces, videos, 800_000_000_000_000_000, now);
        catalogue.extend((1..=drain).map(|i| {
            (
                (
                    "default".to_owned(),
                    format!("VI{:018}", 606404158946574336u64 + i as u64),
                ),
                standin::Meta::default(),
            )
        }));
        standin.set_catalogue_with(catalogue);
        let rule = "name = \"bench\"\nall_namespaces = true\nolder_than = \"180d\"\n\
                    schedule = \"* * * * * *\"\nstop_above = 1000000";
        let (db, config) = self
            .setup(drain, &standin.base_url(), &[("[rule]", rule)])
            .await?;
        let started = Instant::now();
        let mut child = self.command(&config, &["run"]).spawn()?;
        let pool = common::producer_pool(&db).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let done: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM rule_listings WHERE state = 'done')
                      * (SELECT count(*) = 0 FROM deletion_queue WHERE status <> 'deleted')",
            )
            .fetch_one(&pool)
            .await?;
            if done > 0 {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(1800),
                "the rule's listing did not finish in 30 minutes"
            );
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the daemon ended: {status}");
            }
        }
        let wall = started.elapsed();
        child.kill().await?;
        pool.close().await;
        let lookups = standin.lookups();
        let listing: Vec<Instant> = lookups
            .iter()
            .filter(|l| !l.filtered && l.unique_id.is_some())
            .map(|l| l.at)
            .collect();
        let listing_time = match (listing.first(), listing.last()) {
            (Some(first), Some(last)) => *last - *first,
            _ => Duration::ZERO,
        };
        let busiest_second = listing
            .iter()
            .enumerate()
            .map(|(i, at)| {
                listing[i..]
                    .iter()
                    .take_while(|t| **t - *at < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0);
        let received = standin.received();
        let bucket = |at: Instant| (at.saturating_duration_since(started).as_secs() / 10) as usize;
        let mut series = vec![(0, 0, 0); bucket(Instant::now()) + 1];
        for r in received.iter().filter(|r| r.answered == "0000") {
            if let Some(b) = series.get_mut(bucket(r.at)) {
                b.0 += r.ids.len();
            }
        }
        for l in &lookups {
            if let Some(b) = series.get_mut(bucket(l.at)) {
                if l.filtered {
                    b.2 += 1;
                } else if l.unique_id.is_some() {
                    b.1 += 1;
                }
            }
        }
        Ok(RuleRun {
            listing: listing.len(),
            listing_time,
            busiest_second,
            lookups_too_many: lookups.iter().filter(|l| l.answered == "0429").count(),
            drain: (drain > 0).then(|| summarize(&received, true, latency, wall, 0)),
            series,
        })
    }

    /// `run --once` over `n` rows right after a pass over 100 others that the API answered
    /// well: the pass starts at full speed, without a probe request.
    async fn drain_warm(
        &mut self,
        n: usize,
        latency: Duration,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Drain> {
        let standin = standin::Standin::start(KEY, 5).await;
        standin.set_latency(latency);
        standin.set_lookup_per_second(5);
        let (db, config) = self.setup(100, &standin.base_url(), extra).await?;
        let status = self.command(&config, &["run", "--once"]).status().await?;
        anyhow::ensure!(status.success(), "the warm-up pass failed");
        insert_ids(&db, n, 1_000_000).await?;
        let before = standin.received().len();
        let (lookups_before, too_many_before) =
            (standin.lookups().len(), too_many_lookups(&standin));
        // Past the warm-up's last request: its second in the rate window is over.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let started = Instant::now();
        let child = self.command(&config, &["run", "--once"]).spawn()?;
        let peak_rss_kib = watch_rss(child).await?;
        let wall = started.elapsed();
        let received = standin.received();
        Ok(Drain {
            lookups: standin.lookups().len() - lookups_before,
            lookups_too_many: too_many_lookups(&standin) - too_many_before,
            ..summarize(
                received.get(before..).unwrap_or_default(),
                true,
                latency,
                wall,
                peak_rss_kib,
            )
        })
    }

    /// Claims over `n` queued rows of one video: the first (nothing deleted yet), then, as
    /// if its request had deleted the video, the longest of the claims that settle the
    /// rest from that deletion, and how many there were. Each claim is one write
    /// transaction: producers wait behind it.
    async fn duplicate_claims(&mut self, n: usize) -> anyhow::Result<(Duration, Duration, usize)> {
        const VIDEO: &str = "VI606404158946574336";
        let lease = Duration::from_secs(60);
        let duplicates = |pool| async move {
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO deletion_queue (video_no) SELECT ?2 FROM n",
            )
            .bind(n as i64)
            .bind(VIDEO)
            .execute(&pool)
            .await
            .map(drop)
        };
        // The first claim of a video not deleted yet: 100 rows and 1,000 duplicates.
        let (db, _) = self.setup(0, "http://127.0.0.1:9", &[]).await?;
        let pool = common::producer_pool(&db).await?;
        duplicates(pool.clone()).await?;
        let queue = Queue::open(&Database::File(db.clone()), Duration::from_secs(5)).await?;
        let started = Instant::now();
        let claim = queue.claim(100, lease).await?;
        let first = started.elapsed();
        anyhow::ensure!(claim.is_some(), "nothing was claimed");
        pool.close().await;
        queue.close().await;

        // Then the claims that settle duplicates from the video's deletion. The deletion
        // must be one the chain records (history trusts no row marked deleted by hand):
        // a real pass deletes one row of it first.
        let standin = standin::Standin::start(KEY, 1000).await;
        let (db, config) = self.setup(0, &standin.base_url(), &[]).await?;
        let pool = common::producer_pool(&db).await?;
        sqlx::query("INSERT INTO deletion_queue (video_no) VALUES (?1)")
            .bind(VIDEO)
            .execute(&pool)
            .await?;
        let status = self.command(&config, &["run", "--once"]).status().await?;
        anyhow::ensure!(status.success(), "the pass that deletes the video failed");
        duplicates(pool.clone()).await?;
        let queue = Queue::open(&Database::File(db.clone()), Duration::from_secs(5)).await?;
        let (mut longest, mut claims) = (Duration::ZERO, 0);
        loop {
            let started = Instant::now();
            let claim = queue.claim(100, lease).await?;
            longest = longest.max(started.elapsed());
            let Some(claim) = claim else { break };
            claims += 1;
            queue.release(&claim.token, None).await?;
            // Each claim settles some from history: more claims than rows is a loop.
            anyhow::ensure!(
                claims <= n,
                "{claims} claims of {n} rows: they settle nothing"
            );
        }
        pool.close().await;
        queue.close().await;
        Ok((first, longest, claims))
    }

    /// `run --once` by `daemons` processes at once over `n` rows, against a stand-in taking
    /// 1 request a second: what it received, and how long the drain took.
    async fn squeeze(
        &mut self,
        n: usize,
        daemons: usize,
    ) -> anyhow::Result<(Vec<standin::Received>, Duration)> {
        let standin = standin::Standin::start(KEY, 1).await;
        let (_, config) = self
            .setup(n, &standin.base_url(), &[("api", "timeout = \"1s\"")])
            .await?;
        let started = Instant::now();
        let children: Vec<_> = (0..daemons)
            .map(|_| self.command(&config, &["run", "--once"]).spawn())
            .collect::<Result<_, _>>()?;
        // One sends; one standing by leaves with 3 (rows were due when it looked). That
        // every id was deleted is checked by the caller.
        for mut child in children {
            let code = child.wait().await?.code();
            anyhow::ensure!(
                matches!(code, Some(0 | 3)),
                "a squeezed drain failed: {code:?}"
            );
        }
        Ok((standin.received(), started.elapsed()))
    }

    /// The shell script over `n` rows, against the same stand-in.
    async fn baseline(&mut self, n: usize, latency: Duration) -> anyhow::Result<Drain> {
        let standin = standin::Standin::start(KEY, 5).await;
        standin.set_latency(latency);
        let (db, _) = self.setup(n, &standin.base_url(), &[]).await?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/baseline.sh");
        let url = format!("{}{}", standin.base_url(), standin::V1_2_PATH);
        let started = Instant::now();
        let status = Command::new("bash")
            .arg(script)
            .arg(&db)
            .arg(url)
            .arg(KEY)
            .stdout(Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "the baseline script failed");
        Ok(summarize(
            &standin.received(),
            true,
            latency,
            started.elapsed(),
            0,
        ))
    }

    /// A drain while someone else takes 3 of the 5 requests a second for a while: the
    /// requests answered 0000, and the 0429s, in 2-second buckets.
    async fn shared_quota(
        &mut self,
        n: usize,
        fall: u64,
        rise: u64,
    ) -> anyhow::Result<Vec<(usize, usize)>> {
        let standin = standin::Standin::start(KEY, 5).await;
        let (_, config) = self.setup(n, &standin.base_url(), &[]).await?;
        let started = Instant::now();
        let mut child = self.command(&config, &["run", "--once"]).spawn()?;
        let quota = async {
            tokio::time::sleep(Duration::from_secs(fall)).await;
            standin.set_per_second(2);
            tokio::time::sleep(Duration::from_secs(rise - fall)).await;
            standin.set_per_second(5);
        };
        tokio::select! {
            status = child.wait() => anyhow::ensure!(status?.success(), "the drain failed"),
            _ = quota => anyhow::ensure!(child.wait().await?.success(), "the drain failed"),
        }
        let received = standin.received();
        let Some(first) = received.first().map(|r| r.at) else {
            anyhow::bail!("no request arrived");
        };
        let buckets = (started.elapsed().as_secs() / 2 + 1) as usize;
        let mut rate = vec![(0, 0); buckets];
        for r in &received {
            let i = ((r.at - first).as_secs() / 2) as usize;
            if let Some(bucket) = rate.get_mut(i) {
                match r.answered.as_str() {
                    "0000" => bucket.0 += 1,
                    "0429" => bucket.1 += 1,
                    _ => {}
                }
            }
        }
        while rate.last() == Some(&(0, 0)) {
            rate.pop();
        }
        Ok(rate)
    }

    /// CPU time the daemon uses over `span` while it waits for a tick, in milliseconds.
    async fn idle_cpu(&mut self, span: Duration) -> anyhow::Result<f64> {
        let standin = standin::Standin::start(KEY, 5).await;
        let (_, config) = self.setup(0, &standin.base_url(), &[]).await?;
        let mut child = self.command(&config, &["run"]).spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("the daemon has no pid"))?;
        // Past the start-up pass.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = cpu_ms(pid)?;
        tokio::time::sleep(span).await;
        let used = cpu_ms(pid)? - before;
        child.kill().await?;
        Ok(used)
    }

    /// The mean time of a claim of 100 rows among `n` pending, and the claim's plan.
    async fn claim_time(&mut self, n: usize) -> anyhow::Result<(Duration, Vec<String>)> {
        let (db, _) = self.setup(n, "http://127.0.0.1:9", &[]).await?;
        let queue = Queue::open(&Database::File(db.clone()), Duration::from_secs(5)).await?;
        let rounds = 20;
        let mut took = Duration::ZERO;
        for _ in 0..rounds {
            let started = Instant::now();
            let claim = queue.claim(100, Duration::from_secs(60)).await?;
            took += started.elapsed();
            if let Some(claim) = claim {
                queue.release(&claim.token, None).await?;
            }
        }
        let plan = queue.explain_claim().await?;
        queue.close().await;
        Ok((took / rounds, plan))
    }

    /// `enqueue --file` of `n` ids.
    async fn enqueue(&mut self, n: usize) -> anyhow::Result<(usize, Duration)> {
        let (_, config) = self.setup(0, "http://127.0.0.1:9", &[]).await?;
        let file = self.dir.path().join("ids.txt");
        let ids: String = (0..n)
            .map(|i| format!("VI{}\n", 706_404_158_946_574_336u64 + i as u64))
            .collect();
        std::fs::write(&file, ids)?;
        let started = Instant::now();
        let status = self
            .command(&config, &["enqueue", "--file", &file.display().to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "enqueue failed");
        Ok((n, started.elapsed()))
    }

    /// `receipts` of `n` settled rows to a file: how long, and the peak memory.
    async fn receipts(&mut self, n: usize) -> anyhow::Result<(Duration, u64)> {
        let (db, config) = self.setup(n, "http://127.0.0.1:9", &[]).await?;
        let pool = common::producer_pool(&db).await?;
        sqlx::query(
            "UPDATE deletion_queue SET status = 'deleted', attempts = 1,
                    settled_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
                    listed_at = strftime('%Y-%m-%d %H:%M:%f', 'now')",
        )
        .execute(&pool)
        .await?;
        pool.close().await;
        // A new file each time: `receipts --output` never overwrites one.
        let file = self.dir.path().join(format!("receipts-{}.csv", self.runs));
        let started = Instant::now();
        let child = self
            .command(
                &config,
                &["receipts", "--output", &file.display().to_string()],
            )
            .spawn()?;
        let peak_rss_kib = watch_rss(child).await?;
        let took = started.elapsed();
        let lines = std::fs::read_to_string(&file)?.lines().count();
        anyhow::ensure!(lines == n + 1, "receipts wrote {lines} lines for {n} rows");
        Ok((took, peak_rss_kib))
    }
}

/// Inserts `n` more distinct video numbers, from `offset` on.
async fn insert_ids(db: &Path, n: usize, offset: i64) -> anyhow::Result<()> {
    let pool = common::producer_pool(db).await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO deletion_queue (video_no) SELECT printf('VI%018d', 606404158946574336 + ?2 + i) FROM n",
    )
    .bind(n as i64)
    .bind(offset)
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

fn summarize(
    received: &[standin::Received],
    limited: bool,
    latency: Duration,
    wall: Duration,
    peak_rss_kib: u64,
) -> Drain {
    let too_many = received.iter().filter(|r| r.answered == "0429").count();
    let deleted: Vec<&standin::Received> =
        received.iter().filter(|r| r.answered == "0000").collect();
    let tail = if limited {
        Duration::from_secs(1)
    } else {
        latency
    };
    let rate = |from: Duration| {
        let Some(first) = deleted.first().map(|r| r.at + from) else {
            return 0.0;
        };
        let counted: Vec<_> = deleted.iter().filter(|r| r.at >= first).collect();
        match counted.last() {
            Some(last) => {
                let ids: usize = counted.iter().map(|r| r.ids.len()).sum();
                ids as f64 / ((last.at - first) + tail).as_secs_f64().max(1e-3)
            }
            None => 0.0,
        }
    };
    let sustained = rate(Duration::ZERO);
    let steady = rate(latency);
    // Arrivals in time order: the most within one latency of each other.
    let mut at: Vec<_> = received.iter().map(|r| r.at).collect();
    at.sort();
    let in_flight = (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t < at[i] + latency).count())
        .max()
        .unwrap_or(0);
    Drain {
        sustained,
        steady,
        wall,
        too_many,
        in_flight,
        peak_rss_kib,
        lookups: 0,
        lookups_too_many: 0,
    }
}

/// Waits for the daemon to exit, sampling its resident memory; the peak, in KiB.
async fn watch_rss(mut child: tokio::process::Child) -> anyhow::Result<u64> {
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the daemon has no pid"))?;
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "the drain ended {status}");
            return Ok(peak);
        }
        if let Some(rss) = common::memory_kib(pid, "VmHWM:") {
            peak = peak.max(rss);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// User + system CPU time of a process, in milliseconds.
fn cpu_ms(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // Linux counts in clock ticks of 1/100 s.
    Ok(ticks * 10.0)
}
