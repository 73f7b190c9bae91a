//! The `run` command: open the queue, then a pass at start and one at every cron tick, until
//! SIGTERM or SIGINT. With `--once`, a single pass; with `--dry-run`, passes that only log
//! what they would send.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::api::Lookups;
use crate::config::Config;
use crate::credentials;
use crate::lead::{LeadWatch, Leadership, Role};
use crate::metrics;
use crate::notify::Notifier;
use crate::pass::{Halt, Interruption, PassEnd, PassReport, Reaper};
use crate::queue::{Pruned, Queue};
use crate::reload;
use crate::rules;
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
    /// Stopped by a signal, or (`--once`) nothing due left pending. The daemon never ends
    /// by itself with this: any other end is an error.
    Clean,
    /// `--once` only: the pass stopped (the log says why), or this many due rows are still
    /// pending.
    Pending(i64),
}

/// SIGHUP reads `config.source` again (see [`crate::reload`]).
pub async fn run(
    config: &Config,
    options: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<RunEnd> {
    let notifier = Notifier::from_env();
    // Before anything long (a migration): from here on SIGHUP never kills the daemon.
    let configs = reload::listen(config.clone(), options.once, notifier.clone())
        .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?;
    // A dry run changes nothing: not even a queue that is not there yet is created.
    let queue = match options.dry_run {
        true => crate::cmd::open_existing(config).await?,
        false => crate::cmd::open(config).await?,
    };
    let database = queue.location();
    info!(
        database = %database,
        configuration = %config.source,
        next_wake = if options.once { "none (--once)".into() } else { next_wake(config) },
        dry_run = options.dry_run,
        "memories-reaper {} starting on database {database}: {}",
        env!("CARGO_PKG_VERSION"),
        config.summary()
    );
    for warning in config.warnings() {
        warn!("{warning}");
    }
    match credentials::load(config.api.api_key_file.as_deref()) {
        Ok((_, source)) => {
            info!("API key found in {source}");
            if let Some(warning) = credentials::exposure_warning(&source) {
                warn!("{warning}");
            }
        }
        Err(e) if !options.dry_run => warn!("{e}; passes will stop before sending anything"),
        // Sends nothing anyway; but a dry run is how a setup is tried before the real one.
        Err(e) => warn!("{e}; this dry run needs none, a real run would stop before sending"),
    }
    match queue.unreadable_due().await {
        Ok(0) => {}
        Ok(n) => warn!(
            rows = n,
            "{n} rows have a due_at that cannot be read as a time: they are never sent \
             (`status` counts them; find them with `… WHERE status IN ('pending', \
             'in_flight', 'failed')` and their due_at); queue those videos again with a \
             due_at like '2026-12-01 00:00:00'"
        ),
        Err(e) => warn!("cannot count rows with an unreadable due_at: {e}"),
    }
    // One limiter for every lookup of this process: verification's and the rules'.
    let lookups = Lookups::new(
        config.api.base_url.url(),
        config.lookup.requests_per_second.get(),
    );
    let daemon = Daemon {
        reaper: Arc::new(Reaper::new(config, queue.clone(), lookups.clone())?),
        lookups,
        queue: queue.clone(),
        config: Arc::new(config.clone()),
        dry_run: options.dry_run,
        notifier: notifier.clone(),
        idle: AtomicBool::new(false),
        logged_head: std::sync::Mutex::new(None),
    };

    // A dry run sends nothing: it needs no lease, and takes none from the daemon.
    let leadership = (!options.dry_run).then(|| {
        Leadership::start(
            queue.clone(),
            config.database.sender_lease,
            shutdown.clone(),
        )
    });

    if options.once {
        run_once(daemon, leadership, &shutdown).await
    } else {
        serve(config, daemon, leadership, configs, shutdown).await
    }
}

/// `run --once`: one pass, if this process may send now, then how many due rows are left.
async fn run_once(
    daemon: Daemon,
    mut leadership: Option<Leadership>,
    shutdown: &CancellationToken,
) -> anyhow::Result<RunEnd> {
    let mut unknown = None;
    let halt = match &mut leadership {
        None => Some(Halt::on_shutdown(shutdown)),
        Some(leadership) => match leadership.settled().await {
            Role::Leading(token) => Some(Halt::while_leading(token, shutdown)),
            Role::Standby { holder, remaining } => {
                warn!(
                    "{} sends for this database (its lease runs {} more): this run sends \
                     nothing; that daemon deletes what is due",
                    crate::printable::cut(&holder, 200),
                    humantime::format_duration(Duration::from_secs(remaining.as_secs()))
                );
                None
            }
            // Cannot know who sends (a database away, a role that may not write the
            // lease): this run cannot do its one pass, and says why.
            Role::Unknown(why) if !shutdown.is_cancelled() => {
                unknown = Some(why);
                None
            }
            Role::Unknown(_) | Role::Asking => None,
        },
    };
    let end = match halt {
        Some(halt) => {
            // On a terminal, the drain as a bar (nothing is drawn when stderr is not one).
            // A database that cannot count shows none: the pass meets the error and says it.
            let _drain = match daemon.queue.due_pending().await {
                Ok(0) | Err(_) => None,
                Ok(due) => Some(crate::progress::Drain::show(due.unsigned_abs())),
            };
            daemon.pass(&halt).await
        }
        None => None,
    };
    // The daemon says an idle pass at DEBUG; a run of one pass says its outcome anyway.
    if end.is_some() && daemon.was_idle() {
        info!("run --once: nothing was due");
    }
    let due = if daemon.dry_run {
        0
    } else {
        daemon.queue.due_pending().await?
    };
    if let Some(leadership) = leadership {
        leadership.resign().await;
    }
    daemon.queue.close().await;
    if let Some(why) = unknown {
        anyhow::bail!("cannot ask for the sender's lease, so this run sent nothing: {why}");
    }
    Ok(match end {
        Some(PassEnd::Interrupted(Interruption::Shutdown)) => RunEnd::Clean,
        // A database error can stop a pass with nothing pending: the rows it could not
        // give back (the database failing) are held until their lease expires.
        Some(PassEnd::Stopped(_)) => RunEnd::Pending(due),
        _ if due == 0 => RunEnd::Clean,
        _ => RunEnd::Pending(due),
    })
}

/// The daemon: the metrics, the schedule and the rules armed, the start-up pass, then a
/// pass at each tick (while this daemon sends), reloads between passes, until a stop
/// signal.
async fn serve(
    config: &Config,
    mut daemon: Daemon,
    mut leadership: Option<Leadership>,
    mut configs: watch::Receiver<Arc<Config>>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunEnd> {
    let (queue, notifier) = (daemon.queue.clone(), daemon.notifier.clone());
    // Bound before READY: a port in use fails the start, with one line.
    if let Some(listen) = config.metrics.listen {
        let server = metrics::Server::bind(listen).await?;
        let bound = server.local_addr().unwrap_or(listen);
        server.serve(queue.clone(), config.metrics.by_namespace, shutdown.clone());
        info!("metrics served at http://{bound}/metrics");
    }
    let running = Arc::new(Mutex::new(()));
    let schedule = &config.schedule;
    let mut ticks = Ticks::start(
        schedule.cron.clone(),
        schedule.timezone.zone(),
        running.clone(),
    )
    .await?;
    metrics::schedule(&schedule.cron, schedule.timezone.zone());
    info!(
        cron = schedule.cron.as_written(),
        timezone = %schedule.timezone.zone(),
        watchdog = ?notifier.ping_every().map(|p| p * 2),
        "schedule armed ({:?} in {}); running the start-up pass",
        schedule.cron.as_written(),
        schedule.timezone.zone()
    );
    // Lifecycle rules run beside the passes, only while this daemon sends; none on a dry
    // run (they would enqueue).
    let mut rules = match &leadership {
        Some(leadership) => Some(daemon.start_rules(leadership.watch(), &shutdown).await),
        None => {
            if !config.rule.is_empty() {
                info!(
                    "lifecycle rules do not run on a dry run (they would enqueue): `memories-reaper \
                     rules plan` shows what they match"
                );
            }
            None
        }
    };
    notifier.ready();
    // `systemctl status` shows a Status line from the start, not from the first pass's end.
    notifier.status(&format!(
        "started; first pass now, then next tick at {}",
        next_wake(config)
    ));
    // Never awaited: a tick waiting in its channel holds this lock, and a loop waiting for
    // it would never take that tick (the daemon hung, passes and watchdog pings stopped).
    // When a tick holds it, that tick runs the pass.
    if let Ok(_running) = running.clone().try_lock_owned() {
        if let Some(halt) = sender_token(&mut leadership, &shutdown, &notifier).await {
            daemon.pass(&halt).await;
        }
    }
    // Idle, the loop itself pings the watchdog: it is what would notice a tick.
    let mut watchdog = ping_timer(&notifier);
    let mut alive =
        tokio::time::interval_at(tokio::time::Instant::now() + ALIVE_EVERY, ALIVE_EVERY);
    alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        let next = next_wake(&daemon.config);
        // The first wait says when the next pass is; after an idle pass, only DEBUG does.
        let quiet = daemon.was_idle() && !first;
        first = false;
        if quiet {
            debug!(next_wake = next, "waiting for the next tick, at {next}");
        } else {
            info!(next_wake = next, "waiting for the next tick, at {next}");
        }
        let tick = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                _ = watchdog.tick() => notifier.watchdog(),
                _ = alive.tick() => daemon.alive().await,
                // A reload accepted during a pass is taken here, once the pass is over.
                Ok(()) = configs.changed() => {
                    let config = configs.borrow_and_update().clone();
                    ticks = daemon.reconfigure(config, ticks, &running).await;
                    if let (Some(service), Some(leadership)) = (rules.take(), &leadership) {
                        service.stop().await;
                        rules = Some(daemon.start_rules(leadership.watch(), &shutdown).await);
                    }
                    let next = next_wake(&daemon.config);
                    info!(next_wake = next, "waiting for the next tick, at {next}");
                }
                tick = ticks.next() => break tick,
                // A standby that takes the lease over runs a pass at once: what the
                // leader it follows left due waits no longer than that.
                Role::Leading(token) = took_over(&mut leadership) => {
                    // As at the start: a tick on its way (holding the lock) runs it.
                    if let Ok(_running) = running.clone().try_lock_owned() {
                        info!("took over sending: running a pass now");
                        daemon.pass(&Halt::while_leading(token, &shutdown)).await;
                    }
                }
            }
        };
        let Some(tick) = tick else {
            if shutdown.is_cancelled() {
                break;
            }
            // Only a stop signal ends the daemon cleanly: an exit 0 here would look like a
            // clean stop to systemd (`Restart=on-failure`), and deletions would stop for good.
            notifier.stopping();
            if let Some(rules) = rules {
                rules.stop().await;
            }
            if let Some(leadership) = leadership {
                leadership.resign().await;
            }
            queue.close().await;
            anyhow::bail!(
                "the schedule {:?} stopped giving ticks (it matches no time from now on): no \
                 pass would ever run again, so the daemon stops with an error; fix \
                 [schedule] cron (`memories-reaper check --next 5`) and start it again",
                daemon.config.schedule.cron.as_written()
            );
        };
        debug!(tick = %tick.at.to_rfc3339(), "tick");
        let _running = tick.running;
        match leadership.as_ref().map(Leadership::token) {
            None => daemon.pass(&Halt::on_shutdown(&shutdown)).await,
            Some(Some(token)) => daemon.pass(&Halt::while_leading(token, &shutdown)).await,
            Some(None) => {
                debug!("standing by: no pass at this tick");
                daemon.idle.store(true, Ordering::Relaxed);
                None
            }
        };
    }
    notifier.stopping();
    ticks.stop().await;
    if let Some(rules) = rules {
        rules.stop().await;
    }
    if let Some(leadership) = leadership {
        leadership.resign().await;
    }
    queue.close().await;
    info!("stopped");
    Ok(RunEnd::Clean)
}

/// How often a daemon between passes says it is alive (at INFO; idle passes log at DEBUG).
const ALIVE_EVERY: Duration = Duration::from_secs(3600);

/// What the start-up pass runs under: the shutdown on a dry run, the lease too when this
/// daemon leads; `None` when it stands by. The watchdog is pinged while the first
/// answer is awaited (a new sender waits a second before it sends): that is no hang.
async fn sender_token(
    leadership: &mut Option<Leadership>,
    shutdown: &CancellationToken,
    notifier: &Notifier,
) -> Option<Halt> {
    let leadership = match leadership {
        None => return Some(Halt::on_shutdown(shutdown)),
        Some(leadership) => leadership,
    };
    let mut watchdog = ping_timer(notifier);
    loop {
        tokio::select! {
            role = leadership.settled() => return match role {
                Role::Leading(token) => Some(Halt::while_leading(token, shutdown)),
                _ => None,
            },
            _ = watchdog.tick() => notifier.watchdog(),
        }
    }
}

/// The next change of role; never, on a dry run.
async fn took_over(leadership: &mut Option<Leadership>) -> Role {
    match leadership {
        Some(leadership) => leadership.changed().await,
        None => std::future::pending().await,
    }
}

fn next_wake(config: &Config) -> String {
    let schedule = &config.schedule;
    match schedule
        .cron
        .next_after(Utc::now(), schedule.timezone.zone())
    {
        Some(t) => t.to_rfc3339(),
        None => "never".into(),
    }
}

/// A timer for watchdog pings; one that never fires when there is no watchdog.
fn ping_timer(notifier: &Notifier) -> tokio::time::Interval {
    // Without a watchdog, a period no daemon outlives.
    let period = notifier
        .ping_every()
        .unwrap_or(Duration::from_secs(100 * 365 * 24 * 3600));
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

/// The daemon's state: what runs at each tick (one pass of the `Reaper`, the rules),
/// built from the configuration in use.
struct Daemon {
    reaper: Arc<Reaper>,
    /// Kept across reloads that leave the API and the lookups' rate alone.
    lookups: Arc<Lookups>,
    queue: Queue,
    config: Arc<Config>,
    dry_run: bool,
    notifier: Notifier,
    /// The last pass did nothing (its lines, and the wait after it, go to DEBUG).
    idle: AtomicBool,
    /// The chain's head as last logged: logged again only when it moves.
    logged_head: std::sync::Mutex<Option<(i64, String)>>,
}

impl Daemon {
    /// Whether the last pass did nothing.
    fn was_idle(&self) -> bool {
        self.idle.load(Ordering::Relaxed)
    }

    /// Once an hour between passes: the daemon is alive, and how deep the queue is.
    async fn alive(&self) {
        let next = next_wake(&self.config);
        match self.queue.due_pending().await {
            Ok(due) => info!(
                due,
                next_wake = next,
                "alive: {} due; next tick at {next}",
                crate::printable::count(due.unsigned_abs(), "row is", "rows are")
            ),
            Err(e) => warn!("alive, but cannot count the rows due: {e}"),
        }
    }

    /// Takes a reloaded configuration: the next pass runs on it, with a schedule armed
    /// afresh if the rule or its zone changed. Called between passes only.
    async fn reconfigure(
        &mut self,
        config: Arc<Config>,
        ticks: Ticks,
        running: &Arc<Mutex<()>>,
    ) -> Ticks {
        // A new sender name: the new API client's rate limit then counts the requests
        // this process sent just before, as it counts another daemon's.
        let lookups = Lookups::carried(
            &self.lookups,
            config.api.base_url.url(),
            config.lookup.requests_per_second.get(),
        );
        match Reaper::new(&config, self.queue.under_new_sender(), lookups.clone()) {
            Ok(reaper) => {
                self.reaper = Arc::new(reaper);
                self.lookups = lookups;
            }
            Err(e) => {
                error!(
                    "reload: cannot build the API client ({e}); the configuration in use is kept"
                );
                return ticks;
            }
        }
        let old = std::mem::replace(&mut self.config, config.clone());
        let (old, new) = (&old.schedule, &config.schedule);
        if old.cron.as_written() == new.cron.as_written()
            && old.timezone.zone() == new.timezone.zone()
        {
            return ticks;
        }
        match Ticks::start(new.cron.clone(), new.timezone.zone(), running.clone()).await {
            Ok(rearmed) => {
                ticks.stop().await;
                metrics::schedule(&new.cron, new.timezone.zone());
                info!(
                    cron = new.cron.as_written(),
                    timezone = %new.timezone.zone(),
                    "schedule armed afresh: {:?} in {}",
                    new.cron.as_written(),
                    new.timezone.zone()
                );
                rearmed
            }
            Err(e) => {
                error!("reload: cannot arm the new schedule ({e}); the old one stays");
                ticks
            }
        }
    }

    /// The lifecycle rules of the configuration in use, on this pass's lookups.
    async fn start_rules(&self, lead: LeadWatch, shutdown: &CancellationToken) -> rules::Service {
        let runner = rules::Runner::new(&self.config, self.queue.clone(), self.reaper.catalogue());
        rules::Service::start(&self.config, runner, lead, shutdown).await
    }

    /// One pass behind a panic boundary: a bug in a pass is logged and the daemon goes on;
    /// the rows that pass held are given back by its claims' guards as they drop (or come
    /// back when their lease runs out, if the database cannot take them). Then the
    /// retention.
    async fn pass(&self, halt: &Halt) -> Option<PassEnd> {
        if let Err(e) = self.queue.still_current().await {
            error!("{e}; this daemon sends nothing until it runs that version (restart it)");
            return Some(PassEnd::Stopped(e.to_string()));
        }
        let reaper = self.reaper.clone();
        let halt = halt.clone();
        let dry_run = self.dry_run;
        let mut work = tokio::spawn(async move {
            if !dry_run {
                return reaper.run_pass(&halt).await;
            }
            match reaper.dry_run_pass().await {
                Ok(_) => (PassEnd::Drained, PassReport::default()),
                Err(e) => (PassEnd::Stopped(e.to_string()), PassReport::default()),
            }
        });
        // During the pass the watchdog is pinged only while the pass shows progress: a
        // pass that hangs stops the pings, and systemd restarts the daemon.
        let liveness = self.reaper.liveness();
        liveness.beat();
        let mut watchdog = ping_timer(&self.notifier);
        let done = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = watchdog.tick() => {
                    if self.notifier.ping_every().is_some_and(|p| liveness.since_last_beat() < p * 2) {
                        self.notifier.watchdog();
                    }
                }
            }
        };
        let end = match done {
            Ok((end, report)) => {
                let idle = report.idle() && matches!(end, PassEnd::Drained);
                self.idle.store(idle, Ordering::Relaxed);
                self.report_status(&end, &report).await;
                Some(end)
            }
            Err(e) => {
                self.idle.store(false, Ordering::Relaxed);
                error!("the pass panicked ({e}); the rows it held are given back to the queue");
                None
            }
        };
        // Stopping: nothing more waits on the database (with it away, each of these would
        // wait busy_timeout + 5 s, past TimeoutStopSec). The next start logs the head.
        if matches!(end, Some(PassEnd::Interrupted(Interruption::Shutdown))) {
            return end;
        }
        // A copy of the chain's head outside the database (journald can seal its files).
        // Logged when it moved (and at the first pass): the same head again says nothing.
        if let Ok((chain_seq, chain_head)) = self.queue.chain_head().await {
            let head = Some((chain_seq, chain_head.clone()));
            let moved = match self.logged_head.lock() {
                Ok(mut logged) if *logged != head => {
                    *logged = head;
                    true
                }
                _ => false,
            };
            if moved {
                info!(
                    chain_seq,
                    chain_head, "settlement chain head: entry {chain_seq}, hash {chain_head}"
                );
            }
        }
        if let (Some(keep), false) = (self.config.retention.keep, self.dry_run) {
            let pruned = self.queue.prune(Utc::now() - keep).await;
            match &pruned {
                Ok(p) if p.rows + p.batches > 0 => info!(
                    rows = p.rows,
                    batches = p.batches,
                    "retention: removed {} settled rows and {} batch records older than {}",
                    p.rows,
                    p.batches,
                    humantime::format_duration(keep)
                ),
                Ok(_) => {}
                Err(e) => warn!("retention: {e}"),
            }
            // The anchor with the head, into the journal: an anchor moved later by hand
            // no longer matches this line.
            if let Ok(Pruned {
                anchor: Some((anchor_seq, anchor_hash)),
                ..
            }) = &pruned
            {
                if let Ok((chain_seq, chain_head)) = self.queue.chain_head().await {
                    info!(
                        anchor_seq,
                        anchor_hash,
                        chain_seq,
                        chain_head,
                        "retention: the settlement chain now starts after entry {anchor_seq}, \
                         whose hash was {anchor_hash}; its head is entry {chain_seq}, hash \
                         {chain_head}"
                    );
                }
            }
        }
        end
    }

    /// STATUS= for `systemctl status`: the queue's depth and the last pass's totals.
    async fn report_status(&self, end: &PassEnd, report: &PassReport) {
        let due = match self.queue.due_pending().await {
            Ok(n) => n.to_string(),
            Err(_) => "unknown".into(),
        };
        let how = match end {
            PassEnd::Drained => "finished",
            PassEnd::Stopped(_) => "stopped",
            PassEnd::Interrupted(_) => "interrupted",
        };
        self.notifier.status(&format!(
            "{due} due rows pending; last pass {how}: {}, {} deleted, {} failed",
            crate::printable::count(report.requests, "request", "requests"),
            report.deleted,
            report.failed
        ));
    }
}
