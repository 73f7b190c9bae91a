//! The commands other than `run`, each a function of the configuration and its arguments
//! that prints its result on stdout and returns the exit code. Errors go back to `main`,
//! which prints them as one line.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::api::Listing;
use crate::config::{parse_duration_at_most, Config, LONGEST_AGO, SHORTEST_KEEP};
use crate::enqueue::enqueue;
use crate::ids::{Ids, Read};
use crate::pass::LookupApi;
use crate::progress::Progress;
use crate::queue::receipts::Filter;
use crate::queue::Queue;
use crate::status;
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::RowStatus;

/// Exit codes beyond 0 and 1.
pub const EXIT_PENDING: u8 = 3;

/// Opens the database, creating it if need be: for `run` and `migrate`.
pub async fn open(config: &Config) -> anyhow::Result<Queue> {
    Ok(Queue::open(&config.database()?, config.database.busy_timeout).await?)
}

/// Opens a database that must exist already: `status`, `enqueue`, `retry-failed`,
/// `prune`, `receipts` and `hold` never create one.
async fn open_existing(config: &Config) -> anyhow::Result<Queue> {
    Ok(Queue::open_existing(&config.database()?, config.database.busy_timeout).await?)
}

/// The file of ids a command was given: a path, or `-` for stdin (pipes are welcome).
fn open_ids_file(file: Option<&str>) -> anyhow::Result<Option<(String, Box<dyn BufRead + Send>)>> {
    Ok(match file {
        None => None,
        Some("-") => Some((
            "stdin".into(),
            Box::new(std::io::BufReader::new(std::io::stdin())),
        )),
        Some(path) => {
            let f = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", crate::printable::escaped(path)))?;
            Some((path.to_owned(), Box::new(std::io::BufReader::new(f))))
        }
    })
}

/// The most ids `locate` takes: each is looked up in every namespace of the account.
const LOCATE_MAX: usize = 10_000;

/// `locate`: every namespace of the account holding each id, one line per id
/// (`VIDEO_NO<TAB>NAMESPACE[<TAB>NAMESPACE…]`, or `-` when none: a namespace may hold a
/// comma, never a tab, which is escaped). 0 when every id was found,
/// 1 when some were not (or were invalid).
pub async fn locate(
    config: &Config,
    video_nos: &[String],
    file: Option<&str>,
) -> anyhow::Result<u8> {
    let file = open_ids_file(file)?;
    if video_nos.is_empty() && file.is_none() {
        anyhow::bail!("nothing to locate: give video numbers, or --file PATH (- for stdin)");
    }
    let mut reader = Ids::new(&config.batch.video_no_pattern, video_nos, file);
    let mut ids: Vec<VideoNo> = Vec::new();
    let mut seen = HashSet::new();
    let mut rejected = 0u64;
    while let Some(read) = reader.next().map_err(anyhow::Error::msg)? {
        match read {
            Read::Id(id) if seen.insert(id.clone()) => ids.push(id),
            Read::Id(_) => {}
            Read::Rejected(why) => {
                rejected += 1;
                complain!("memories-reaper: rejected {why}");
            }
        }
        if ids.len() > LOCATE_MAX {
            anyhow::bail!(
                "locate takes at most {LOCATE_MAX} distinct ids (each is looked up in every \
                 namespace); split the file"
            );
        }
    }
    let (key, _) = crate::credentials::load(config.api.api_key_file.as_deref())?;
    let lookups = crate::api::Lookups::new(
        config.api.base_url.url(),
        config.lookup.requests_per_second.get(),
    );
    let client = crate::api::Client::new(&config.api, lookups)?;
    let mut namespaces: Vec<String> = client
        .namespaces(&key)
        .await
        .map_err(|why| anyhow::anyhow!("cannot list the account's namespaces: {why}"))?
        .into_iter()
        .collect();
    namespaces.sort();
    let chunks = ids.len().div_ceil(crate::config::API_MAX_BATCH);
    let mut progress = Progress::new("looking up", (namespaces.len() * chunks) as u64);
    let mut found: HashMap<VideoNo, Vec<String>> = HashMap::new();
    let mut looked = 0usize;
    for name in &namespaces {
        // A namespace the API lists but this program would not send to: skipped, said.
        let Ok(namespace) = Namespace::parse(name) else {
            complain!(
                "memories-reaper: skipped namespace {}: not one this program can address",
                crate::printable::quoted(name, crate::printable::QUOTED)
            );
            continue;
        };
        looked += 1;
        for chunk in ids.chunks(crate::config::API_MAX_BATCH) {
            match client.list(&key, &namespace, chunk).await {
                Listing::Listed(listed) => {
                    for id in chunk.iter().filter(|id| listed.contains(id.as_str())) {
                        found.entry(id.clone()).or_default().push(name.clone());
                    }
                }
                Listing::Unavailable(why) => {
                    progress.finish();
                    anyhow::bail!("the lookups in namespace {namespace} cannot be used: {why}");
                }
            }
            progress.step();
        }
    }
    progress.finish();
    let mut missing = 0u64;
    for id in &ids {
        match found.get(id) {
            Some(places) => {
                let places: Vec<String> = places
                    .iter()
                    .map(|p| crate::printable::escaped(p))
                    .collect();
                say!("{id}\t{}", places.join("\t"));
            }
            None => {
                missing += 1;
                say!("{id}\t-");
            }
        }
    }
    complain!(
        "memories-reaper: {} of {} ids found, in {} namespaces looked through; {missing} not found; {rejected} rejected",
        ids.len() as u64 - missing,
        ids.len(),
        looked
    );
    Ok(u8::from(missing + rejected > 0))
}

/// `enqueue`: 0 when every id was inserted, 1 when some were rejected.
pub async fn enqueue_ids(
    config: &Config,
    namespace: &str,
    video_nos: &[String],
    file: Option<&str>,
) -> anyhow::Result<u8> {
    let namespace = Namespace::parse(namespace).map_err(anyhow::Error::msg)?;
    let file = open_ids_file(file)?;
    if video_nos.is_empty() && file.is_none() {
        anyhow::bail!("nothing to enqueue: give video numbers, or --file PATH (- for stdin)");
    }
    let queue = open_existing(config).await?;
    let mut report = |line: String| complain!("memories-reaper: rejected {line}");
    let ids = Ids::new(&config.batch.video_no_pattern, video_nos, file);
    let result = enqueue(&queue, &namespace, ids, &mut report).await;
    queue.close().await;
    let done = result?;
    say!(
        "enqueued {} in namespace {namespace}; rejected {}",
        done.inserted,
        done.rejected
    );
    Ok(if done.rejected > 0 { 1 } else { 0 })
}

pub async fn show_status(config: &Config, json: bool, last: u32) -> anyhow::Result<u8> {
    let queue = open_existing(config).await?;
    let report = queue.report(last).await;
    let rules = queue.rule_reports(None).await;
    queue.close().await;
    let (report, rules) = (report?, rules?);
    if json {
        say!("{}", status::json(&report, &rules));
    } else {
        say!(
            "{}",
            (status::text(&report) + &status::rules_text(&rules)).trim_end_matches('\n')
        );
    }
    Ok(0)
}

pub async fn migrate(config: &Config) -> anyhow::Result<u8> {
    let queue = open(config).await?;
    match queue.applied().as_slice() {
        [] => say!("database {} is up to date", queue.place()),
        applied => say!(
            "database {}: applied {}; it is up to date",
            queue.place(),
            applied.join(", ")
        ),
    }
    queue.close().await;
    Ok(0)
}

/// What `hold add` or `hold release` does to each video given.
pub enum HoldChange<'a> {
    Place(&'a str),
    Release,
}

/// The longest reason a hold keeps.
const LONGEST_REASON: usize = 500;

/// Ids written per transaction by `hold add`/`release`.
const HOLD_CHUNK: usize = 10_000;

/// `hold add` and `hold release`: 0 when every id given was valid, 1 when some were
/// rejected (the valid ones are applied all the same, as `enqueue` does).
pub async fn change_holds(
    config: &Config,
    video_nos: &[String],
    file: Option<&str>,
    namespace: Option<&str>,
    change: HoldChange<'_>,
) -> anyhow::Result<u8> {
    let namespace = namespace
        .map(Namespace::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    // `hold list` shows a hold in every namespace as `*`: a namespace of that name would
    // read the same (and a hold in every namespace covers it anyway).
    if namespace.as_ref().is_some_and(|n| n.as_str() == "*") {
        anyhow::bail!(
            "--namespace '*' would read as every namespace in `hold list`; leave --namespace \
             out to hold the videos in every namespace"
        );
    }
    if let HoldChange::Place(reason) = change {
        let length = reason.trim().chars().count();
        if length == 0 || length > LONGEST_REASON || reason.chars().any(char::is_control) {
            anyhow::bail!(
                "--reason must say why the videos are held (a case, a ticket): 1 to \
                 {LONGEST_REASON} characters, no control characters"
            );
        }
    }
    let file = open_ids_file(file)?;
    if video_nos.is_empty() && file.is_none() {
        anyhow::bail!(
            "no video numbers given: give them as arguments, or --file PATH (- for stdin)"
        );
    }
    let queue = open_existing(config).await?;
    let mut ids = Ids::new(&config.batch.video_no_pattern, video_nos, file);
    let mut seen = HashSet::new();
    let mut chunk = Vec::new();
    let (mut changed, mut rejected) = (crate::queue::HoldsChanged::default(), 0u64);
    let result: anyhow::Result<()> = async {
        loop {
            let read = ids.next().map_err(anyhow::Error::msg)?;
            match &read {
                Some(Read::Id(id)) if seen.insert(id.clone()) => chunk.push(id.clone()),
                Some(Read::Id(_)) => {}
                Some(Read::Rejected(why)) => {
                    rejected += 1;
                    complain!("memories-reaper: rejected {why}");
                }
                None => {}
            }
            if chunk.len() >= HOLD_CHUNK || (read.is_none() && !chunk.is_empty()) {
                let done = match change {
                    HoldChange::Place(reason) => {
                        queue
                            .place_holds(namespace.as_ref(), &chunk, reason.trim())
                            .await?
                    }
                    HoldChange::Release => queue.release_holds(namespace.as_ref(), &chunk).await?,
                };
                changed.holds += done.holds;
                changed.rows += done.rows;
                changed.in_flight += done.in_flight;
                changed.deleted += done.deleted;
                chunk.clear();
            }
            if read.is_none() {
                return Ok(());
            }
        }
    }
    .await;
    queue.close().await;
    // Chunks are committed as they go: an error after some says how far they got.
    result.map_err(|e| {
        e.context(format!(
            "stopped after {} holds were {} (`hold list` shows them)",
            changed.holds,
            match change {
                HoldChange::Place(_) => "placed",
                HoldChange::Release => "released",
            }
        ))
    })?;
    let place = match &namespace {
        Some(namespace) => format!("in namespace {namespace}"),
        None => "in every namespace".to_owned(),
    };
    let others = (seen.len() as u64).saturating_sub(changed.holds);
    match change {
        HoldChange::Place(_) => {
            say!(
                "held {} {place} ({others} were held there already: their first reason is \
                 kept); {} now held; rejected {rejected}",
                crate::printable::count(changed.holds, "video", "videos"),
                crate::printable::count(changed.rows, "queued row is", "queued rows are")
            );
            // What a hold cannot undo, said where the operator looks.
            if changed.in_flight > 0 {
                complain!(
                    "memories-reaper: {} of these videos in flight: each is held before its \
                     request is recorded, unless that request already went out",
                    crate::printable::count(changed.in_flight, "row is", "rows are")
                );
            }
            if changed.deleted > 0 {
                complain!(
                    "memories-reaper: {} deleted already (`receipts` says when)",
                    crate::printable::count(
                        changed.deleted,
                        "of these videos was",
                        "of these videos were"
                    )
                );
            }
        }
        HoldChange::Release => say!(
            "released {} {place} ({} no hold placed {}; `hold list` shows the holds that \
             remain); {} pending again; rejected {rejected}",
            crate::printable::count(changed.holds, "hold", "holds"),
            crate::printable::count(others, "video had", "videos had"),
            if namespace.is_some() {
                "with that --namespace"
            } else {
                "without --namespace"
            },
            crate::printable::count(changed.rows, "row is", "rows are")
        ),
    }
    Ok(u8::from(rejected > 0))
}

/// `hold list`: every hold, oldest first.
pub async fn hold_list(config: &Config, json: bool) -> anyhow::Result<u8> {
    let queue = open_existing(config).await?;
    let holds = queue.holds(None).await;
    queue.close().await;
    let holds = holds?;
    if json {
        say!("{}", serde_json::to_string_pretty(&holds)?);
        return Ok(0);
    }
    if holds.is_empty() {
        say!("no legal holds");
    }
    for hold in &holds {
        say!(
            "{}\t{}\t{} UTC\t{} rows held\t{}",
            hold.video_no,
            hold.namespace
                .as_deref()
                .map_or("*".to_owned(), crate::printable::escaped),
            hold.placed_at,
            hold.rows_held,
            crate::printable::escaped(&hold.reason)
        );
    }
    Ok(0)
}

pub async fn retry_failed(
    config: &Config,
    namespace: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<u8> {
    let namespace = namespace
        .map(Namespace::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let queue = open_existing(config).await?;
    let result = queue.retry_failed(namespace.as_ref(), since).await;
    queue.close().await;
    let reopened = result?;
    say!(
        "{} pending again",
        crate::printable::count(reopened.pending, "failed row is", "failed rows are")
    );
    if reopened.held > 0 {
        say!(
            "{} held instead: a legal hold covers their videos (`memories-reaper hold list`)",
            crate::printable::count(reopened.held, "failed row is", "failed rows are")
        );
    }
    if reopened.left > 0 {
        say!(
            "{} left failed: their due_at could not be read, so when they were meant to go \
             is unknown; queue those videos again with a readable due_at",
            crate::printable::count(reopened.left, "failed row was", "failed rows were")
        );
    }
    Ok(0)
}

pub async fn prune(config: &Config, older_than: std::time::Duration) -> anyhow::Result<u8> {
    let before = Utc::now() - older_than;
    let queue = open_existing(config).await?;
    let result = queue.prune(before).await;
    let head = queue.chain_head().await;
    queue.close().await;
    let pruned = result?;
    say!(
        "removed {} and {} from before {}",
        crate::printable::count(pruned.rows, "settled row", "settled rows"),
        crate::printable::count(pruned.batches, "batch record", "batch records"),
        before.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some((seq, hash)) = pruned.anchor {
        say!("the settlement chain now starts after entry {seq}, whose hash was {hash}");
        // With the head: a copy to keep, against which an anchor moved later is found.
        if let Ok((head_seq, head_hash)) = head {
            say!("its head is entry {head_seq}, hash {head_hash}");
        }
    }
    Ok(0)
}

/// A duration back from now, at most [`LONGEST_AGO`].
fn parse_age(raw: &str) -> Result<std::time::Duration, String> {
    parse_duration_at_most(raw, LONGEST_AGO)
}

/// `receipts`: the settled rows `filter` selects, to `output` (a file, created or
/// truncated) or stdout.
pub async fn receipts(
    config: &Config,
    selected: Selected<'_>,
    format: crate::receipts::Format,
    output: Option<&std::path::Path>,
) -> anyhow::Result<u8> {
    if let (Some(since), Some(until)) = (selected.since, selected.until) {
        if since >= until {
            anyhow::bail!(
                "--since ({}) is not before --until ({}): no row can be in between",
                since.format("%Y-%m-%d %H:%M:%S UTC"),
                until.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
    }
    let filter = &Filter {
        since: selected.since,
        until: selected.until,
        namespace: selected
            .namespace
            .map(Namespace::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        status: selected
            .status
            .map(parse_settled)
            .transpose()
            .map_err(anyhow::Error::msg)?,
    };
    let queue = open_existing(config).await?;
    let mut out: Box<dyn std::io::Write> = match output {
        // A new file only: `--output` pointed at the queue (or the config) by mistake
        // truncated it.
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| {
                    format!(
                        "cannot create {} (receipts write a new file: remove it or give another name)",
                        crate::printable::path(path)
                    )
                })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let result = crate::receipts::write(&queue, filter, format, &mut out).await;
    drop(out);
    queue.close().await;
    let written = result?;
    if let Some(path) = output {
        say!(
            "wrote {written} receipts to {}",
            crate::printable::path(path)
        );
    }
    Ok(0)
}

/// `receipts --verify`: the settlement chain recomputed and compared with the tables.
pub async fn verify_chain(config: &Config) -> anyhow::Result<u8> {
    let queue = open_existing(config).await?;
    let verdict = queue.verify_chain().await;
    queue.close().await;
    let verdict = verdict?;
    for problem in &verdict.problems {
        complain!("memories-reaper: mismatch: {problem}");
    }
    if verdict.mismatches > 0 {
        say!(
            "settlement chain: {} in {} entries ({} described above); head {}",
            crate::printable::count(verdict.mismatches, "mismatch", "mismatches"),
            verdict.entries,
            verdict.problems.len(),
            verdict.head
        );
        return Ok(1);
    }
    let (anchor_seq, anchor_hash) = &verdict.anchor;
    say!(
        "settlement chain: {} verified after entry {anchor_seq} (hash {anchor_hash}), and the \
         tables agree with them; head {}",
        crate::printable::count(verdict.entries, "entry", "entries"),
        verdict.head
    );
    Ok(0)
}

/// Which settled rows `receipts` writes, as given on the command line.
pub struct Selected<'a> {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub namespace: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// `--status` of `receipts`: a status a row ends in.
fn parse_settled(raw: &str) -> Result<RowStatus, String> {
    RowStatus::SETTLED
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| {
            let names: Vec<&str> = RowStatus::SETTLED.iter().map(|s| s.as_str()).collect();
            format!("not a status rows end in; one of {}", names.join(", "))
        })
}

/// `prune --older-than`: 1h ([`SHORTEST_KEEP`], as for `retention.keep`) to a century.
pub fn parse_older_than(raw: &str) -> Result<std::time::Duration, String> {
    let age = parse_age(raw)?;
    if age < SHORTEST_KEEP {
        return Err(format!(
            "{} is less than an hour: records younger than that are kept, they are what \
             shows a deletion happened (and a request may still be in flight)",
            crate::printable::quoted(raw, 40)
        ));
    }
    Ok(age)
}

/// `--since`: a duration back from now (`24h`, `7d`; at most [`LONGEST_AGO`]), or a UTC
/// date or time (`2026-11-01`, `2026-11-01 12:00:00`).
pub fn parse_since(raw: &str) -> Result<DateTime<Utc>, String> {
    if humantime::parse_duration(raw).is_ok() {
        return Ok(Utc::now() - parse_age(raw)?);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "{raw:?} is neither a duration (\"24h\", \"7d\") nor a UTC date (\"2026-11-01\", \"2026-11-01 12:00:00\")"
    ))
}

/// `manpage --dir DIR`: the manual pages of `command` and each of its subcommands.
pub fn manpages(command: clap::Command, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(command, dir))
        .with_context(|| {
            format!(
                "cannot write the manual pages into {}",
                crate::printable::path(dir)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_dates() {
        let day_ago = parse_since("1day").unwrap();
        let diff = Utc::now() - day_ago;
        assert!((diff.num_seconds() - 86_400).abs() < 5);
        assert_eq!(
            parse_since("2026-11-01").unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-01 12:30:00").unwrap().to_rfc3339(),
            "2026-11-01T12:30:00+00:00"
        );
        assert!(parse_since("last tuesday").unwrap_err().contains("neither"));
        let err = parse_since("99999999999999d").unwrap_err();
        assert!(err.contains("longer than the limit of 100years"), "{err}");
        assert!(parse_age("101y").unwrap_err().contains("limit"));
        assert!(parse_older_than("59m")
            .unwrap_err()
            .contains("less than an hour"));
        assert_eq!(parse_older_than("1h").unwrap(), SHORTEST_KEEP);
        assert_eq!(
            parse_age("100y").unwrap(),
            LONGEST_AGO,
            "the limit itself is allowed"
        );
    }
}
