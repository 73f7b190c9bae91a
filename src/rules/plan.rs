//! The rules' commands: `rules plan` (what each rule matches now, listed live, nothing
//! changed; or with `--last`, what its latest listing recorded) and `rules confirm` (a
//! listing a trip-wire holds goes on to be enqueued).

use std::collections::{BTreeMap, HashSet};

use chrono::{TimeZone, Utc};

use super::{last_page, pages_repeat, snapshot, wires, Counted, Match, Mode, Rule, Scope, Wires};
use crate::api::Client;
use crate::config::Config;
use crate::credentials;
use crate::printable;
use crate::progress::Progress;
use crate::queue::rules::{NamespaceTally, Snapshotted, SAMPLE};
use crate::rate::RateLimit;
use crate::video::Namespace;

/// The rules a command names: every one, or the one called `name`.
fn selected<'a>(config: &'a Config, name: Option<&str>) -> anyhow::Result<Vec<&'a Rule>> {
    let rules: Vec<&Rule> = config
        .rule
        .iter()
        .filter(|r| name.is_none_or(|n| r.name == n))
        .collect();
    match (rules.is_empty(), name) {
        (true, Some(name)) => anyhow::bail!(
            "the configuration has no rule named {}; `memories-reaper --config FILE rules plan` \
             lists them",
            printable::quoted(name, printable::QUOTED)
        ),
        (true, None) => anyhow::bail!(
            "the configuration has no [[rule]]; see the book, docs/src/rules-and-holds.md (and give \
             --config FILE)"
        ),
        _ => Ok(rules),
    }
}

/// `rules plan [NAME] [--last]`.
pub async fn plan(config: &Config, name: Option<&str>, last: bool) -> anyhow::Result<u8> {
    let rules = selected(config, name)?;
    if last {
        let queue = crate::cmd::open_existing(config).await?;
        let reports = queue.rule_reports(name).await;
        queue.close().await;
        let reports = reports?;
        for rule in rules {
            match reports.iter().find(|r| r.rule == rule.name) {
                None => say!("rule {}: no listing yet\n", rule.name),
                Some(report) => {
                    say!(
                        "rule {} (listing {}, {}, {}, started {} UTC{}): {}",
                        rule.name,
                        report.id,
                        report.mode,
                        report.state,
                        report.started_at,
                        if report.confirmed { ", confirmed" } else { "" },
                        rule.describe()
                    );
                    print_tallies(&report.namespaces);
                    say!(
                        "  {} of {} listed match ({} could not be judged); {} enqueued, {} queued already{}\n",
                        report.matched,
                        report.listed,
                        report.unreadable,
                        report.enqueued,
                        report.already_queued,
                        report
                            .note
                            .as_deref()
                            .map(|n| format!("; {}", printable::cut(&printable::escaped(n), 400)))
                            .unwrap_or_default()
                    );
                    if let Some(now) = report.listing_now {
                        say!("  (listing {now}, newer, is under way)\n");
                    }
                }
            }
        }
        return Ok(0);
    }
    let (key, _) = credentials::load(config.api.api_key_file.as_deref())?;
    let lookups = crate::api::Lookups::new(
        config.api.base_url.url(),
        config.lookup.requests_per_second.get(),
    );
    let catalogue = Client::new(&config.api, lookups)?.catalogue();
    let share = RateLimit::new(config.rules.lookup_share.get());
    let account = catalogue
        .namespaces(&key, &share)
        .await
        .map_err(|why| anyhow::anyhow!("cannot list the account's namespaces: {why}"))?;
    let now_ms = Utc::now().timestamp_millis();
    for rule in rules {
        let mut names: Vec<String> = match &rule.scope {
            Scope::All => account.iter().cloned().collect(),
            Scope::These(list) => list.iter().map(|n| n.as_str().to_owned()).collect(),
        };
        names.sort();
        let mut tallies = Vec::new();
        let mut progress = Progress::new(format!("rule {}: pages listed", rule.name), 0);
        for name in &names {
            let Ok(namespace) = Namespace::parse(name) else {
                continue;
            };
            if !account.contains(name) {
                complain!(
                    "memories-reaper: rule {}: the account has no namespace {namespace}: not \
                     listed (listing may create it)",
                    rule.name
                );
                continue;
            }
            let mut tally = Tally::default();
            let mut page = 1;
            let mut previous = HashSet::new();
            loop {
                let got = catalogue
                    .page(&key, &share, &namespace, page)
                    .await
                    .map_err(|why| {
                        anyhow::anyhow!("rule {}: listing namespace {namespace}: {why}", rule.name)
                    })?;
                let mut new = 0;
                for kept in snapshot(rule, &config.batch.video_no_pattern, &got, now_ms) {
                    new += u64::from(tally.add(kept));
                }
                progress.step();
                let ids: HashSet<String> = got.videos.iter().map(|v| v.video_no.clone()).collect();
                if last_page(&got, page) || pages_repeat(&previous, &ids, new) {
                    break;
                }
                previous = ids;
                page += 1;
            }
            tallies.push(tally.finish(name));
        }
        progress.finish();
        say!(
            "rule {} (mode = {:?}, listed now): {}",
            rule.name,
            rule.mode.as_str(),
            rule.describe()
        );
        print_tallies(&tallies);
        let counted: Vec<Counted> = tallies.iter().map(Counted::of).collect();
        let matched: i64 = tallies.iter().map(|t| t.matched).sum();
        let listed: i64 = tallies.iter().map(|t| t.listed).sum();
        let unreadable: i64 = tallies.iter().map(|t| t.unreadable).sum();
        let verdict = match (wires(rule, &counted), rule.mode) {
            (Wires::Clear, Mode::Enqueue) => format!(
                "within its trip-wires; a run would enqueue up to {} of them",
                rule.max_per_run
            ),
            (Wires::Clear, Mode::Report) => {
                "within its trip-wires; mode = \"report\": a run enqueues nothing".to_owned()
            }
            (Wires::Tripped(why), Mode::Enqueue) => {
                format!("a run would enqueue NOTHING until confirmed: {why}")
            }
            (Wires::Tripped(why), Mode::Report) => format!(
                "mode = \"report\": a run enqueues nothing; in enqueue mode it would trip: {why}"
            ),
        };
        say!(
            "  {matched} of {listed} listed match ({unreadable} could not be judged); {verdict}\n"
        );
    }
    Ok(0)
}

/// `rules confirm NAME`.
pub async fn confirm(config: &Config, name: &str) -> anyhow::Result<u8> {
    let rule = selected(config, Some(name))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no rule named {name}"))?;
    let queue = crate::cmd::open_existing(config).await?;
    let confirmed = queue
        .confirm_rule_listing(&rule.name, &rule.fingerprint())
        .await;
    queue.close().await;
    match confirmed? {
        Some(id) => {
            say!(
                "rule {}: listing {id} confirmed; the sender enqueues it from the rule's next \
                 run, at most {} videos a run",
                rule.name,
                rule.max_per_run
            );
            Ok(0)
        }
        None => anyhow::bail!(
            "rule {} has no listing held by a trip-wire under its current definition (a \
             changed rule lists afresh); `memories-reaper rules plan --last {}` shows its \
             latest",
            rule.name,
            rule.name
        ),
    }
}

/// One namespace counted as it is listed (the daemon counts its snapshot in SQL).
#[derive(Default)]
struct Tally {
    seen: HashSet<String>,
    matched: Vec<(i64, String)>,
    unreadable: i64,
}

impl Tally {
    /// Whether the video is new to the listing.
    fn add(&mut self, video: Snapshotted) -> bool {
        if !self.seen.insert(video.video_no.clone()) {
            return false;
        }
        if video.matched == Match::Yes.code() {
            self.matched
                .push((video.create_ms.unwrap_or(i64::MAX), video.video_no));
        } else if video.matched == Match::Unreadable.code() {
            self.unreadable += 1;
        }
        true
    }

    fn finish(mut self, namespace: &str) -> NamespaceTally {
        self.matched.sort();
        NamespaceTally {
            namespace: namespace.to_owned(),
            listed: self.seen.len() as i64,
            matched: self.matched.len() as i64,
            unreadable: self.unreadable,
            oldest_ms: self.matched.first().map(|m| m.0),
            newest_ms: self.matched.last().map(|m| m.0),
            sample: self
                .matched
                .iter()
                .take(SAMPLE as usize)
                .map(|m| m.1.clone())
                .collect(),
        }
    }
}

fn print_tallies(tallies: &[NamespaceTally]) {
    let when = |ms: Option<i64>| {
        ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map_or("-".to_owned(), |t| {
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            })
    };
    let mut rows: BTreeMap<&str, &NamespaceTally> = BTreeMap::new();
    for t in tallies {
        rows.insert(&t.namespace, t);
    }
    say!(
        "  {:<24} {:>8} {:>8} {:>10}  {:<19}  {:<19}  sample",
        "namespace",
        "listed",
        "match",
        "unjudged",
        "oldest (UTC)",
        "newest (UTC)"
    );
    for t in rows.values() {
        say!(
            "  {:<24} {:>8} {:>8} {:>10}  {:<19}  {:<19}  {}",
            printable::cut(&printable::escaped(&t.namespace), 24),
            t.listed,
            t.matched,
            t.unreadable,
            when(t.oldest_ms),
            when(t.newest_ms),
            t.sample
                .iter()
                .map(|s| printable::escaped(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
