//! `hold add`, `hold release` and `hold list`: legal holds, which keep videos from being
//! deleted until they are released.

use std::collections::HashSet;

use super::{open_existing, open_ids_file};
use crate::config::Config;
use crate::ids::{Ids, Read};
use crate::progress::Progress;
use crate::video::Namespace;

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
    let mut progress = Progress::new("ids read", 0);
    let result: anyhow::Result<()> = async {
        loop {
            let read = ids.next().map_err(anyhow::Error::msg)?;
            if read.is_some() {
                progress.step();
            }
            match &read {
                Some(Read::Id(id)) if seen.insert(id.clone()) => chunk.push(id.clone()),
                Some(Read::Id(_)) => {}
                Some(Read::Rejected(why)) => {
                    rejected += 1;
                    progress.suspend(|| complain!("memories-reaper: rejected {why}"));
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
    progress.finish();
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
                "held {} {place} ({} held there already: the first reason is kept); {} \
                 now held; rejected {rejected}",
                crate::printable::count(changed.holds, "video", "videos"),
                crate::printable::count(others, "was", "were"),
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
            "{}\t{}\t{} UTC\t{} held\t{}",
            hold.video_no,
            hold.namespace
                .as_deref()
                .map_or("*".to_owned(), crate::printable::escaped),
            hold.placed_at,
            crate::printable::count(hold.rows_held.unsigned_abs(), "row", "rows"),
            crate::printable::escaped(&hold.reason)
        );
    }
    Ok(0)
}
