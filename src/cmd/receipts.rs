//! The `receipts` command: one record per settled row — the video, its namespace and final
//! status, when it was queued and settled, the request that settled it and what the API
//! answered, and what the lookups found before and after — as CSV or JSON lines, for an
//! auditor. Streamed from the database to the output: constant memory at any size.

use std::io::Write;

use futures_util::StreamExt;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::open_existing;
use crate::config::Config;
use crate::progress::Progress;
use crate::queue::receipts::{Filter, Receipt};
use crate::queue::{Queue, QueueError};
use crate::video::Namespace;
use crate::vocabulary::RowStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// Writes the receipts `filter` selects to `out`; how many were written. A reader that
/// went away (`receipts | head`) ends the writing, not the command's success.
pub async fn write(
    queue: &Queue,
    filter: &Filter,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let total = queue.count_receipts(filter).await?;
    let mut progress = Progress::new("receipts", u64::try_from(total).unwrap_or(0));
    let result = write_all(queue, filter, format, out, &mut progress).await;
    progress.finish();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(anyhow::anyhow!("cannot write the receipts: {e}")),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(written)) => Ok(written),
    }
}

/// The writing itself: an I/O error outside, a database error inside.
async fn write_all(
    queue: &Queue,
    filter: &Filter,
    format: Format,
    out: &mut dyn Write,
    progress: &mut Progress,
) -> std::io::Result<Result<u64, QueueError>> {
    if format == Format::Csv {
        writeln!(out, "{}", Receipt::COLUMNS.join(","))?;
    }
    let mut rows = queue.receipts(filter);
    let mut written = 0u64;
    let mut line = String::new();
    while let Some(receipt) = rows.next().await {
        let receipt = match receipt {
            Ok(receipt) => receipt,
            Err(e) => return Ok(Err(e)),
        };
        line.clear();
        match format {
            Format::Csv => csv_line(&receipt, &mut line),
            Format::Jsonl => {
                line.push_str(&serde_json::to_string(&receipt)?);
                line.push('\n');
            }
        }
        out.write_all(line.as_bytes())?;
        written += 1;
        progress.step();
    }
    out.flush()?;
    Ok(Ok(written))
}

/// One CSV record (RFC 4180): a field with a comma, a quote or a line break is quoted,
/// its quotes doubled; NULL is an empty field.
fn csv_line(receipt: &Receipt, line: &mut String) {
    for (i, cell) in receipt.values().into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let Some(value) = cell.plain() else {
            continue;
        };
        if value.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&value.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&value);
        }
    }
    line.push('\n');
}

/// `receipts`: the settled rows `filter` selects, to `output` (a file, created or
/// truncated) or stdout.
pub async fn receipts(
    config: &Config,
    selected: Selected<'_>,
    format: Format,
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
    let result = write(&queue, filter, format, &mut out).await;
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
