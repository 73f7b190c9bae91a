//! The benchmark of the queue on PostgreSQL (BENCHMARKS.md, "More than one host"): one,
//! two and three daemons on one account at 300 ms a request; a claim's cost at 10,000 and
//! at 1,000,000 pending rows, with its plan; producers' inserts while the daemons drain.
//! Needs a server: `MEMORIES_REAPER_TEST_POSTGRES` names one (a role that may create
//! databases), as tests/lib/postgres.sh's `pg_start` gives.
//!
//! ```sh
//! cargo build --release --bin memories-reaper --example bench_hosts
//! source tests/lib/postgres.sh && pg_start
//! target/release/examples/bench_hosts            # about 4 minutes
//! target/release/examples/bench_hosts --quick    # small sizes: it must finish
//! pg_stop
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::process::{Child, Command};

use memories_reaper::config::Database;
use memories_reaper::pass::Store;
use memories_reaper::queue::Queue;

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../tests/it/support/standin.rs"]
mod standin;

const KEY: &str = "bench-key";
/// The ceiling: 5 requests a second of 100 ids.
const CEILING: f64 = 500.0;

#[derive(Parser)]
struct Args {
    /// Small sizes, for a smoke check.
    #[arg(long)]
    quick: bool,
    /// The daemon binary; by default the one beside this example's directory.
    #[arg(long)]
    bin: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = bench(args).await {
        eprintln!("bench_hosts: {e:#}");
        std::process::exit(1);
    }
}

/// A database of its own on the server: (its URL, a producer's pool).
async fn fresh_database(admin: &str, name: &str) -> anyhow::Result<(String, PgPool)> {
    let server = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&server)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&server)
        .await?;
    server.close().await;
    let (base, _) = admin
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("the server's URL names no database"))?;
    let url = format!("{base}/{name}");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    Ok((url, pool))
}

struct Run {
    bin: PathBuf,
    config: PathBuf,
    url: String,
    /// Where the daemons' logs go (warnings and errors), kept if the run fails.
    log: PathBuf,
}

impl Run {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("MEMORIES_API_KEY", KEY)
            .env("MEMORIES_REAPER_DATABASE_URL", &self.url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            Ok(file) => cmd.stderr(file),
            Err(_) => cmd.stderr(Stdio::null()),
        };
        cmd
    }
}

async fn setup(
    bin: &Path,
    dir: &Path,
    admin: &str,
    name: &str,
    base_url: &str,
) -> anyhow::Result<(Run, PgPool)> {
    let (url, pool) = fresh_database(admin, name).await?;
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = {base_url:?}\ntimeout = \"10s\"\n[schedule]\ncron = \"0 0 1 1 *\"\n\
             [retry]\nmax_attempts = 10\ninitial_backoff = \"100ms\"\nmax_backoff = \"2s\"\n"
        ),
    )?;
    let run = Run {
        bin: bin.to_owned(),
        log: config.with_extension("log"),
        config,
        url,
    };
    let status = run.command(&["migrate"]).status().await?;
    anyhow::ensure!(status.success(), "migrate failed");
    Ok((run, pool))
}

async fn insert(pool: &PgPool, n: usize, offset: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO deletion_queue (video_no)
         SELECT 'VI' || lpad((606404158946574336 + $2 + i)::text, 18, '0')
           FROM generate_series(1, $1) AS i",
    )
    .bind(n as i64)
    .bind(offset)
    .execute(pool)
    .await?;
    Ok(())
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let admin = std::env::var("MEMORIES_REAPER_TEST_POSTGRES").map_err(|_| {
        anyhow::anyhow!(
            "set MEMORIES_REAPER_TEST_POSTGRES to a server's URL (tests/lib/postgres.sh: pg_start)"
        )
    })?;
    let bin = common::daemon_binary(args.bin)?;
    let dir = tempfile::tempdir()?;
    let q = |full: usize, quick: usize| if args.quick { quick } else { full };

    let n = q(20_000, 1_000);
    println!("## Daemons on one account: {n} ids at 300 ms a request, PostgreSQL");
    println!();
    println!(
        "| daemons | ids/s over the drain | % of 500 | after the first answer | % of 500 | 0429 answers | senders | producer inserts/s meanwhile | slowest insert |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // The last row adds a producer inserting one row a transaction as fast as it can
    // (rows due in 2099, so the drain's size stays the same).
    for (daemons, producing) in [(1, false), (2, false), (3, false), (3, true)] {
        let standin = standin::Standin::start(KEY, 5).await;
        standin.set_latency(Duration::from_millis(300));
        let name = format!("bench_daemons_{daemons}");
        let (run, pool) = setup(&bin, dir.path(), &admin, &name, &standin.base_url()).await?;
        insert(&pool, n, 0).await?;
        let started = Instant::now();
        let children: Vec<Child> = (0..daemons)
            .map(|_| run.command(&["run"]).spawn())
            .collect::<Result<_, _>>()?;
        let producer = producing.then(|| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let (mut inserts, mut slowest) = (0u64, Duration::ZERO);
                let mut i = 0i64;
                loop {
                    let at = Instant::now();
                    let done = sqlx::query("INSERT INTO deletion_queue (video_no, due_at) VALUES ($1, '2099-01-01 00:00:00')")
                        .bind(format!("VI{:018}", 706404158946574336i64 + i))
                        .execute(&pool)
                        .await;
                    if done.is_err() {
                        break (inserts, slowest);
                    }
                    slowest = slowest.max(at.elapsed());
                    inserts += 1;
                    i += 1;
                    if inserts % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        });
        let deleted = loop {
            let received = standin.received();
            let ids: usize = received
                .iter()
                .filter(|r| r.answered == "0000")
                .map(|r| r.ids.len())
                .sum();
            if ids >= n {
                break received;
            }
            if started.elapsed() > Duration::from_secs(300) {
                let log = std::fs::read_to_string(&run.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                anyhow::bail!(
                    "{daemons} daemons deleted {ids} of {n} ids in 5 minutes; their log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let wall = started.elapsed();
        drop(children);
        let senders: i64 =
            sqlx::query_scalar("SELECT count(DISTINCT sender) FROM deletion_batches")
                .fetch_one(&pool)
                .await?;
        pool.close().await;
        let (inserts, slowest) = match producer {
            Some(producer) => {
                let (inserts, slowest) = producer.await?;
                (
                    format!("{:.0}", inserts as f64 / wall.as_secs_f64()),
                    format!("{} ms", slowest.as_millis()),
                )
            }
            None => ("-".into(), "-".into()),
        };
        let (sustained, steady) = rates(&deleted);
        let too_many = deleted.iter().filter(|r| r.answered == "0429").count();
        println!(
            "| {daemons} | {sustained:.0} | {:.1}% | {steady:.0} | {:.1}% | {too_many} | {senders} | {inserts} | {slowest} |",
            sustained / CEILING * 100.0,
            steady / CEILING * 100.0,
        );
    }
    println!();

    println!("## A claim on PostgreSQL, by pending rows");
    println!();
    println!("| pending rows | claim (median of 20) | slowest | plan |");
    println!("|---|---|---|---|");
    for rows in [q(10_000, 1_000), q(1_000_000, 20_000)] {
        let name = format!("bench_claim_{rows}");
        let (run, pool) = setup(&bin, dir.path(), &admin, &name, "http://127.0.0.1:9").await?;
        insert(&pool, rows, 0).await?;
        sqlx::query("ANALYZE deletion_queue").execute(&pool).await?;
        let database = Database::server(&run.url, "the benchmark").map_err(anyhow::Error::msg)?;
        let queue = Queue::open(&database, Duration::from_secs(5)).await?;
        let mut times = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let claim = queue.claim(100, Duration::from_secs(60)).await?;
            times.push(started.elapsed());
            if let Some(claim) = claim {
                queue.release(&claim.token, None).await?;
            }
        }
        times.sort();
        let plan = queue.explain_claim().await?;
        let indexes: Vec<String> = plan
            .iter()
            .filter_map(|line| {
                let at = line.find(" using ")?;
                Some(line[at + 7..].split_whitespace().next()?.to_owned())
            })
            .collect();
        let scans = plan.iter().filter(|l| l.contains("Seq Scan")).count();
        println!(
            "| {rows} | {:.2} ms | {:.2} ms | indexes {}; {} sequential scans |",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0,
            indexes.join(", "),
            scans
        );
        queue.close().await;
        pool.close().await;
    }
    Ok(())
}

/// ids/s over the drain, and counted from the first answer (the cold start's probe out).
fn rates(received: &[standin::Received]) -> (f64, f64) {
    let deleted: Vec<&standin::Received> =
        received.iter().filter(|r| r.answered == "0000").collect();
    let rate = |skip: usize| {
        let counted = deleted.get(skip..).unwrap_or_default();
        match (counted.first(), counted.last()) {
            (Some(first), Some(last)) => {
                let ids: usize = counted.iter().map(|r| r.ids.len()).sum();
                ids as f64 / ((last.at - first.at) + Duration::from_secs(1)).as_secs_f64()
            }
            _ => 0.0,
        }
    };
    (rate(0), rate(1))
}
