//! One pass over the queue: claim due rows, send them in batches, record and settle.
//!
//! From the outside in: [`Reaper::run_pass`] runs `api.concurrency` workers until nothing
//! is due or the pass must stop; `step` claims one batch and works it to the end; `send`
//! makes the requests for one
//! set of ids until an answer settles or splits them. Every request is recorded before it
//! goes out and its answer after; rows are settled in the same transaction as the answer.
//!
//! The decisions live in two places of their own: [`decide`] says what an answer means
//! (retry, confirm, split, settle, stop), and [`isolate`] splits a refused batch. A claim is
//! held by a [`lease::ClaimGuard`] guard exactly as long as the worker holds its rows. The API
//! and the queue are reached through the traits `api::DeleteApi`, `api::LookupApi` and `queue::Store`, so that tests drive the
//! pass in-process with a scripted API.

mod decide;
mod dry_run;
mod isolate;
mod journal;
mod lease;
#[cfg(test)]
mod tests;
mod verify;
mod window;

pub use crate::api::{DeleteApi, LookupApi};
pub use crate::queue::Store;
pub use crate::queue::{Check, Checked, Miss, Settled, Unchecked};

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Answer};
use crate::backoff::Backoff;
use crate::config::{Config, V1_2_DELETE_PATH};
use crate::credentials::{self, ApiKey};
use crate::notify::Liveness;
use crate::queue::{ClaimedRow, Queue, QueueError, RequestRecord, RowsEffect, Started};
use crate::video::{Namespace, VideoNo, VideoNoRule};
use crate::vocabulary::RowStatus;
use decide::{decide, Action, Situation};
use isolate::Isolation;
use lease::ClaimGuard;
use window::{Place, Room, Window};

/// A pass starts at full speed (no probe request first) when the last request anyone
/// recorded was answered with success this recently.
const WARM_FOR: Duration = Duration::from_secs(600);

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassEnd {
    /// Nothing due is left unclaimed.
    Drained,
    /// Stopped early (key, account, outage, database); the rows it held are pending again
    /// (or, when the database could not take them back, once their lease runs out).
    Stopped(String),
    /// Halted from outside; what was claimed but not sent is pending again.
    Interrupted(Interruption),
}

/// What halted a pass from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// The daemon is stopping.
    Shutdown,
    /// This daemon lost the sender's lease (`lead`): another one sends now.
    LeaseLost,
}

/// What a pass runs under: cancelled when the daemon stops, or when it must stop sending
/// (its sender's lease could not be renewed). The pass's last line says which.
#[derive(Debug, Clone)]
pub struct Halt {
    token: CancellationToken,
    shutdown: CancellationToken,
}

impl Halt {
    /// Halted by the daemon's shutdown only (a dry run sends nothing and needs no lease).
    pub fn on_shutdown(shutdown: &CancellationToken) -> Self {
        Self {
            token: shutdown.clone(),
            shutdown: shutdown.clone(),
        }
    }

    /// Halted by the shutdown, or by `lease` (a child of it) when the lease is lost.
    pub fn while_leading(lease: CancellationToken, shutdown: &CancellationToken) -> Self {
        Self {
            token: lease,
            shutdown: shutdown.clone(),
        }
    }

    /// Why the pass was halted; `None` while it runs on.
    fn interruption(&self) -> Option<Interruption> {
        if !self.token.is_cancelled() {
            None
        } else if self.shutdown.is_cancelled() {
            Some(Interruption::Shutdown)
        } else {
            Some(Interruption::LeaseLost)
        }
    }
}

/// Totals of one pass, for its log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassReport {
    pub requests: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Not in their namespace, looked up twice: nothing to delete.
    pub absent: u64,
    pub released: u64,
    /// A claim's rows could not be given back (the database failing): they return to
    /// `pending` when their lease runs out.
    pub stranded: bool,
}

impl PassReport {
    /// Nothing happened: no request, no row settled or given back.
    pub fn idle(&self) -> bool {
        self.requests + self.deleted + self.failed + self.absent + self.released == 0
            && !self.stranded
    }

    /// Rows settled `status` (deleted, failed or absent): counted here and in the metrics
    /// at once, so that a long pass's failures show before it ends.
    fn settled(&mut self, status: RowStatus, rows: u64) {
        match status {
            RowStatus::Deleted => self.deleted += rows,
            RowStatus::Failed => self.failed += rows,
            RowStatus::Absent => self.absent += rows,
            _ => return,
        }
        crate::metrics::rows_settled(status, rows);
        crate::progress::settled(rows);
    }

    fn add(&mut self, other: &PassReport) {
        self.requests += other.requests;
        self.deleted += other.deleted;
        self.failed += other.failed;
        self.absent += other.absent;
        self.released += other.released;
        self.stranded |= other.stranded;
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing was due.
    Idle,
    /// A batch was claimed and worked to the end.
    Worked,
    Stopped(String),
    Interrupted,
}

/// One claim's valid ids of one namespace at work: what each of their lookups and
/// requests needs.
struct Claimed<'a, S: Store> {
    guard: &'a ClaimGuard<S>,
    namespace: &'a Namespace,
    key: &'a ApiKey,
    halt: &'a CancellationToken,
    /// When the lookup before sending listed the ids to send; `None`: not looked up.
    listed: Option<Instant>,
}

// By hand: a derive would ask `S: Copy` of the store, of which only a reference is held.
impl<S: Store> Clone for Claimed<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Store> Copy for Claimed<'_, S> {}

/// How sending one set of ids ended.
enum Sent {
    Deleted,
    /// A lone id refused `isolation.confirmations` times.
    Failed,
    /// Refused as a whole: split it.
    Split,
    /// The pass must stop (and `halt` is cancelled).
    Stop(String),
    Interrupted,
    /// The claim's lease ran out before the request could go: not sent.
    Lost,
    /// A legal hold was placed on some of the ids since the claim: not sent.
    Held,
}

/// Rows of one namespace sorted by [`Reaper::triage`].
struct Triage {
    /// `None` when the namespace itself cannot be sent: then every row is in `invalid`.
    namespace: Option<Namespace>,
    /// Distinct, valid, in queue order.
    ids: Vec<VideoNo>,
    /// Refusals counted on each id's rows (the most of any of its rows).
    refusals: HashMap<VideoNo, u32>,
    /// Row id and why it fails without being sent.
    invalid: Vec<(i64, String)>,
    /// What a lookup needs to know of the ids' rows.
    known: verify::Known,
}

impl Triage {
    fn fail_all(rows: &[ClaimedRow], reason: &str) -> Self {
        Self {
            namespace: None,
            ids: Vec::new(),
            refusals: HashMap::new(),
            invalid: rows.iter().map(|r| (r.id, reason.to_owned())).collect(),
            known: verify::Known::default(),
        }
    }
}

/// Everything a pass needs; one per process.
pub struct Reaper<A = api::Client, S = Queue> {
    store: S,
    api: A,
    rule: VideoNoRule,
    batch_size: usize,
    /// Workers per pass (`api.concurrency`): the most claims held at once.
    concurrency: usize,
    /// How many requests may be in flight now, and claims held: what the round trips
    /// need, within `concurrency`.
    window: Window,
    max_attempts: u32,
    confirmations: u32,
    backoff: Backoff,
    /// How long a claim holds its rows without renewal ([`Config::lease`]). A live
    /// worker's claim is renewed by its `ClaimGuard`, whatever it is waiting for.
    lease: Duration,
    api_key_file: Option<std::path::PathBuf>,
    /// Looking before deleting, and what it keeps for one pass.
    verify: verify::Verifier,
    /// Touched whenever the pass makes progress; the watchdog reads it.
    liveness: Liveness,
}

impl Reaper {
    /// `lookups`: the process's (`api::Lookups`), shared with the lifecycle rules.
    pub fn new(
        config: &Config,
        queue: Queue,
        lookups: std::sync::Arc<api::Lookups>,
    ) -> Result<Self, api::ClientError> {
        Ok(Self::with(
            config,
            api::Client::new(&config.api, lookups)?,
            queue,
        ))
    }

    /// The listing calls on this pass's lookups and their limiter, for the rules.
    pub fn catalogue(&self) -> api::Catalogue {
        self.api.catalogue()
    }
}

impl<A: DeleteApi + LookupApi, S: Store> Reaper<A, S> {
    /// A reaper over any API and queue: the daemon's, or a test's.
    pub fn with(config: &Config, api: A, store: S) -> Self {
        Self {
            api,
            store,
            rule: config.batch.video_no_pattern.clone(),
            batch_size: config.batch.size.get(),
            concurrency: config.api.concurrency.get(),
            window: Window::new(
                config.api.concurrency.get(),
                f64::from(config.api.requests_per_second.get()),
            ),
            max_attempts: config.retry.max_attempts,
            confirmations: config.isolation.confirmations.get(),
            backoff: Backoff::new(&config.retry),
            lease: config.lease(),
            api_key_file: config.api.api_key_file.clone(),
            verify: verify::Verifier::new(&config.verify),
            liveness: Liveness::default(),
        }
    }

    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// Runs `api.concurrency` workers until nothing is due, or the pass must stop. Each
    /// claims and works its own batches, so several requests can be in flight while the
    /// rate limit, shared by all, keeps their pace. A worker that must stop the pass (key
    /// refused, outage, database) halts the others: they finish the request in flight
    /// and give back what they hold.
    pub async fn run_pass(&self, outside: &Halt) -> (PassEnd, PassReport) {
        let outer = &outside.token;
        let started = std::time::Instant::now();
        self.liveness.beat();
        self.verify.begin_pass().await;
        // Cold (the API not heard answering well lately): one request first (a probe), so
        // that a refused key or a dead API sees one request, not `concurrency`; then the
        // first seconds evenly spaced, so that an unknown quota sees one at a time. Warm:
        // full speed at once.
        let last = self.store.last_good_answer(WARM_FOR).await.ok().flatten();
        let warm = last.is_some();
        if let Some(round_trip) = last {
            // Sized by that answer's round trip until this process measures its own.
            self.window.warm(round_trip, self.api.rate());
        } else {
            self.window.probe();
            self.api.cold_start();
        }
        // Cold, the lookups' first seconds spaced evenly too: eight workers looking up at
        // once met the quota in a burst, before any answer had shown the pace it takes.
        // Warm, they start together as the deletions do: spaced, they spread the batches'
        // sends over the first second, and the rolling window keeps that spread.
        if self.verify.looks() && !warm {
            self.api.cold_start_lookups();
        }
        let mut report = PassReport::default();
        let mut stopped = None;
        // First the deletions due a second look (`[verify] after`); without a key the
        // workers stop the pass and say why.
        if self.verify.check_after().is_some() {
            if let Ok((key, _)) = credentials::load(self.api_key_file.as_deref()) {
                if let Err(e) = self.look_after(&key, outer, &mut report).await {
                    stopped = Some(e.to_string());
                }
            }
        }
        let halt = outer.child_token();
        if stopped.is_some() {
            halt.cancel();
        }
        let ends = join_all((0..self.concurrency).map(|_| self.worker(&halt))).await;
        for (stop, worked) in ends {
            report.add(&worked);
            if let Some(reason) = stop {
                stopped.get_or_insert(reason);
            }
        }
        let end = match (stopped, outside.interruption()) {
            (Some(reason), _) => PassEnd::Stopped(reason),
            (None, Some(why)) => PassEnd::Interrupted(why),
            (None, None) => PassEnd::Drained,
        };
        journal::pass_end(&end, &report, self.lease, started.elapsed());
        (end, report)
    }

    /// Steps until nothing is due or the pass is halted. The key is read once per worker
    /// and pass, when there is something to send.
    /// Returns why it stopped the pass, if it did.
    async fn worker(&self, halt: &CancellationToken) -> (Option<String>, PassReport) {
        let mut report = PassReport::default();
        let mut key = None;
        let stopped = loop {
            match self.step(&mut key, halt, &mut report).await {
                Step::Worked => continue,
                Step::Idle | Step::Interrupted => break None,
                Step::Stopped(reason) => {
                    halt.cancel();
                    break Some(reason);
                }
            }
        };
        (stopped, report)
    }

    /// Claims one batch and works it to the end. `halt` is cancelled on shutdown, and by
    /// this step itself when the pass must stop (a refused key, an outage outlasting the
    /// retries), so that no other worker sends another request.
    async fn step(
        &self,
        key: &mut Option<ApiKey>,
        halt: &CancellationToken,
        report: &mut PassReport,
    ) -> Step {
        if halt.is_cancelled() {
            return Step::Interrupted;
        }
        match self.claim_and_work(key, halt, report).await {
            Ok(step) => step,
            // A database error stops the pass; the claim's guard, dropped, gives its rows
            // back (or their lease runs out if the database cannot take them).
            Err(e) => Step::Stopped(e.to_string()),
        }
    }

    async fn claim_and_work(
        &self,
        key: &mut Option<ApiKey>,
        halt: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<Step, QueueError> {
        // No more claims held than an open window's places: rows are not leased (and
        // looked up) long before their turn to be sent.
        let Some(_room) = self.claim_room(halt).await else {
            return Ok(Step::Interrupted);
        };
        let taken = self.store.take_back_expired().await?;
        if taken > 0 {
            tracing::warn!(
                rows = taken,
                "took back {taken} rows whose lease expired (their holder stopped) or was \
                 never granted by memories-reaper (see their last_error)"
            );
        }
        let Some(claim) = self.store.claim(self.claim_size(), self.lease).await? else {
            return Ok(Step::Idle);
        };
        let guard = ClaimGuard::new(self.store.clone(), claim.token, self.lease);
        if claim.held > 0 {
            journal::held_at_claim(claim.namespace.as_deref(), claim.held);
        }
        if claim.settled_before > 0 {
            tracing::info!(
                rows = claim.settled_before,
                "{} queued again for videos already deleted: settled from that deletion, not \
                 sent",
                crate::printable::count(claim.settled_before, "row", "rows")
            );
            report.settled(RowStatus::Deleted, claim.settled_before);
            self.liveness.beat();
        }
        let worked = self
            .work(
                &guard,
                claim.namespace.as_deref(),
                &claim.rows,
                key,
                halt,
                report,
            )
            .await;
        let reason = match &worked {
            Ok(Step::Stopped(reason)) => Some(reason.as_str()),
            _ => None,
        };
        // Whatever the claim still holds (nothing, when every row was settled), also
        // after a database error: it may have been a moment's (a lock's timeout).
        match guard.release(reason).await {
            Ok(rows) => report.released += rows,
            Err(e) => {
                report.stranded = true;
                if worked.is_ok() {
                    return Err(e);
                }
            }
        }
        worked
    }

    /// Rows a claim takes: looking first, as many batches as one lookup covers (two by
    /// default: one lookup for both halves the lookups verification needs); else one.
    fn claim_size(&self) -> usize {
        match self.verify.before() {
            true => self.batch_size * (self.api.ids_per_lookup() / self.batch_size).max(1),
            false => self.batch_size,
        }
    }

    /// Works the rows of one claim: fails the invalid ones, sends the rest in batches,
    /// splitting what the API refuses until the refused ids stand alone.
    async fn work(
        &self,
        guard: &ClaimGuard<S>,
        namespace: Option<&str>,
        rows: &[ClaimedRow],
        key: &mut Option<ApiKey>,
        halt: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<Step, QueueError> {
        let triage = self.triage(namespace, rows);
        if !triage.invalid.is_empty() {
            self.store
                .fail_unsent(guard.token(), &triage.invalid)
                .await?;
            for (row, reason) in &triage.invalid {
                journal::row_failed_unsent(*row, namespace.unwrap_or("(not valid text)"), reason);
            }
            report.settled(RowStatus::Failed, triage.invalid.len() as u64);
            self.liveness.beat();
        }
        let Some(namespace) = triage.namespace.filter(|_| !triage.ids.is_empty()) else {
            return Ok(Step::Worked);
        };
        let key = match key {
            Some(key) => &*key,
            None => match credentials::load(self.api_key_file.as_deref()) {
                Ok((found, _source)) => &*key.insert(found),
                Err(e) => return Ok(Step::Stopped(e.to_string())),
            },
        };
        let mut claimed = Claimed {
            guard,
            namespace: &namespace,
            key,
            halt,
            listed: None,
        };
        let ids = if self.verify.before() {
            let looked = self
                .look_before(&claimed, triage.ids, &triage.known, report)
                .await?;
            match looked {
                verify::Looked::Send { ids, listed } => {
                    claimed.listed = listed;
                    ids
                }
                verify::Looked::Stop(reason) => return Ok(Step::Stopped(reason)),
                verify::Looked::Interrupted => return Ok(Step::Interrupted),
            }
        } else {
            triage.ids
        };
        if ids.is_empty() {
            return Ok(Step::Worked);
        }
        // The batches of the claim go out side by side (each waits for its place and
        // its turn), each split on its own when refused.
        let batches = ids.chunks(self.batch_size).map(|batch| {
            let mut part = PassReport::default();
            let refusals = &triage.refusals;
            async move {
                let step = self.send_batch(&claimed, batch, refusals, &mut part).await;
                (step, part)
            }
        });
        let mut step = Ok(Step::Worked);
        for (ended, part) in join_all(batches).await {
            report.add(&part);
            step = match (step, ended) {
                (Err(e), _) | (_, Err(e)) => Err(e),
                (Ok(Step::Stopped(reason)), _) | (_, Ok(Step::Stopped(reason))) => {
                    Ok(Step::Stopped(reason))
                }
                (Ok(Step::Interrupted), _) | (_, Ok(Step::Interrupted)) => Ok(Step::Interrupted),
                (Ok(step), _) => Ok(step),
            };
        }
        step
    }

    /// Sends one batch of a claim, splitting what the API refuses until the refused ids
    /// stand alone.
    async fn send_batch(
        &self,
        claimed: &Claimed<'_, S>,
        ids: &[VideoNo],
        refusals: &HashMap<VideoNo, u32>,
        report: &mut PassReport,
    ) -> Result<Step, QueueError> {
        let mut isolation = Isolation::new(ids.to_vec());
        while let Some(next) = isolation.next() {
            if claimed.halt.is_cancelled() {
                return Ok(Step::Interrupted);
            }
            let lone_refusals = match next.ids.as_slice() {
                [id] => refusals.get(id).copied().unwrap_or(0),
                _ => 0,
            };
            let sent = self
                .send(claimed, &next.ids, next.confirmed, lone_refusals, report)
                .await?;
            match sent {
                Sent::Deleted => isolation.went_through(),
                Sent::Failed => isolation.failed(),
                Sent::Split => isolation.split(),
                Sent::Stop(reason) => return Ok(Step::Stopped(reason)),
                Sent::Interrupted => return Ok(Step::Interrupted),
                Sent::Lost => {
                    journal::claim_lost(claimed.namespace, next.ids.len());
                    return Ok(Step::Worked);
                }
                // The claim's other rows go back to pending with its release, and the
                // next claim takes them without the held ones.
                Sent::Held => return Ok(Step::Worked),
            }
        }
        Ok(Step::Worked)
    }

    /// Sorts the rows of one namespace into the distinct ids to send and the rows to fail
    /// unsent (an invalid video number, or a namespace that cannot be addressed).
    fn triage(&self, namespace: Option<&str>, rows: &[ClaimedRow]) -> Triage {
        let parsed = namespace
            .ok_or_else(|| "invalid namespace: unique_id is not valid text".to_owned())
            .and_then(Namespace::parse);
        let namespace = match parsed {
            Ok(ns) if self.api.can_address(&ns) => ns,
            Ok(ns) => {
                let reason = format!(
                    "namespace {ns:?} cannot be sent through the v1.1 path, which knows no \
                     namespaces; set api.delete_path to {V1_2_DELETE_PATH:?}"
                );
                return Triage::fail_all(rows, &reason);
            }
            Err(reason) => return Triage::fail_all(rows, &reason),
        };
        let mut triage = Triage {
            namespace: Some(namespace),
            ids: Vec::new(),
            refusals: HashMap::new(),
            invalid: Vec::new(),
            known: verify::Known::default(),
        };
        let mut seen = HashSet::new();
        for row in rows {
            match row.video_no.as_deref().map(|v| self.rule.parse(v)) {
                Some(Ok(id)) => {
                    let refusals = u32::try_from(row.refusals.max(0)).unwrap_or(u32::MAX);
                    let most = triage.refusals.entry(id.clone()).or_default();
                    *most = (*most).max(refusals);
                    // Any row in doubt puts the video in doubt; the earliest miss counts.
                    if row.in_doubt {
                        triage.known.in_doubt.insert(id.clone());
                    }
                    if let Some(missed) = row.first_missed {
                        let first = triage
                            .known
                            .first_missed
                            .entry(id.clone())
                            .or_insert(missed);
                        *first = (*first).min(missed);
                    }
                    if seen.insert(id.clone()) {
                        triage.ids.push(id);
                    }
                }
                Some(Err(e)) => triage.invalid.push((row.id, e.to_string())),
                None => triage
                    .invalid
                    .push((row.id, "invalid video number: not valid text".to_owned())),
            }
        }
        triage
    }

    /// Sends one set of ids until an answer settles them or says to split them: transient
    /// failures and unconfirmed refusals are sent again after a backoff.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        claimed: &Claimed<'_, S>,
        ids: &[VideoNo],
        confirmed: bool,
        refusals: u32,
        report: &mut PassReport,
    ) -> Result<Sent, QueueError> {
        let Claimed {
            guard,
            namespace,
            key,
            halt,
            listed,
        } = *claimed;
        // Held through the retries: while the API is in trouble, one request at a time.
        let Some(_place) = self.enter_window(halt).await else {
            return Ok(Sent::Interrupted);
        };
        let mut situation = Situation {
            failures: 0,
            max_attempts: self.max_attempts,
            lone: ids.len() == 1,
            refusals,
            confirmations: self.confirmations,
            confirmed,
        };
        for attempt in 1u32.. {
            let Some(turn) = self.turn(halt).await? else {
                return Ok(Sent::Interrupted);
            };
            let batch = match self
                .store
                .start_request(guard.token(), namespace, ids, attempt, listed, self.lease)
                .await?
            {
                Started::Request(batch) => batch,
                Started::Lost => return Ok(Sent::Lost),
                Started::Held(rows) => {
                    journal::held_before_sending(namespace, ids.len(), rows);
                    return Ok(Sent::Held);
                }
            };
            report.requests += 1;
            let answer = self.api.delete(turn, key, namespace, ids).await;
            self.liveness.beat();
            let action = decide(&answer.verdict, &situation);
            let effect = effect(action, &answer, &situation, self.verify.check_after());
            let rows = self
                .store
                .finish_request(guard.token(), batch, ids, &record(&answer), &effect)
                .await?;
            journal::request(batch, namespace, ids.len(), attempt, &answer);
            if action.api_is_well() {
                self.window.answered(answer.duration, self.api.rate());
            } else {
                self.window.narrow();
            }
            let delay = match action {
                Action::Deleted => {
                    report.settled(RowStatus::Deleted, rows);
                    return Ok(Sent::Deleted);
                }
                Action::Failed => {
                    if let (RowsEffect::Failed(reason), [id]) = (&effect, ids) {
                        journal::video_failed(batch, namespace, id, reason);
                    }
                    report.settled(RowStatus::Failed, rows);
                    return Ok(Sent::Failed);
                }
                Action::Split => return Ok(Sent::Split),
                Action::GiveUp => {
                    halt.cancel();
                    return Ok(Sent::Stop(format!(
                        "{} (after {} attempts)",
                        answer.reason,
                        situation.failures + 1
                    )));
                }
                Action::Stop => {
                    // Before the place in the window is given up: no other worker sends.
                    halt.cancel();
                    return Ok(Sent::Stop(answer.reason));
                }
                Action::Retry { retry_after } => {
                    situation.failures += 1;
                    self.backoff.delay(situation.failures, retry_after)
                }
                Action::Confirm => {
                    if situation.lone {
                        situation.refusals = situation.refusals.saturating_add(1);
                    } else {
                        situation.confirmed = true;
                    }
                    self.backoff.delay(situation.refusals.max(1), None)
                }
            };
            tokio::select! {
                _ = halt.cancelled() => return Ok(Sent::Interrupted),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        // `1u32..` ends only past u32::MAX attempts, which `max_attempts` stops long before.
        Ok(Sent::Stop("too many attempts".into()))
    }

    /// Waits for the rate limit's leave to send; `None`: halted. Requests of other
    /// processes on this database (another daemon on the same account, or this one's
    /// predecessor) count against the rate, so that together they stay within it: looked
    /// up after each wait (the last look was at the previous request's turn), and if they
    /// sent meanwhile, waited for again. Not looked up before the wait as well: that cost a
    /// read a request, to save the one turn a restart or a takeover gives up.
    async fn turn(&self, halt: &CancellationToken) -> Result<Option<A::Turn>, QueueError> {
        loop {
            let turn = tokio::select! {
                biased;
                _ = halt.cancelled() => return Ok(None),
                turn = self.api.wait_turn() => turn,
            };
            if !self.api.count_others(self.store.others_requests().await?) {
                return Ok(Some(turn));
            }
            // Someone else sent while this waited: wait again (the leave given up still
            // counts as sent, which only errs on the slow side).
        }
    }

    /// Waits for room in the window to hold one more claim; `None`: halted.
    async fn claim_room(&self, halt: &CancellationToken) -> Option<Room<'_>> {
        tokio::select! {
            biased;
            _ = halt.cancelled() => None,
            room = self.window.claim() => Some(room),
        }
    }

    /// Waits for a place in the window; `None`: halted. The claim's guard keeps its lease
    /// meanwhile (another worker may hold the only place through a long run of retries).
    async fn enter_window(&self, halt: &CancellationToken) -> Option<Place<'_>> {
        tokio::select! {
            // A halt comes first: the worker that stopped the pass gives its place up
            // right after halting it.
            biased;
            _ = halt.cancelled() => None,
            place = self.window.enter() => Some(place),
        }
    }
}

/// What an action does to the rows of the request.
fn effect(
    action: Action,
    answer: &Answer,
    situation: &Situation,
    check_after: Option<Duration>,
) -> RowsEffect {
    let refused = action.counts_refusal(situation, &answer.verdict);
    let times = situation.refusals.saturating_add(1);
    match action {
        Action::Deleted => RowsEffect::Deleted { check_after },
        Action::Failed => RowsEffect::Failed(format!("{} (refused {times} times)", answer.reason)),
        Action::Confirm if refused => RowsEffect::Kept {
            note: format!(
                "{} (refused {times} of the {} times that fail it)",
                answer.reason, situation.confirmations
            ),
            refused,
        },
        _ => RowsEffect::Kept {
            note: answer.reason.clone(),
            refused,
        },
    }
}

fn record(answer: &Answer) -> RequestRecord {
    RequestRecord {
        outcome: answer.verdict.outcome(),
        http_status: answer.http_status,
        api_code: answer.code.clone(),
        api_msg: answer.msg.clone(),
        error: (answer.verdict != api::Verdict::Deleted).then(|| answer.reason.clone()),
        duration: answer.duration,
    }
}
