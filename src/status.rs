//! The `status` command's output: the queue report as text for people or JSON for tools.
//! It shows what the database holds, which never includes the API key.

use std::fmt::Write;

use crate::queue::report::Report;

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
                p.last_error
                    .as_deref()
                    .map(|e| format!(" last error: {e}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "oldest pending: none");
        }
    }
    if report.unreadable_due > 0 {
        let _ = writeln!(
            out,
            "rows with an unreadable due_at: {} (never sent: failed, or never due; their \
             last_error names the value; queue those videos again with a readable due_at)",
            report.unreadable_due
        );
    }
    let _ = writeln!(out, "last batches:");
    if report.last_batches.is_empty() {
        let _ = writeln!(out, "  (none yet)");
    }
    for b in &report.last_batches {
        let _ = writeln!(
            out,
            "  #{} {} {} ids={} attempt={} outcome={} http={} code={} {}ms{}",
            b.id,
            b.started_at,
            b.unique_id,
            b.ids_count,
            b.attempt,
            b.outcome,
            b.http_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            b.api_code.as_deref().unwrap_or("-"),
            b.duration_ms.unwrap_or(0),
            b.error
                .as_deref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default()
        );
    }
    out
}

pub fn json(report: &Report) -> String {
    // The report is plain strings and numbers: it always serializes.
    serde_json::to_string_pretty(report).expect("the report serializes")
}
