//! Lifecycle rules: the daemon finds what is due by itself. A rule (`[[rule]]`) names
//! namespaces and conditions (age, state, tag); on its schedule, the sender lists those
//! namespaces and enqueues what matches into `deletion_queue`, as `rule:NAME`, like any
//! producer: a rule never deletes by itself, so every deletion goes through the same
//! claims, holds, lookups, outcomes and receipts.
//!
//! `list_videos` has no age filter, no documented order, and pages that shift while
//! videos come and go, so a run never trusts page numbers across itself: it snapshots each
//! namespace's listing into the queue's `rule_snapshot`, page by page (a restart resumes
//! after the last page kept; a video listed twice is kept once; one skipped by a shift is
//! found by the next listing), and decides from the snapshot alone ([`decide`]). A
//! finished listing is held by its trip-wires until confirmed, or enqueued at most
//! `max_per_run` a run, each video marked in the transaction that inserts its row.
//!
//! Listing is paced on the process's lookup limiter, in the turns verification leaves,
//! and at most `[rules] lookup_share` a second ([`Catalogue`]).

mod decide;
mod plan;

pub use crate::config::rules::{check_names, warnings, Mode, Rule, RulesConfig, Scope};
pub use decide::{matches, wires, Counted, Match, Wires};
pub use plan::{confirm, plan};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::api::{Catalogue, CataloguePage, CATALOGUE_PAGE};
use crate::config::Config;
use crate::credentials::{self, ApiKey};
use crate::lead::LeadWatch;
use crate::metrics;
use crate::printable;
use crate::queue::rules::{ListingState, NamespaceTally, OpenListing, Snapshotted};
use crate::queue::{Queue, QueueError};
use crate::rate::RateLimit;
use crate::schedule::Ticks;
use crate::video::{Namespace, VideoNoRule};

/// Pages read of one namespace at most: 2,000,000 videos at 200 a page. An API that
/// keeps answering full pages past it is not believed to end.
const MAX_PAGES: u64 = 10_000;

/// A listing older than this is listed afresh: what it read of each video's state and tags
/// may no longer hold (a tripped listing waits for `rules confirm` this long at most).
const STALE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What one run of a rule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEnd {
    /// A `report` listing finished: recorded and logged, nothing enqueued.
    Reported,
    /// A trip-wire holds the listing: nothing enqueued; why.
    Tripped(String),
    /// Enqueued this many videos (the rest, if any, at the next runs).
    Enqueued(u64),
    /// Stopped before the end (shutdown, a lost lease, lookups that cannot be used):
    /// the next run resumes; why.
    Paused(String),
}

/// Runs rules: one listing at a time per rule.
#[derive(Clone)]
pub struct Runner {
    queue: Queue,
    catalogue: Catalogue,
    /// `[rules] lookup_share`: every rule's listing together.
    share: Arc<RateLimit>,
    video_rule: VideoNoRule,
    api_key_file: Option<std::path::PathBuf>,
}

impl Runner {
    pub fn new(config: &Config, queue: Queue, catalogue: Catalogue) -> Self {
        Self {
            queue,
            catalogue,
            share: Arc::new(RateLimit::new(config.rules.lookup_share.get())),
            video_rule: config.batch.video_no_pattern.clone(),
            api_key_file: config.api.api_key_file.clone(),
        }
    }

    /// One run of `rule`: resumes its listing (or starts one), decides, enqueues; stops
    /// at `halt` with what it did kept.
    pub async fn run(&self, rule: &Rule, halt: &CancellationToken) -> Result<RuleEnd, String> {
        let fingerprint = rule.fingerprint();
        let failed = |e: QueueError| e.to_string();
        let (key, _) =
            credentials::load(self.api_key_file.as_deref()).map_err(|e| e.to_string())?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let open = match self
            .queue
            .open_rule_listing(&rule.name, &fingerprint)
            .await
            .map_err(failed)?
        {
            Some(old) if now_ms.saturating_sub(old.listed_at_ms) > STALE.as_millis() as i64 => {
                info!(
                    rule = rule.name,
                    rule_listing = old.id,
                    "rule {}: listing {} is older than {}: listed afresh",
                    rule.name,
                    old.id,
                    humantime::format_duration(STALE)
                );
                let note = "older than 7 days: listed afresh";
                self.queue
                    .set_rule_listing(old.id, ListingState::Superseded, Some(note))
                    .await
                    .map_err(failed)?;
                None
            }
            open => open,
        };
        let mut listing = match open {
            Some(listing) => listing,
            None => {
                let namespaces = match self.namespaces(rule, &key, halt).await {
                    Ok(namespaces) => namespaces,
                    Err(why) => return Ok(RuleEnd::Paused(why)),
                };
                let listing = self
                    .queue
                    .start_rule_listing(
                        &rule.name,
                        &fingerprint,
                        rule.mode.as_str(),
                        now_ms,
                        &namespaces,
                    )
                    .await
                    .map_err(failed)?;
                info!(
                    rule = rule.name,
                    rule_listing = listing.id,
                    "rule {}: listing {} started: {} ({} of its namespaces in the account)",
                    rule.name,
                    listing.id,
                    rule.describe(),
                    namespaces.len()
                );
                listing
            }
        };
        if listing.state == ListingState::Listing {
            if let Some(paused) = self.read_pages(rule, &key, &mut listing, halt).await? {
                return Ok(paused);
            }
            return self.decide(rule, &listing).await;
        }
        if listing.state == ListingState::Tripped {
            let why = listing.note.clone().unwrap_or_default();
            warn!(
                rule = rule.name,
                rule_listing = listing.id,
                rule_state = ListingState::Tripped.as_str(),
                "rule {}: listing {} still waits: {why}; nothing is enqueued until \
                 `memories-reaper rules confirm {}` or a change of the rule",
                rule.name,
                listing.id,
                rule.name
            );
            return Ok(RuleEnd::Tripped(why));
        }
        self.enqueue(rule, &listing).await
    }

    /// The namespaces a new listing reads: the rule's, or every one of the account; only
    /// those the account has (listing one that does not exist may create it).
    async fn namespaces(
        &self,
        rule: &Rule,
        key: &ApiKey,
        halt: &CancellationToken,
    ) -> Result<Vec<String>, String> {
        let account = tokio::select! {
            _ = halt.cancelled() => return Err("stopped".into()),
            account = self.catalogue.namespaces(key, &self.share) => account?,
        };
        let mut namespaces: Vec<String> = match &rule.scope {
            Scope::All => account
                .into_iter()
                .filter(|n| match Namespace::parse(n) {
                    Ok(_) => true,
                    Err(e) => {
                        warn!(rule = rule.name, "rule {}: not listed: {e}", rule.name);
                        false
                    }
                })
                .collect(),
            Scope::These(list) => list
                .iter()
                .filter(|n| {
                    let there = account.contains(n.as_str());
                    if !there {
                        warn!(
                            rule = rule.name,
                            "rule {}: the account has no namespace {n}: not listed (listing \
                             a namespace may create it); check the rule's namespaces",
                            rule.name
                        );
                    }
                    there
                })
                .map(|n| n.as_str().to_owned())
                .collect(),
        };
        namespaces.sort();
        Ok(namespaces)
    }

    /// Reads the listing's remaining pages into its snapshot. `Some` when it stopped
    /// before the end.
    async fn read_pages(
        &self,
        rule: &Rule,
        key: &ApiKey,
        listing: &mut OpenListing,
        halt: &CancellationToken,
    ) -> Result<Option<RuleEnd>, String> {
        for (name, from) in std::mem::take(&mut listing.to_read) {
            let Ok(namespace) = Namespace::parse(&name) else {
                // Only parsed names are ever stored; one edited in is skipped, finished.
                self.queue
                    .record_rule_page(listing.id, &name, from, &[], true)
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            };
            let mut page = u64::try_from(from).unwrap_or(1).max(1);
            let mut previous = HashSet::new();
            loop {
                let got = tokio::select! {
                    _ = halt.cancelled() => return Ok(Some(RuleEnd::Paused("stopped".into()))),
                    got = self.catalogue.page(key, &self.share, &namespace, page) => got,
                };
                let got = match got {
                    Ok(got) => got,
                    Err(why) => {
                        warn!(
                            rule = rule.name,
                            rule_listing = listing.id,
                            "rule {}: listing {} paused at page {page} of namespace \
                             {namespace}: {why}; the next run resumes there",
                            rule.name,
                            listing.id
                        );
                        return Ok(Some(RuleEnd::Paused(why)));
                    }
                };
                let last = last_page(&got, page);
                let kept = snapshot(rule, &self.video_rule, &got, listing.listed_at_ms);
                let new = self
                    .queue
                    .record_rule_page(listing.id, &name, page as i64, &kept, last)
                    .await
                    .map_err(|e| e.to_string())?;
                let ids: HashSet<String> = got.videos.iter().map(|v| v.video_no.clone()).collect();
                if !last && pages_repeat(&previous, &ids, new) {
                    warn!(
                        rule = rule.name,
                        rule_listing = listing.id,
                        "rule {}: page {page} of namespace {namespace} listed only videos of \
                         earlier pages (the API seems to ignore `page`): its listing ends here",
                        rule.name
                    );
                    self.queue
                        .record_rule_page(listing.id, &name, page as i64, &[], true)
                        .await
                        .map_err(|e| e.to_string())?;
                    break;
                }
                debug!(
                    rule = rule.name,
                    "rule {}: namespace {namespace} page {page}", rule.name
                );
                if last {
                    break;
                }
                previous = ids;
                page += 1;
            }
        }
        Ok(None)
    }

    /// A finished listing: counted, then reported, held by a trip-wire, or enqueued.
    async fn decide(&self, rule: &Rule, listing: &OpenListing) -> Result<RuleEnd, String> {
        let tallies = self
            .queue
            .tally_rule_listing(listing.id)
            .await
            .map_err(|e| e.to_string())?;
        let counted: Vec<Counted> = tallies.iter().map(Counted::of).collect();
        let matched: i64 = tallies.iter().map(|t| t.matched).sum();
        let listed: i64 = tallies.iter().map(|t| t.listed).sum();
        let wired = wires(rule, &counted);
        info!(
            rule = rule.name,
            rule_listing = listing.id,
            rule_matched = matched,
            "rule {}: listing {} read {listed} videos in {} namespaces: {matched} match{}",
            rule.name,
            listing.id,
            tallies.len(),
            per_namespace(&tallies)
        );
        let set = |state, note: Option<String>| async move {
            self.queue
                .set_rule_listing(listing.id, state, note.as_deref())
                .await
                .map_err(|e| e.to_string())
        };
        if rule.mode == Mode::Report {
            let trip = match &wired {
                Wires::Clear => String::new(),
                Wires::Tripped(why) => format!("; in enqueue mode it would trip: {why}"),
            };
            let note = format!("report: would enqueue {matched}{trip}");
            info!(
                rule = rule.name,
                rule_listing = listing.id,
                rule_state = ListingState::Done.as_str(),
                rule_matched = matched,
                "rule {} (mode = \"report\"): would enqueue {matched} videos{trip}; nothing \
                 enqueued (`memories-reaper rules plan --last {}` shows them)",
                rule.name,
                rule.name
            );
            set(ListingState::Done, Some(note)).await?;
            return Ok(RuleEnd::Reported);
        }
        if let Wires::Tripped(why) = wired {
            warn!(
                rule = rule.name,
                rule_listing = listing.id,
                rule_state = ListingState::Tripped.as_str(),
                rule_matched = matched,
                "rule {}: listing {} enqueues nothing: {why}. See it with `memories-reaper \
                 rules plan --last {}`; enqueue it with `memories-reaper rules confirm {}`, or \
                 change the rule",
                rule.name,
                listing.id,
                rule.name,
                rule.name
            );
            set(ListingState::Tripped, Some(why.clone())).await?;
            return Ok(RuleEnd::Tripped(why));
        }
        set(ListingState::Enqueuing, None).await?;
        self.enqueue(rule, listing).await
    }

    /// Enqueues the next `max_per_run` of what matched; the listing is done when nothing
    /// is left.
    async fn enqueue(&self, rule: &Rule, listing: &OpenListing) -> Result<RuleEnd, String> {
        let done = self
            .queue
            .enqueue_rule_listing(listing.id, &rule.source(), rule.max_per_run)
            .await
            .map_err(|e| e.to_string())?;
        if done.left == 0 {
            self.queue
                .set_rule_listing(listing.id, ListingState::Done, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        info!(
            rule = rule.name,
            rule_listing = listing.id,
            rule_enqueued = done.inserted,
            "rule {}: enqueued {} videos as {}{}; {} left for the next runs",
            rule.name,
            done.inserted,
            rule.source(),
            match done.already_queued {
                0 => String::new(),
                n => format!(" ({n} more were queued already)"),
            },
            done.left
        );
        Ok(RuleEnd::Enqueued(done.inserted))
    }
}

/// Whether `got` is the last page of a listing: empty, short of its size, or reaching
/// the total it states; or past [`MAX_PAGES`].
fn last_page(got: &CataloguePage, page: u64) -> bool {
    let size = got.page_size.unwrap_or(CATALOGUE_PAGE).max(1);
    got.videos.is_empty()
        || (got.videos.len() as u64) < size
        || got
            .total
            .is_some_and(|total| page.saturating_mul(size) >= total)
        || page >= MAX_PAGES
}

/// A page that is the page before it again, adding nothing to the listing: an API that
/// ignores `page` repeats it for ever. (Pages that shift, under uploads between two
/// requests, repeat videos too, but a window moved on, not the same set.)
fn pages_repeat(previous: &HashSet<String>, page: &HashSet<String>, new: u64) -> bool {
    new == 0 && !page.is_empty() && page == previous
}

/// A page's videos as the snapshot keeps them, each decided by the rule; a number this
/// program would never send is unreadable.
fn snapshot(
    rule: &Rule,
    video_rule: &VideoNoRule,
    got: &CataloguePage,
    now_ms: i64,
) -> Vec<Snapshotted> {
    got.videos
        .iter()
        .map(|video| Snapshotted {
            video_no: video.video_no.clone(),
            create_ms: video.create_ms,
            matched: match video_rule.parse(&video.video_no) {
                Ok(_) => matches(rule, video, now_ms).code(),
                Err(_) => Match::Unreadable.code(),
            },
        })
        .collect()
}

/// ` (ns a 10, ns b 3; 2 unreadable)` for a log line.
fn per_namespace(tallies: &[NamespaceTally]) -> String {
    let parts: Vec<String> = tallies
        .iter()
        .filter(|t| t.matched > 0)
        .take(20)
        .map(|t| format!("{} {}", printable::quoted(&t.namespace, 40), t.matched))
        .collect();
    let unreadable: i64 = tallies.iter().map(|t| t.unreadable).sum();
    let mut text = String::new();
    if !parts.is_empty() {
        text = format!(" ({})", parts.join(", "));
    }
    if unreadable > 0 {
        text.push_str(&format!(
            "; {unreadable} could not be judged (a field the rule needs unreadable): never matched"
        ));
    }
    text
}

/// The rules running in a daemon: each on its schedule, only while this daemon sends.
pub struct Service {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    names: Vec<String>,
}

impl Service {
    /// Arms every rule of `config`. Once this daemon sends, the listings of rules no
    /// longer configured are set aside (a daemon without rules does that and no more).
    pub async fn start(
        config: &Config,
        runner: Runner,
        lead: LeadWatch,
        shutdown: &CancellationToken,
    ) -> Self {
        let stop = shutdown.child_token();
        let names: Vec<String> = config.rule.iter().map(|r| r.name.clone()).collect();
        let mut tasks = vec![tokio::spawn(retire(
            names.clone(),
            runner.queue.clone(),
            lead.clone(),
            stop.clone(),
        ))];
        for rule in &config.rule {
            let cron = rule
                .schedule
                .clone()
                .unwrap_or(config.schedule.cron.clone());
            let zone = config.schedule.timezone.zone();
            let who = Some(format!("the last run of rule {}", rule.name));
            let running = Arc::new(Mutex::new(()));
            let ticks = match Ticks::start_for(cron.clone(), zone, running, who).await {
                Ok(ticks) => ticks,
                Err(e) => {
                    warn!(
                        "rule {}: cannot arm its schedule ({e}); it does not run",
                        rule.name
                    );
                    continue;
                }
            };
            info!(
                rule = rule.name,
                "rule {} armed ({:?}, mode = {:?}): {}",
                rule.name,
                cron.as_written(),
                rule.mode.as_str(),
                rule.describe()
            );
            metrics::rule_armed(&rule.name);
            // The gauge says what the database says: a listing tripped before a restart
            // or a reload is still tripped.
            if let Ok(reports) = runner.queue.rule_reports(Some(&rule.name)).await {
                let tripped = reports
                    .iter()
                    .any(|r| r.state == ListingState::Tripped.as_str());
                metrics::rule_tripped(&rule.name, tripped);
            }
            tasks.push(tokio::spawn(keep(
                rule.clone(),
                ticks,
                runner.clone(),
                lead.clone(),
                stop.clone(),
            )));
        }
        Self { stop, tasks, names }
    }

    /// Stops every rule between pages (a listing resumes at its next run).
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        // A rule the next configuration drops must not stay "tripped"; one it keeps is
        // read again from the database when armed.
        for name in &self.names {
            metrics::rule_tripped(name, false);
        }
    }
}

/// Once this daemon sends: the listings of rules no longer configured are set aside.
async fn retire(keep: Vec<String>, queue: Queue, mut lead: LeadWatch, stop: CancellationToken) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = lead.leading() => match queue.retire_rules(&keep).await {
            Ok(0) => {}
            Ok(n) => info!(
                "set aside {n} listings of lifecycle rules no longer configured (`status` \
                 showed them)"
            ),
            Err(e) => warn!("cannot set aside the listings of rules no longer configured: {e}"),
        },
    }
}

/// One rule's task: a run at each tick while this daemon sends.
async fn keep(
    rule: Rule,
    mut ticks: Ticks,
    runner: Runner,
    lead: LeadWatch,
    stop: CancellationToken,
) {
    loop {
        let tick = tokio::select! {
            _ = stop.cancelled() => break,
            tick = ticks.next() => tick,
        };
        let Some(tick) = tick else { break };
        let _running = tick.running;
        let Some(lease) = lead.token() else {
            debug!(rule = rule.name, "rule {}: standing by", rule.name);
            continue;
        };
        // Halted by the lease's end or by the service's.
        let halt = stop.child_token();
        let watch = {
            let halt = halt.clone();
            tokio::spawn(async move {
                lease.cancelled().await;
                halt.cancel();
            })
        };
        match runner.run(&rule, &halt).await {
            Ok(RuleEnd::Tripped(_)) => metrics::rule_tripped(&rule.name, true),
            Ok(RuleEnd::Paused(_)) => {}
            Ok(RuleEnd::Reported) => metrics::rule_tripped(&rule.name, false),
            Ok(RuleEnd::Enqueued(inserted)) => {
                metrics::rule_tripped(&rule.name, false);
                metrics::rule_enqueued(&rule.name, inserted);
            }
            Err(why) => warn!(
                rule = rule.name,
                "rule {}: {why}; the next run tries again", rule.name
            ),
        }
        watch.abort();
    }
    ticks.stop().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_page_again_is_taken_for_an_api_that_ignores_page() {
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let first = set(&["VI1", "VI2", "VI3"]);
        // The same page, nothing new: `page` ignored.
        assert!(pages_repeat(&first, &set(&["VI3", "VI2", "VI1"]), 0));
        // Uploads pushed a whole page down: a window moved on, not the same set.
        assert!(!pages_repeat(&first, &set(&["VI2", "VI3", "VI4"]), 0));
        assert!(!pages_repeat(&first, &set(&["VI1", "VI2", "VI3"]), 1));
        assert!(!pages_repeat(&HashSet::new(), &HashSet::new(), 0));
        assert!(!pages_repeat(&HashSet::new(), &first, 0));
    }
}
