//! The `memories-reaper` binary: parses the command line, loads the configuration, sets up
//! logging, and hands over to the library.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use memories_reaper::config::{Config, LogFormat};
use memories_reaper::daemon::{self, RunEnd};
use memories_reaper::enqueue::enqueue;
use memories_reaper::queue::Queue;
use memories_reaper::video::Namespace;
use memories_reaper::{shutdown, status, telemetry};

/// Exit code of `run --once` when due rows are left pending (key refused, API down, …).
const EXIT_PENDING: u8 = 3;

#[derive(Parser)]
#[command(version, about = "Deletes Memories.ai videos queued in a SQLite table")]
struct Cli {
    /// TOML configuration file; without it, the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format, overriding `log.format`.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: a pass at start, then one at every tick of the cron rule.
    Run {
        /// One pass, then exit: 0 when nothing due is left pending, 3 otherwise.
        #[arg(long)]
        once: bool,
    },
    /// Put video numbers in the queue (arguments and/or a file, one per line).
    Enqueue {
        video_nos: Vec<String>,
        /// Read video numbers from this file, or from stdin with `-`.
        #[arg(long, value_name = "PATH|-")]
        file: Option<String>,
        /// The `unique_id` namespace the videos belong to.
        #[arg(long, default_value = "default")]
        namespace: String,
    },
    /// Show counts by status and namespace, the oldest pending row and the last batches.
    Status {
        #[arg(long)]
        json: bool,
        /// How many recent batches to show.
        #[arg(long, default_value_t = 10)]
        last: u32,
    },
    /// Create or upgrade the database schema (`run` does it too).
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    telemetry::init(
        cli.log_format.unwrap_or(config.log.format),
        &config.log.level,
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(dispatch(cli.command, config))
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("memories-reaper: {e}");
    ExitCode::FAILURE
}

async fn dispatch(command: Command, config: Config) -> ExitCode {
    match command {
        Command::Run { once } => {
            let token = match shutdown::on_signals() {
                Ok(token) => token,
                Err(e) => return fail(format!("cannot listen for signals: {e}")),
            };
            match daemon::run(&config, once, token).await {
                Ok(RunEnd::Clean) => ExitCode::SUCCESS,
                Ok(RunEnd::Pending(n)) => {
                    eprintln!("memories-reaper: {n} due rows are still pending; see the log above for why");
                    ExitCode::from(EXIT_PENDING)
                }
                Err(e) => fail(format!("{e:#}")),
            }
        }
        Command::Enqueue {
            video_nos,
            file,
            namespace,
        } => {
            let namespace = match Namespace::parse(&namespace) {
                Ok(ns) => ns,
                Err(e) => return fail(e),
            };
            let file: Option<(String, Box<dyn BufRead + Send>)> = match file.as_deref() {
                None => None,
                Some("-") => Some((
                    "stdin".into(),
                    Box::new(std::io::BufReader::new(std::io::stdin())),
                )),
                Some(path) => match std::fs::File::open(path) {
                    Ok(f) => Some((path.to_owned(), Box::new(std::io::BufReader::new(f)))),
                    Err(e) => return fail(format!("cannot open {path}: {e}")),
                },
            };
            if video_nos.is_empty() && file.is_none() {
                return fail(
                    "nothing to enqueue: give video numbers, or --file PATH (- for stdin)",
                );
            }
            let queue = match open(&config).await {
                Ok(q) => q,
                Err(e) => return fail(e),
            };
            let mut report = |line: String| eprintln!("memories-reaper: rejected {line}");
            let rule = &config.batch.video_no_pattern;
            let result = enqueue(&queue, rule, &namespace, &video_nos, file, &mut report).await;
            queue.close().await;
            match result {
                Ok(done) => {
                    println!(
                        "enqueued {} in namespace {namespace}; rejected {}",
                        done.inserted, done.rejected
                    );
                    if done.rejected > 0 {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Status { json, last } => {
            let queue = match open(&config).await {
                Ok(q) => q,
                Err(e) => return fail(e),
            };
            let report = queue.report(last).await;
            queue.close().await;
            match report {
                Ok(report) if json => println!("{}", status::json(&report)),
                Ok(report) => print!("{}", status::text(&report)),
                Err(e) => return fail(e),
            }
            ExitCode::SUCCESS
        }
        Command::Migrate => match open(&config).await {
            Ok(queue) => {
                println!("database {} is up to date", queue.path().display());
                queue.close().await;
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

async fn open(config: &Config) -> anyhow::Result<Queue> {
    let path = config.database_path()?;
    Ok(Queue::open(&path, config.database.busy_timeout).await?)
}
