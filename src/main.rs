//! The `memories-reaper` binary: parses the command line, loads the configuration, sets up
//! logging, and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{CommandFactory, Parser, Subcommand};
use memories_reaper::cmd::check::check;
use memories_reaper::cmd::{self, EXIT_PENDING};
use memories_reaper::config::{Config, LogFormat, Source};
use memories_reaper::daemon::{self, RunEnd, RunOptions};
use memories_reaper::{complain, printable, shutdown, telemetry};

#[derive(Parser)]
#[command(
    version,
    about = "Deletes Memories.ai videos queued in a table (SQLite, or PostgreSQL)",
    after_long_help = MANUAL
)]
struct Cli {
    /// TOML configuration file; without it, $MEMORIES_REAPER_CONFIG, else
    /// /etc/memories-reaper/config.toml if it exists, else the built-in defaults.
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
        /// Claim nothing and send nothing: log what each pass would send.
        #[arg(long)]
        dry_run: bool,
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
    /// Find which namespaces of the account hold these videos (a video queued under the
    /// wrong namespace ends `absent`: this says where it really is).
    Locate {
        video_nos: Vec<String>,
        /// Read video numbers from this file, or from stdin with `-`.
        #[arg(long, value_name = "PATH|-")]
        file: Option<String>,
    },
    /// Show counts by status and namespace, the oldest pending row and the last batches.
    Status {
        #[arg(long)]
        json: bool,
        /// How many recent batches to show.
        #[arg(long, default_value_t = 10)]
        last: u32,
    },
    /// Write one record per settled row (what was deleted, found absent or failed, when,
    /// by which request, and what the lookups found), as CSV or JSON lines.
    Receipts {
        /// Rows settled since then: a duration back (`24h`, `7d`) or a UTC date.
        #[arg(long, value_parser = cmd::parse_since)]
        since: Option<DateTime<Utc>>,
        /// Rows settled before then: a duration back or a UTC date.
        #[arg(long, value_parser = cmd::parse_since)]
        until: Option<DateTime<Utc>>,
        #[arg(long)]
        namespace: Option<String>,
        /// A status rows end in: deleted, failed or absent.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: memories_reaper::cmd::receipts::Format,
        /// Write to this file (created or truncated) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Instead: recompute the settlement chain and compare it with the tables; names
        /// each mismatch and exits 1 if any.
        #[arg(long, conflicts_with_all = ["since", "until", "namespace", "status", "format", "output"])]
        verify: bool,
    },
    /// Legal holds: a held video is never sent, whoever queued it; its rows wait `held`
    /// until the hold is released.
    Hold {
        #[command(subcommand)]
        action: HoldAction,
    },
    /// Lifecycle rules (`[[rule]]` in the config): what they match, and confirming a
    /// listing a trip-wire holds.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Create or upgrade the database schema (`run` does it too).
    Migrate,
    /// Put failed rows back to pending.
    RetryFailed {
        /// Only rows of this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// Only rows that failed since then: a duration back (`24h`, `7d`) or a UTC date.
        #[arg(long, value_parser = cmd::parse_since)]
        since: Option<DateTime<Utc>>,
    },
    /// Remove settled rows and batch records older than a duration.
    Prune {
        /// e.g. `30d`; 1h to a century.
        #[arg(long, value_parser = cmd::parse_older_than)]
        older_than: Duration,
    },
    /// Check the configuration, the database and the key's source; change nothing.
    Check {
        /// Also print the next N wake times of the cron rule, in its zone (1 to 1000).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
        next: Option<u16>,
    },
    /// Write the manual pages (memories-reaper.1, and memories-reaper-COMMAND.1 for each
    /// command) into a folder, from the same definitions as this help.
    Manpage {
        /// The folder, created if need be (e.g. /usr/share/man/man1).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the shell completion script for a shell, from the same definitions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum HoldAction {
    /// Hold videos (arguments and/or a file, one per line), in every namespace unless
    /// --namespace is given.
    Add {
        #[command(flatten)]
        videos: HoldVideos,
        /// Why they are held (a case, a ticket): shown by `hold list`.
        #[arg(long)]
        reason: String,
    },
    /// Release the holds placed with the same --namespace (or without one); rows no other
    /// hold covers go back to pending.
    Release {
        #[command(flatten)]
        videos: HoldVideos,
    },
    /// Every hold: video, namespace (`*`: every one), when placed, rows held, reason.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RulesAction {
    /// For each rule (or NAME): how many videos match per namespace, the oldest and the
    /// newest, and a sample; lists the namespaces now (paced at rules.lookup_share) and
    /// changes nothing.
    Plan {
        name: Option<String>,
        /// Instead: what the rule's latest listing recorded (what a `report` rule found).
        #[arg(long)]
        last: bool,
    },
    /// Let the rule's listing that a trip-wire holds be enqueued (max_per_run a run).
    Confirm { name: String },
}

/// The videos a hold is placed on or released from.
#[derive(clap::Args)]
struct HoldVideos {
    video_nos: Vec<String>,
    /// Read video numbers from this file, or from stdin with `-`.
    #[arg(long, value_name = "PATH|-")]
    file: Option<String>,
    /// Only in this `unique_id` namespace (default: the videos in every namespace).
    #[arg(long)]
    namespace: Option<String>,
}

/// The manual's sections beyond the options: what an operator looks up in `man`.
const MANUAL: &str = "\
Environment:
  MEMORIES_REAPER_CONFIG  the configuration file when --config is not given
  MEMORIES_API_KEY        the API key (else api.api_key_file, else
                          $CREDENTIALS_DIRECTORY/api_key); never logged
  CREDENTIALS_DIRECTORY   set by systemd's LoadCredential=
  STATE_DIRECTORY         set by systemd's StateDirectory=: the default queue is
                          $STATE_DIRECTORY/queue.db
  MEMORIES_REAPER_DATABASE_URL
                          the queue on PostgreSQL (postgres://…), read before
                          database.url_file, database.url and
                          $CREDENTIALS_DIRECTORY/database_url; never logged whole
  RUST_LOG                overrides log.level
  MALLOC_ARENA_MAX, GLIBC_TUNABLES
                          when either is set, glibc's malloc arenas are left to it
                          (the program asks for one arena otherwise)

Configuration:
  --config FILE, else $MEMORIES_REAPER_CONFIG, else /etc/memories-reaper/config.toml
  when it exists, else the built-in defaults: every command finds the service's
  configuration. Errors about the database say which one named it; `check` says which
  one it read.

Files:
  /etc/memories-reaper/config.toml   the service's configuration
  /etc/memories-reaper/api_key       the key the unit hands over (LoadCredential=)
  /var/lib/memories-reaper/queue.db  the service's queue

Exit status:
  0 success; 1 an error (one line on stderr says what and what to do); 2 a usage error;
  3 (run --once) the pass stopped with due rows still pending.

The book (docs/src in the source; /usr/share/doc/memories-reaper/book when installed)
describes the queue table, the outcomes (deleted, absent, failed) and what each proves.";

/// glibc gives each thread that allocates an arena of its own, up to 8 a core: the
/// runtime's workers and one thread per SQLite connection held 2.5 MiB more than one arena
/// does, for no measured speed (BENCHMARKS.md, "Peak memory"). An operator's
/// `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` decides instead when set (a blank one is unset,
/// as for the program's own variables).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"]
        .iter()
        .all(|name| std::env::var_os(name).is_none_or(|value| value.is_empty()))
    {
        // SAFETY: an FFI call with valid constants (glibc takes its own lock). Called
        // before any thread starts, so that no second arena exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

fn main() -> ExitCode {
    // The first thing: a SIGHUP (a reload) in the first milliseconds of `run` must not kill
    // the daemon (exit 129, which systemd's `on-failure` counts as clean). Other commands
    // get the default back once parsed.
    shutdown::ignore_hangups();
    one_malloc_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version as clap writes them; a usage error quotes what was typed,
        // escaped line by line (a direction override in an argument must not reach the
        // terminal as one).
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            let lines: Vec<String> = text.lines().map(printable::escaped).collect();
            complain!("{}", lines.join("\n"));
            return ExitCode::from(2);
        }
    };
    // Generated from the definitions above: no config, no runtime.
    match &cli.command {
        Command::Manpage { dir } => {
            return match cmd::manpages(Cli::command().name(NAME), dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}")),
            }
        }
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), NAME, &mut script);
            return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("cannot write the completions: {e}")),
            };
        }
        _ => {}
    }
    if !matches!(cli.command, Command::Run { .. }) {
        shutdown::default_hangups();
    }
    let source = Source::find(cli.config);
    let config = match Config::load(&source) {
        Ok(config) => config,
        // Which setting chose the file, when it was not the flag: a stale variable or an
        // installed file the user did not know of must be visible, and how to override it.
        Err(e) => match source {
            Source::Flag(_) => return fail(e),
            _ => return fail(format!("{e} (configuration: {source})")),
        },
    };
    telemetry::init(
        cli.log_format.unwrap_or(config.log.format),
        &config.log.level,
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(dispatch(cli.command, &config)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(format!("{e:#}")),
    }
}

const NAME: &str = "memories-reaper";

fn fail(e: impl std::fmt::Display) -> ExitCode {
    complain!("memories-reaper: {e}");
    ExitCode::FAILURE
}

async fn dispatch(command: Command, config: &Config) -> anyhow::Result<u8> {
    match command {
        Command::Run { once, dry_run } => {
            let token = shutdown::on_signals()
                .map_err(|e| anyhow::anyhow!("cannot listen for signals: {e}"))?;
            match daemon::run(config, RunOptions { once, dry_run }, token).await? {
                RunEnd::Clean => Ok(0),
                RunEnd::Pending(n) => {
                    complain!(
                        "memories-reaper: the pass did not finish; {n} due rows are still pending; \
                         see the log above for why"
                    );
                    Ok(EXIT_PENDING)
                }
            }
        }
        Command::Enqueue {
            video_nos,
            file,
            namespace,
        } => cmd::enqueue_ids(config, &namespace, &video_nos, file.as_deref()).await,
        Command::Locate { video_nos, file } => {
            cmd::locate(config, &video_nos, file.as_deref()).await
        }
        Command::Status { json, last } => cmd::show_status(config, json, last).await,
        Command::Receipts {
            since,
            until,
            namespace,
            status,
            format,
            output,
            verify,
        } => {
            if verify {
                return cmd::verify_chain(config).await;
            }
            let selected = cmd::Selected {
                since,
                until,
                namespace: namespace.as_deref(),
                status: status.as_deref(),
            };
            cmd::receipts(config, selected, format, output.as_deref()).await
        }
        Command::Rules { action } => match action {
            RulesAction::Plan { name, last } => {
                memories_reaper::rules::plan(config, name.as_deref(), last).await
            }
            RulesAction::Confirm { name } => memories_reaper::rules::confirm(config, &name).await,
        },
        Command::Migrate => cmd::migrate(config).await,
        Command::RetryFailed { namespace, since } => {
            cmd::retry_failed(config, namespace.as_deref(), since).await
        }
        Command::Prune { older_than } => cmd::prune(config, older_than).await,
        Command::Hold { action } => {
            let (videos, change) = match &action {
                HoldAction::Add { videos, reason } => (videos, cmd::HoldChange::Place(reason)),
                HoldAction::Release { videos } => (videos, cmd::HoldChange::Release),
                HoldAction::List { json } => return cmd::hold_list(config, *json).await,
            };
            cmd::change_holds(
                config,
                &videos.video_nos,
                videos.file.as_deref(),
                videos.namespace.as_deref(),
                change,
            )
            .await
        }
        Command::Check { next } => Ok(check(config, next.map(usize::from)).await),
        Command::Manpage { .. } | Command::Completions { .. } => Ok(0),
    }
}
