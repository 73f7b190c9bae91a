//! The whole thing in one command, with no key and nothing to set up:
//! `cargo run --example demo`.
//!
//! Starts the API stand-in in this process on a free port, writes a configuration and a
//! fresh SQLite queue into a new folder, enqueues 3,000 ids over two namespaces (among
//! them one the API refuses, one under a legal hold, and one queued in a namespace the
//! account does not have), runs the daemon (the library's `daemon::run`, as `run` does)
//! until the queue is drained, releases the hold and sees that video deleted too, then
//! shows what a newcomer should look at (`status`, receipts with their proofs, `receipts
//! --verify`) and the commands to look at the same queue by hand. Exits 0 with nothing
//! left running; the folder stays, for those commands.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use memories_reaper::cmd::{self, receipts::Format, HoldChange, Selected};
use memories_reaper::config::{Config, Source};
use memories_reaper::daemon::{self, RunEnd, RunOptions};
use memories_reaper::queue::Queue;

// The example uses the stand-in's serving half; the tests use the rest.
#[allow(dead_code)]
#[path = "../tests/it/support/standin.rs"]
mod standin;

const KEY: &str = "demo-key";

/// Ids in `default`, then in `tenant-a`.
const DEFAULT_IDS: u64 = 2_000;
const TENANT_IDS: u64 = 1_000;

fn id(i: u64) -> String {
    format!("VI{}", 700_000_000_000_000_000u64 + i)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match demo().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn demo() -> anyhow::Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("memories-reaper-demo.")
        .tempdir()
        .context("cannot create a folder for the demo")?
        .keep();
    let standin = standin::Standin::start_on(KEY, 5, 0)
        .await
        .context("cannot start the stand-in on 127.0.0.1")?;
    standin.add_namespace("tenant-a");
    let refused = id(17);
    standin.reject(&refused);
    let config_path = write_config(&folder, &standin.base_url())?;
    let config =
        Config::load(&Source::Flag(config_path.clone())).map_err(|e| anyhow::anyhow!("{e}"))?;

    println!(
        "== The stand-in answers like the Delete Videos API on {} (5 requests/s, as the \
         account's limit); the queue is {}",
        standin.base_url(),
        folder.join("queue.db").display()
    );
    cmd::migrate(&config).await?;

    println!("\n== Producers queue video numbers (here through `enqueue`):");
    let default: Vec<String> = (0..DEFAULT_IDS).map(id).collect();
    let tenant: Vec<String> = (DEFAULT_IDS..DEFAULT_IDS + TENANT_IDS).map(id).collect();
    let elsewhere = [id(DEFAULT_IDS + TENANT_IDS)];
    cmd::enqueue_ids(&config, "default", &default, None).await?;
    cmd::enqueue_ids(&config, "tenant-a", &tenant, None).await?;
    cmd::enqueue_ids(&config, "no-such-namespace", &elsewhere, None).await?;
    let held = [id(42)];
    println!(
        "\n== A legal hold on {}: it is not deleted while the hold stands",
        held[0]
    );
    let reason = HoldChange::Place("demo: litigation");
    cmd::change_holds(&config, &held, None, None, reason).await?;
    println!(
        "\n== The API will refuse {refused}, and no namespace no-such-namespace exists in the \
         account"
    );

    let total = DEFAULT_IDS + TENANT_IDS + 1;
    let queue = Queue::open_existing(&config.database()?, config.database.busy_timeout).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let run_config = config.clone();
    let token = stop.clone();
    let mut daemon = tokio::spawn(async move {
        let options = RunOptions::default();
        daemon::run(&run_config, options, token).await
    });

    println!("\n== The daemon runs (a pass a second): looks each batch up, deletes it, records it");
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows settled, {per_sec}, {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // All but the held video settle; then the hold is released and it goes too.
    let drained = wait(&queue, &bar, &mut daemon, total - 1).await?;
    println!("{drained}");
    println!(
        "\n== The hold is released: the next pass deletes {}",
        held[0]
    );
    cmd::change_holds(&config, &held, None, None, HoldChange::Release).await?;
    let drained = wait(&queue, &bar, &mut daemon, total).await?;
    bar.finish_and_clear();
    println!("{drained}");
    stop.cancel();
    match daemon.await.context("the daemon's task")?? {
        RunEnd::Clean => {}
        RunEnd::Pending(n) => anyhow::bail!("the daemon stopped with {n} due rows pending"),
    }
    queue.close().await;

    println!("\n== `status`: every row by status, what proves it, the last requests");
    cmd::show_status(&config, false, 3).await?;
    println!("\n== Receipts (`receipts`) of the rows that were not deleted, with their proofs:");
    for status in ["failed", "absent"] {
        let selected = Selected {
            since: None,
            until: None,
            namespace: None,
            status: Some(status),
        };
        cmd::receipts(&config, selected, Format::Csv, None).await?;
    }
    println!("\n== `receipts --verify`: the settlement chain recomputed against the tables");
    cmd::verify_chain(&config).await?;

    let shown = config_path.display();
    println!(
        "\n== The same queue, by hand:\n\
         cargo run -- --config {shown} status\n\
         cargo run -- --config {shown} receipts | head\n\
         cargo run -- --config {shown} receipts --verify\n\
         cargo run -- --config {shown} hold list\n\
         sqlite3 {} \"SELECT status, proof, count(*) FROM deletion_queue GROUP BY 1, 2\"\n\
         rm -r {}     # when done\n\
         Nothing is left running. For real, with a key: the README's second command.",
        folder.join("queue.db").display(),
        folder.display()
    );
    Ok(())
}

/// The configuration `run` and every command of the demo use, in `folder`.
fn write_config(folder: &Path, base_url: &str) -> anyhow::Result<std::path::PathBuf> {
    let key_file = folder.join("api_key");
    // Readable by this user only, as a real key must be (the daemon warns otherwise).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_file)
        .context("cannot create the stand-in's key file")?;
    std::io::Write::write_all(&mut file, KEY.as_bytes()).context("cannot write the key")?;
    let config = format!(
        "# Written by `cargo run --example demo`: the stand-in's address, this folder's\n\
         # queue, a pass a second.\n\
         [api]\nbase_url = {base_url:?}\napi_key_file = {:?}\n\
         [database]\npath = {:?}\n\
         [schedule]\ncron = \"* * * * * *\"\n\
         # A video not found is looked up again this much later before it is called absent\n\
         # (5 minutes by default: a fresh upload may take a while to be listed).\n\
         [verify]\nabsent_after = \"5s\"\n\
         [log]\nlevel = \"warn\"\n",
        key_file.display().to_string(),
        folder.join("queue.db").display().to_string(),
    );
    let path = folder.join("config.toml");
    std::fs::write(&path, config).context("cannot write the demo's configuration")?;
    Ok(path)
}

/// Waits until `settled` rows are settled, showing them on `bar`; says how it ended. The
/// daemon ending first (an error) ends the demo with it.
async fn wait(
    queue: &Queue,
    bar: &indicatif::ProgressBar,
    daemon: &mut tokio::task::JoinHandle<anyhow::Result<RunEnd>>,
    settled: u64,
) -> anyhow::Result<String> {
    let started = std::time::Instant::now();
    loop {
        let report = queue.report(0).await?;
        let mut by_status = std::collections::BTreeMap::new();
        for count in &report.counts {
            *by_status.entry(count.status.to_string()).or_insert(0) += count.rows;
        }
        let done: i64 = ["deleted", "failed", "absent"]
            .iter()
            .map(|s| by_status.get(*s).copied().unwrap_or(0))
            .sum();
        bar.set_position(done.unsigned_abs());
        if done.unsigned_abs() >= settled {
            let shown: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
            return Ok(format!(
                "{done} rows settled after {:.1} s; the queue now holds {}",
                started.elapsed().as_secs_f64(),
                shown.join(", ")
            ));
        }
        if started.elapsed() > Duration::from_secs(300) {
            anyhow::bail!("the queue did not drain in 5 minutes: {by_status:?}");
        }
        tokio::select! {
            ended = &mut *daemon => anyhow::bail!("the daemon stopped early: {ended:?}"),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
