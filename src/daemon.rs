//! The `run` command: open the queue, then a pass at start and one at every cron tick, until
//! SIGTERM or SIGINT. With `--once`, a single pass; with `--dry-run`, passes that only log
//! what they would send.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, API_REQUESTS_PER_SECOND};
use crate::credentials;
use crate::pass::{PassEnd, Reaper};
use crate::queue::Queue;
use crate::schedule::Ticks;

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// One pass, then return.
    pub once: bool,
    /// Claim nothing, send nothing: log what would be sent.
    pub dry_run: bool,
}

/// How `run` ended, for the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Stopped by a signal, or (`--once`) nothing due left pending.
    Clean,
    /// `--once` only: this many due rows are still pending.
    Pending(i64),
}

pub async fn run(
    config: &Config,
    options: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<RunEnd> {
    let path = config.database_path()?;
    let queue = Queue::open(&path, config.database.busy_timeout).await?;
    let reaper = Arc::new(Reaper::new(config, queue.clone())?);
    let schedule = &config.schedule;
    let next_wake = || match schedule
        .cron
        .next_after(Utc::now(), schedule.timezone.zone())
    {
        Some(t) => t.to_rfc3339(),
        None => "never".into(),
    };
    info!(
        database = %path.display(),
        next_wake = if options.once { "none (--once)".into() } else { next_wake() },
        dry_run = options.dry_run,
        "memories-reaper {} starting: {}",
        env!("CARGO_PKG_VERSION"),
        config.summary()
    );
    if config.api.requests_per_second.get() > API_REQUESTS_PER_SECOND {
        warn!(
            "api.requests_per_second is above the account's documented limit of \
             {API_REQUESTS_PER_SECOND}; the API will answer 0429 to the excess"
        );
    }
    match credentials::load(config.api.api_key_file.as_deref()) {
        Ok((_, source)) => {
            info!("API key found in {source}");
            if let Some(warning) = credentials::exposure_warning(&source) {
                warn!("{warning}");
            }
        }
        Err(e) if !options.dry_run => warn!("{e}; passes will stop before sending anything"),
        Err(_) => {}
    }
    let pass = Pass {
        reaper,
        queue: queue.clone(),
        config,
        dry_run: options.dry_run,
    };

    if options.once {
        let end = pass.run(&shutdown).await;
        let due = if options.dry_run {
            0
        } else {
            queue.due_pending().await?
        };
        queue.close().await;
        return Ok(match end {
            Some(PassEnd::Interrupted) => RunEnd::Clean,
            _ if due == 0 => RunEnd::Clean,
            _ => RunEnd::Pending(due),
        });
    }

    let running = Arc::new(Mutex::new(()));
    let mut ticks = Ticks::start(
        schedule.cron.clone(),
        schedule.timezone.zone(),
        running.clone(),
    )
    .await?;
    info!(
        cron = schedule.cron.as_written(),
        timezone = %schedule.timezone.zone(),
        "schedule armed; running the start-up pass"
    );
    {
        let _running = running.clone().lock_owned().await;
        pass.run(&shutdown).await;
    }
    loop {
        info!(next_wake = next_wake(), "waiting for the next tick");
        tokio::select! {
            _ = shutdown.cancelled() => break,
            tick = ticks.next() => match tick {
                Some(_running) => { pass.run(&shutdown).await; }
                None => break,
            },
        }
    }
    ticks.stop().await;
    queue.close().await;
    info!("stopped");
    Ok(RunEnd::Clean)
}

/// What runs at each tick.
struct Pass<'a> {
    reaper: Arc<Reaper>,
    queue: Queue,
    config: &'a Config,
    dry_run: bool,
}

impl Pass<'_> {
    /// One pass behind a panic boundary: a bug in a pass is logged and the daemon goes on;
    /// the rows that pass held come back when their lease runs out. Then the retention.
    async fn run(&self, shutdown: &CancellationToken) -> Option<PassEnd> {
        let reaper = self.reaper.clone();
        let shutdown = shutdown.clone();
        let dry_run = self.dry_run;
        let work = tokio::spawn(async move {
            if !dry_run {
                return reaper.run_pass(&shutdown).await;
            }
            match reaper.dry_run_pass().await {
                Ok(_) => PassEnd::Drained,
                Err(e) => PassEnd::Stopped(e.to_string()),
            }
        });
        let end = match work.await {
            Ok(end) => Some(end),
            Err(e) => {
                error!("the pass panicked ({e}); its rows return to the queue when their lease expires");
                None
            }
        };
        if let (Some(keep), false) = (self.config.retention.keep, self.dry_run) {
            match self.queue.prune(Utc::now() - keep).await {
                Ok(p) if p.rows + p.batches > 0 => info!(
                    rows = p.rows,
                    batches = p.batches,
                    "retention: removed settled rows and batch records older than {}",
                    humantime::format_duration(keep)
                ),
                Ok(_) => {}
                Err(e) => warn!("retention: {e}"),
            }
        }
        end
    }
}
