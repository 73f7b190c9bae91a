//! The `run` command: open the queue, then a pass at start and one at every cron tick, until
//! SIGTERM or SIGINT. With `--once`, a single pass.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, API_REQUESTS_PER_SECOND};
use crate::credentials;
use crate::pass::{PassEnd, Reaper};
use crate::queue::Queue;
use crate::schedule::{CronRule, Ticks};

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
    once: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<RunEnd> {
    let path = config.database_path()?;
    let queue = Queue::open(&path, config.database.busy_timeout).await?;
    let reaper = Arc::new(Reaper::new(config, queue.clone())?);
    let next_wake =
        |rule: &CronRule| match rule.next_after(Utc::now(), config.schedule.timezone.zone()) {
            Some(t) => t.to_rfc3339(),
            None => "never".into(),
        };
    info!(
        database = %path.display(),
        next_wake = if once { "none (--once)".into() } else { next_wake(&config.schedule.cron) },
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
        Ok((_, source)) => info!("API key found in {source}"),
        Err(e) => warn!("{e}; passes will stop before sending anything"),
    }

    if once {
        let end = pass(&reaper, &shutdown).await;
        let due = queue.due_pending().await?;
        queue.close().await;
        return Ok(match end {
            Some(PassEnd::Interrupted) => RunEnd::Clean,
            _ if due == 0 => RunEnd::Clean,
            _ => RunEnd::Pending(due),
        });
    }

    let running = Arc::new(Mutex::new(()));
    let mut ticks = Ticks::start(
        config.schedule.cron.clone(),
        config.schedule.timezone.zone(),
        running.clone(),
    )
    .await?;
    info!(
        cron = config.schedule.cron.as_written(),
        timezone = %config.schedule.timezone.zone(),
        "schedule armed; running the start-up pass"
    );
    {
        let _running = running.clone().lock_owned().await;
        pass(&reaper, &shutdown).await;
    }
    loop {
        info!(
            next_wake = next_wake(&config.schedule.cron),
            "waiting for the next tick"
        );
        tokio::select! {
            _ = shutdown.cancelled() => break,
            tick = ticks.next() => match tick {
                Some(_running) => { pass(&reaper, &shutdown).await; }
                None => break,
            },
        }
    }
    ticks.stop().await;
    queue.close().await;
    info!("stopped");
    Ok(RunEnd::Clean)
}

/// One pass behind a panic boundary: a bug in a pass is logged and the daemon goes on; the
/// rows that pass held come back when their lease runs out.
async fn pass(reaper: &Arc<Reaper>, shutdown: &CancellationToken) -> Option<PassEnd> {
    let reaper = reaper.clone();
    let shutdown = shutdown.clone();
    match tokio::spawn(async move { reaper.run_pass(&shutdown).await }).await {
        Ok(end) => Some(end),
        Err(e) => {
            error!(
                "the pass panicked ({e}); its rows return to the queue when their lease expires"
            );
            None
        }
    }
}
