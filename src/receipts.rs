//! The `receipts` command: one record per settled row — the video, its namespace and final
//! status, when it was queued and settled, the request that settled it and what the API
//! answered, and what the lookups found before and after — as CSV or JSON lines, for an
//! auditor. Streamed from the database to the output: constant memory at any size.

use std::io::Write;

use futures_util::StreamExt;

use crate::progress::Progress;
use crate::queue::receipts::{Filter, Receipt};
use crate::queue::{Queue, QueueError};

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
