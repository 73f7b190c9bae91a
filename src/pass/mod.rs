//! One pass over the queue: claim due rows, send them in batches, record and settle.
//!
//! Three layers, from the outside in: [`Reaper::run_pass`] loops over steps until the queue
//! has nothing due or the pass must stop; [`Reaper::step`] claims one batch and works it to
//! the end (tests drain the queue with it, no timers involved); [`Reaper::send`] makes the
//! requests for one set of ids, retrying with backoff. Every request is recorded before it
//! goes out and its answer after; rows are settled in the same transaction as the answer.
//!
//! What each kind of answer does to the pass:
//! - retry: wait and send again, up to `retry.max_attempts`; then the pass stops and the rows
//!   go back to `pending`, never to `failed` (an outage is not the videos' fault);
//! - stop (key, account, configuration): the pass stops at once, rows back to `pending`;
//! - rejected or duplicate: the batch is split in halves until the offending ids stand
//!   alone; a lone rejected id is `failed` with the API's message, a lone duplicate was
//!   already deleted.

mod dry_run;
mod window;

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Level};

use crate::api::{self, Answer, Verdict};
use crate::backoff::Backoff;
use crate::config::{Config, V1_2_DELETE_PATH};
use crate::credentials::{self, ApiKey};
use crate::notify::Liveness;
use crate::queue::{ClaimToken, ClaimedRow, Queue, QueueError, RequestRecord, RowsEffect};
use crate::video::{Namespace, VideoNo, VideoNoRule};
use window::{Place, Window};

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassEnd {
    /// Nothing due is left unclaimed.
    Drained,
    /// Stopped early (key, account, outage, database); the rows it held are pending again.
    Stopped(String),
    /// Shutdown was asked for; what was claimed but not sent is pending again.
    Interrupted,
}

/// Totals of one pass, for its log line.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    pub requests: u64,
    pub deleted: u64,
    pub failed: u64,
    pub released: u64,
}

impl PassReport {
    fn add(&mut self, other: &PassReport) {
        self.requests += other.requests;
        self.deleted += other.deleted;
        self.failed += other.failed;
        self.released += other.released;
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

/// Ids waiting to be sent while a refused batch is isolated.
struct Part {
    ids: Vec<VideoNo>,
    /// The first half of a split: when it goes through, the second half (pushed just
    /// before it) is known to hold what was refused.
    left: bool,
    /// Holds what its refused parent was refused for, its sibling having gone through:
    /// split at once rather than sent whole. Only a lone id's own answer settles it.
    culprit: bool,
}

impl Part {
    fn whole(ids: Vec<VideoNo>) -> Self {
        Self {
            ids,
            left: false,
            culprit: false,
        }
    }

    /// The halves, in stack order: the right one first, so that the left is sent first.
    fn halves(mut self) -> [Part; 2] {
        let right = self.ids.split_off(self.ids.len() / 2);
        [
            Part::whole(right),
            Part {
                ids: self.ids,
                left: true,
                culprit: false,
            },
        ]
    }
}

/// How sending one set of ids ended.
enum Sent {
    Answered(Verdict, u64),
    Stop(String),
    Exhausted(String),
    Interrupted,
}

/// Rows of one namespace sorted by [`Reaper::triage`].
struct Triage {
    /// `None` when the namespace itself cannot be sent: then every row is in `invalid`.
    namespace: Option<Namespace>,
    /// Distinct, valid, in queue order.
    ids: Vec<VideoNo>,
    /// Row id and why it fails without being sent.
    invalid: Vec<(i64, String)>,
}

impl Triage {
    fn fail_all(rows: &[ClaimedRow], reason: &str) -> Self {
        Self {
            namespace: None,
            ids: Vec::new(),
            invalid: rows.iter().map(|r| (r.id, reason.to_owned())).collect(),
        }
    }
}

/// Everything a pass needs; one per process.
pub struct Reaper {
    queue: Queue,
    api: api::Client,
    rule: VideoNoRule,
    batch_size: usize,
    /// Workers per pass, each with at most one request in flight.
    concurrency: usize,
    /// How many of them may have a request in flight now.
    window: Window,
    max_attempts: u32,
    backoff: Backoff,
    /// How long a claim holds its rows without renewal: three request timeouts (plus the
    /// second a request may wait for the rate limit), so a holder that died gives its rows
    /// back soon, and a live one renews well before.
    lease: Duration,
    api_key_file: Option<std::path::PathBuf>,
    /// Touched whenever the pass makes progress; the watchdog reads it.
    liveness: Liveness,
}

impl Reaper {
    pub fn new(config: &Config, queue: Queue) -> Result<Self, api::ClientError> {
        Ok(Self {
            api: api::Client::new(&config.api)?,
            queue,
            rule: config.batch.video_no_pattern.clone(),
            batch_size: config.batch.size.get(),
            concurrency: config.api.concurrency.get(),
            window: Window::new(config.api.concurrency.get()),
            max_attempts: config.retry.max_attempts,
            backoff: Backoff::new(&config.retry),
            lease: config.api.timeout * 3 + Duration::from_secs(1),
            api_key_file: config.api.api_key_file.clone(),
            liveness: Liveness::default(),
        })
    }

    /// Before the first pass: the requests a predecessor recorded in the last second
    /// count against the rate limit, so that a quick restart cannot exceed it.
    pub async fn resume(&self) -> Result<(), QueueError> {
        let ago = self.queue.recent_requests().await?;
        self.api.resume_rate(ago);
        Ok(())
    }

    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// Runs `api.concurrency` workers until nothing is due, or the pass must stop. Each
    /// claims and works its own batches, so several requests can be in flight while the
    /// rate limit, shared by all, keeps their pace. A worker that must stop the pass (key
    /// refused, outage, database) halts the others: they finish the request in flight
    /// and give back what they hold.
    pub async fn run_pass(&self, shutdown: &CancellationToken) -> (PassEnd, PassReport) {
        let halt = shutdown.child_token();
        let ends = join_all((0..self.concurrency).map(|_| self.worker(&halt))).await;
        let mut report = PassReport::default();
        let mut stopped = None;
        for (end, worked) in ends {
            report.add(&worked);
            if let PassEnd::Stopped(reason) = end {
                stopped.get_or_insert(reason);
            }
        }
        let end = match stopped {
            Some(reason) => PassEnd::Stopped(reason),
            None if shutdown.is_cancelled() => PassEnd::Interrupted,
            None => PassEnd::Drained,
        };
        match &end {
            PassEnd::Drained => info!(
                requests = report.requests,
                deleted = report.deleted,
                failed = report.failed,
                "pass finished: nothing due is left"
            ),
            PassEnd::Interrupted => info!(
                requests = report.requests,
                deleted = report.deleted,
                failed = report.failed,
                released = report.released,
                "pass interrupted by shutdown: unsent rows are pending again"
            ),
            PassEnd::Stopped(reason) => error!(
                requests = report.requests,
                deleted = report.deleted,
                failed = report.failed,
                released = report.released,
                "pass stopped, rows stay pending for the next pass: {reason}"
            ),
        }
        (end, report)
    }

    /// Steps until nothing is due or the pass is halted. The key is read once per worker
    /// and pass, when there is something to send.
    async fn worker(&self, halt: &CancellationToken) -> (PassEnd, PassReport) {
        let mut report = PassReport::default();
        let mut key = None;
        let end = loop {
            match self.step(&mut key, halt, &mut report).await {
                Step::Worked => continue,
                Step::Idle => break PassEnd::Drained,
                Step::Stopped(reason) => {
                    halt.cancel();
                    break PassEnd::Stopped(reason);
                }
                Step::Interrupted => break PassEnd::Interrupted,
            }
        };
        (end, report)
    }

    /// Claims one batch and works it to the end. `halt` is cancelled on shutdown, and by
    /// this step itself when the pass must stop (a refused key, an outage outlasting the
    /// retries), so that no other worker sends another request.
    pub async fn step(
        &self,
        key: &mut Option<ApiKey>,
        halt: &CancellationToken,
        report: &mut PassReport,
    ) -> Step {
        self.liveness.beat();
        if halt.is_cancelled() {
            return Step::Interrupted;
        }
        match self.claim_and_work(key, halt, report).await {
            Ok(step) => step,
            // A database error stops the pass; what the claim held comes back when its
            // lease runs out, if it could not be released.
            Err(e) => Step::Stopped(e.to_string()),
        }
    }

    async fn claim_and_work(
        &self,
        key: &mut Option<ApiKey>,
        halt: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<Step, QueueError> {
        let taken = self.queue.take_back_expired().await?;
        if taken > 0 {
            warn!(
                rows = taken,
                "took back rows whose lease expired: their holder stopped"
            );
        }
        let Some(claim) = self.queue.claim(self.batch_size, self.lease).await? else {
            return Ok(Step::Idle);
        };
        let token = claim.token;
        if claim.settled_before > 0 {
            info!(
                rows = claim.settled_before,
                "rows queued again for videos already deleted: settled from that deletion, not sent"
            );
            report.deleted += claim.settled_before;
        }
        if claim.rows.is_empty() {
            return Ok(Step::Worked);
        }

        let triage = self.triage(&claim.namespace, &claim.rows);
        if !triage.invalid.is_empty() {
            self.fail_unsent(&token, &triage.invalid, report).await?;
        }
        let Some(namespace) = triage.namespace.filter(|_| !triage.ids.is_empty()) else {
            return Ok(Step::Worked);
        };
        let ids = triage.ids;

        if key.is_none() {
            match credentials::load(self.api_key_file.as_deref()) {
                Ok((found, _source)) => *key = Some(found),
                Err(e) => {
                    report.released += self.queue.release(&token, Some(&e.to_string())).await?;
                    return Ok(Step::Stopped(e.to_string()));
                }
            }
        }
        let Some(key) = key.as_ref() else {
            // Set just above.
            return Ok(Step::Stopped("no API key".into()));
        };

        // Isolation: split a refused batch until the offending ids stand alone.
        let mut stack = vec![Part::whole(ids)];
        while let Some(part) = stack.pop() {
            if halt.is_cancelled() {
                report.released += self.queue.release(&token, None).await?;
                return Ok(Step::Interrupted);
            }
            if part.culprit && part.ids.len() > 1 {
                // Sending it whole would only be refused again.
                stack.extend(part.halves());
                continue;
            }
            let sent = self
                .send(&token, &namespace, &part.ids, key, halt, report)
                .await?;
            match sent {
                Sent::Answered(Verdict::Deleted, rows) => {
                    report.deleted += rows;
                    // This half of a refused batch went through: the other half, next on
                    // the stack, holds what was refused.
                    if part.left {
                        if let Some(right) = stack.last_mut() {
                            right.culprit = true;
                        }
                    }
                }
                Sent::Answered(Verdict::Duplicate, rows) if part.ids.len() == 1 => {
                    report.deleted += rows
                }
                Sent::Answered(Verdict::Rejected, rows) if part.ids.len() == 1 => {
                    report.failed += rows
                }
                Sent::Answered(_, _) => stack.extend(part.halves()),
                Sent::Stop(reason) | Sent::Exhausted(reason) => {
                    report.released += self.queue.release(&token, Some(&reason)).await?;
                    return Ok(Step::Stopped(reason));
                }
                Sent::Interrupted => {
                    report.released += self.queue.release(&token, None).await?;
                    return Ok(Step::Interrupted);
                }
            }
        }
        Ok(Step::Worked)
    }

    /// Sorts the rows of one namespace into the distinct ids to send and the rows to fail
    /// unsent (an invalid video number, or a namespace that cannot be addressed).
    fn triage(&self, namespace: &str, rows: &[ClaimedRow]) -> Triage {
        let namespace = match Namespace::parse(namespace) {
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
            invalid: Vec::new(),
        };
        let mut seen = HashSet::new();
        for row in rows {
            match row.video_no.as_deref().map(|v| self.rule.parse(v)) {
                Some(Ok(id)) => {
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

    async fn fail_unsent(
        &self,
        token: &ClaimToken,
        failures: &[(i64, String)],
        report: &mut PassReport,
    ) -> Result<Step, QueueError> {
        self.queue.fail_unsent(token, failures).await?;
        for (row, reason) in failures {
            warn!(
                row_id = row,
                batch_outcome = "failed",
                "row failed without being sent: {reason}"
            );
        }
        report.failed += failures.len() as u64;
        Ok(Step::Worked)
    }

    /// Sends one set of ids until an answer settles them, retrying with backoff.
    async fn send(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        ids: &[VideoNo],
        key: &ApiKey,
        halt: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<Sent, QueueError> {
        // Held through the retries: while the API is in trouble, one request at a time.
        let Some(_place) = self.enter_window(token, halt).await? else {
            return Ok(Sent::Interrupted);
        };
        for attempt in 1..=self.max_attempts {
            let turn = self.api.wait_turn().await;
            let batch = self
                .queue
                .start_request(token, namespace, ids, attempt, self.lease)
                .await?;
            report.requests += 1;
            self.liveness.beat();
            let answer = self.api.delete(turn, key, namespace, ids).await;
            self.liveness.beat();
            let effect = match (&answer.verdict, ids.len()) {
                (Verdict::Deleted, _) | (Verdict::Duplicate, 1) => RowsEffect::Deleted,
                (Verdict::Rejected, 1) => RowsEffect::Failed(answer.reason.clone()),
                _ => RowsEffect::Note(answer.reason.clone()),
            };
            let rows = self
                .queue
                .finish_request(token, batch, ids, &record(&answer), &effect)
                .await?;
            log_batch(batch.0, namespace, ids.len(), attempt, &answer);
            if let RowsEffect::Failed(reason) = &effect {
                warn!(
                    batch_id = batch.0,
                    batch_namespace = namespace.as_str(),
                    batch_outcome = "failed",
                    video_no = ids[0].as_str(),
                    "video refused by the API, row failed: {reason}"
                );
            }
            match answer.verdict {
                Verdict::Retry { .. } | Verdict::Stop => self.window.narrow(),
                Verdict::Deleted | Verdict::Duplicate | Verdict::Rejected => self.window.open(),
            }
            match answer.verdict {
                Verdict::Retry { retry_after } => {
                    if attempt == self.max_attempts {
                        halt.cancel();
                        return Ok(Sent::Exhausted(format!(
                            "{} (after {attempt} attempts)",
                            answer.reason
                        )));
                    }
                    let delay = self.backoff.delay(attempt, retry_after);
                    if self.wait(token, delay, halt).await? {
                        return Ok(Sent::Interrupted);
                    }
                }
                Verdict::Stop => {
                    // Before the place in the window is given up: no other worker sends.
                    halt.cancel();
                    return Ok(Sent::Stop(answer.reason));
                }
                verdict => return Ok(Sent::Answered(verdict, rows)),
            }
        }
        // `max_attempts` is at least 1 (the config checks it), so the loop returned.
        Ok(Sent::Exhausted("retry.max_attempts is zero".into()))
    }

    /// Sleeps `delay`, renewing the claim's lease as it goes; true when halted.
    /// Waits for a place in the window, renewing the claim's lease meanwhile (another
    /// worker may hold the only place through a long run of retries). `None`: halted.
    async fn enter_window(
        &self,
        token: &ClaimToken,
        halt: &CancellationToken,
    ) -> Result<Option<Place<'_>>, QueueError> {
        let enter = self.window.enter();
        tokio::pin!(enter);
        loop {
            tokio::select! {
                // A halt comes first: the worker that stopped the pass gives its place up
                // right after halting it.
                biased;
                _ = halt.cancelled() => return Ok(None),
                place = &mut enter => return Ok(Some(place)),
                _ = tokio::time::sleep(self.renew_every()) => {
                    self.queue.renew(token, self.lease).await?;
                    self.liveness.beat();
                }
            }
        }
    }

    /// Often enough to renew a lease before it runs out, and to show the watchdog life.
    fn renew_every(&self) -> Duration {
        (self.lease / 3).min(Duration::from_secs(5))
    }

    async fn wait(
        &self,
        token: &ClaimToken,
        delay: Duration,
        halt: &CancellationToken,
    ) -> Result<bool, QueueError> {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let next = deadline.min(now + self.renew_every());
            tokio::select! {
                _ = halt.cancelled() => return Ok(true),
                _ = tokio::time::sleep_until(next) => {}
            }
            self.queue.renew(token, self.lease).await?;
            self.liveness.beat();
        }
    }
}

fn record(answer: &Answer) -> RequestRecord {
    RequestRecord {
        outcome: answer.verdict.outcome(),
        http_status: answer.http_status,
        api_code: answer.code.clone(),
        api_msg: answer.msg.clone(),
        error: (answer.verdict != Verdict::Deleted).then(|| answer.reason.clone()),
        duration: answer.duration,
    }
}

fn log_batch(batch: i64, namespace: &Namespace, count: usize, attempt: u32, answer: &Answer) {
    // Named for the journal: `journalctl BATCH_OUTCOME=retry` and the like.
    let batch_id = batch;
    let batch_namespace = namespace.as_str();
    let batch_count = count;
    let batch_attempt = attempt;
    let batch_outcome = answer.verdict.outcome();
    let batch_code = answer.code.as_deref().unwrap_or("-");
    let batch_duration_ms = answer.duration.as_millis() as u64;
    // `event!` takes its level as a constant: one arm per level, the same fields in each.
    macro_rules! batch_line {
        ($level:expr, $($message:tt)+) => {
            tracing::event!(
                $level, batch_id, batch_namespace, batch_count, batch_attempt, batch_outcome,
                batch_code, batch_duration_ms, $($message)+
            )
        };
    }
    match answer.verdict {
        Verdict::Deleted => batch_line!(Level::INFO, "batch sent"),
        Verdict::Stop => batch_line!(Level::ERROR, "batch refused: {}", answer.reason),
        _ => batch_line!(Level::WARN, "batch not deleted: {}", answer.reason),
    }
}
