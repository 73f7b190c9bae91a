//! The `status` command's output: the queue report as text for people or JSON for tools.
//! It shows what the database holds, which never includes the API key. Every value from
//! the database is a [`Cell`]: printed escaped and cut, whatever its type.

use std::fmt::Write;

use super::open_existing;
use crate::config::{Config, LONGEST_LEASE};
use crate::printable;
use crate::queue::report::{Cell, Report};
use crate::queue::rules::ListingReport;

pub async fn show_status(config: &Config, as_json: bool, last: u32) -> anyhow::Result<u8> {
    let queue = open_existing(config).await?;
    let report = queue.report(last).await;
    let rules = queue.rule_reports(None).await;
    queue.close().await;
    let (report, rules) = (report?, rules?);
    if as_json {
        say!("{}", json(&report, &rules));
    } else {
        say!(
            "{}",
            (text(&report) + &rules_text(&rules)).trim_end_matches('\n')
        );
    }
    Ok(0)
}

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "rows by namespace and status:");
    if report.counts.is_empty() {
        let _ = writeln!(out, "  (queue is empty)");
    }
    for c in &report.counts {
        let _ = writeln!(out, "  {:<24} {:<10} {}", c.unique_id, c.status, c.rows);
    }
    if !report.proofs.is_empty() {
        let _ = writeln!(
            out,
            "settled rows by what proves them (docs/src/proofs.md):"
        );
        for p in &report.proofs {
            let _ = writeln!(out, "  {:<10} {:<24} {}", p.status, p.proof, p.rows);
        }
    }
    let _ = writeln!(
        out,
        "due now: {} (pending, due_at passed: what the next pass sends)",
        printable::count(u64::try_from(report.due).unwrap_or_default(), "row", "rows")
    );
    if report.awaiting_lookup.rows > 0 {
        let _ = writeln!(
            out,
            "not due until their next lookup: {} (pending: a lookup did not find the video, \
             verify.absent_after; the first is looked up again at {} UTC)",
            printable::count(
                u64::try_from(report.awaiting_lookup.rows).unwrap_or_default(),
                "row",
                "rows"
            ),
            report.awaiting_lookup.first
        );
    }
    match &report.oldest_pending {
        Some(p) => {
            let _ = writeln!(
                out,
                "oldest pending: row {} {} in {} enqueued {} due {} attempts {}{}",
                p.id,
                p.video_no,
                p.unique_id,
                p.enqueued_at,
                p.due_at,
                p.attempts,
                match &p.last_error {
                    Cell::Null => String::new(),
                    e => format!(" last error: {e}"),
                }
            );
        }
        None => {
            let _ = writeln!(out, "oldest pending: none");
        }
    }
    if report.unreadable_due > 0 {
        let _ = writeln!(
            out,
            "rows with an unreadable due_at: {} (never sent: failed with a last_error that \
             names the value, or waiting and never due; queue those videos again with a \
             readable due_at)",
            report.unreadable_due
        );
    }
    if report.impossible_leases > 0 {
        let _ = writeln!(
            out,
            "rows in flight under a lease memories-reaper never grants: {} (lease_until \
             unreadable, or more than {} ahead; the next pass takes them back)",
            report.impossible_leases,
            humantime::format_duration(LONGEST_LEASE)
        );
    }
    if report.holds > 0 {
        let _ = writeln!(
            out,
            "legal holds: {} (their videos are never sent; `memories-reaper hold list` shows \
             them all), the newest:",
            report.holds
        );
        for hold in &report.newest_holds {
            let _ = writeln!(
                out,
                "  {} in {} since {} UTC: {}",
                hold.video_no,
                hold.namespace
                    .as_deref()
                    .map_or("every namespace".to_owned(), printable::escaped),
                hold.placed_at,
                printable::escaped(&hold.reason)
            );
        }
    }
    match &report.sender {
        Some(sender) if sender.remaining_seconds > 0.0 => {
            let _ = writeln!(
                out,
                "sender: {} (its lease runs {:.0} s more; other daemons stand by)",
                sender.holder, sender.remaining_seconds
            );
        }
        Some(sender) => {
            let _ = writeln!(
                out,
                "sender: none (the last, {}, gave its lease up or stopped renewing it)",
                sender.holder
            );
        }
        None => {
            let _ = writeln!(out, "sender: none yet");
        }
    }
    let _ = writeln!(out, "last batches:");
    if report.last_batches.is_empty() {
        let _ = writeln!(out, "  (none yet)");
    }
    for b in &report.last_batches {
        let _ = writeln!(
            out,
            "  #{} {} {} ids={} attempt={} outcome={} http={} code={} {}{}",
            b.id,
            b.started_at,
            b.unique_id,
            b.ids_count,
            b.attempt,
            b.outcome,
            b.http_status,
            b.api_code,
            match &b.duration_ms {
                Cell::Null => "-".to_owned(),
                d => format!("{d}ms"),
            },
            match &b.error {
                Cell::Null => String::new(),
                e => format!(" error: {e}"),
            }
        );
    }
    out
}

/// The lifecycle rules' latest listings (none: nothing).
pub fn rules_text(rules: &[ListingReport]) -> String {
    let mut out = String::new();
    if rules.is_empty() {
        return out;
    }
    let _ = writeln!(out, "lifecycle rules, the last decided listing of each:");
    for r in rules {
        let _ = writeln!(
            out,
            "  {}: listing {} ({}, {}{}) started {} UTC: {} of {} listed match, {} enqueued{}",
            printable::escaped(&r.rule),
            r.id,
            printable::escaped(&r.mode),
            printable::escaped(&r.state),
            if r.confirmed { ", confirmed" } else { "" },
            printable::escaped(&r.started_at),
            r.matched,
            r.listed,
            r.enqueued,
            r.note
                .as_deref()
                .map(|n| format!("; {}", printable::cut(&printable::escaped(n), 300)))
                .unwrap_or_default()
        );
        if let Some(now) = r.listing_now {
            let _ = writeln!(out, "    listing {now}, newer, is under way");
        }
    }
    out
}

pub fn json(report: &Report, rules: &[ListingReport]) -> String {
    // The report and the listings are plain strings, numbers, options and lists of them,
    // with no map keyed by anything but a string (serde_json writes a float that is not
    // finite as null): they always serialize.
    let mut value = serde_json::to_value(report).expect("the report serializes");
    if let Some(fields) = value.as_object_mut() {
        let rules = serde_json::to_value(rules).expect("the listings serialize");
        fields.insert("rules".into(), rules);
    }
    serde_json::to_string_pretty(&value).expect("a JSON value serializes")
}
