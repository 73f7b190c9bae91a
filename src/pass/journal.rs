//! The pass's log events, each written once, with the field names `vocabulary` lists.
//! `tracing` takes field names as identifiers: keeping every event that carries them here
//! is what keeps `batch_namespace` from becoming `namespace` in one place and not another.
//!
//! Each message also reads on its own, with the facts in words: journald's default output
//! (`journalctl -u memories-reaper`, `-o cat`) shows the message only, not the fields.
//! The metrics are fed here too (`crate::metrics`), so a counter and its line agree.

use std::time::Duration;

use tracing::{debug, error, info, warn, Level};

use super::{Checked, Interruption, Miss, PassEnd, PassReport};
use crate::api::{Answer, Verdict};
use crate::printable;
use crate::queue::BatchId;
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Proof, RowStatus};

/// One line per request: `journalctl BATCH_OUTCOME=retry` and the like.
pub fn request(batch: BatchId, namespace: &Namespace, count: usize, attempt: u32, answer: &Answer) {
    let batch_id = batch.0;
    let batch_namespace = namespace.as_str();
    let batch_count = count;
    let batch_attempt = attempt;
    let batch_outcome = answer.verdict.outcome().as_str();
    let batch_code = answer.code.as_deref().unwrap_or("-");
    let batch_duration_ms = u64::try_from(answer.duration.as_millis()).unwrap_or(u64::MAX);
    // `event!` takes its level as a constant: one arm per level, the same fields in each.
    macro_rules! line {
        ($level:expr, $($message:tt)+) => {
            tracing::event!(
                $level, batch_id, batch_namespace, batch_count, batch_attempt, batch_outcome,
                batch_code, batch_duration_ms, $($message)+
            )
        };
    }
    // "took": "in 1 ms" after "retry" read as the backoff.
    let said = format!(
        "batch {batch_id}: {} in namespace {namespace}, attempt {batch_attempt}, \
         {batch_outcome} (code {batch_code}), took {batch_duration_ms} ms",
        printable::count(batch_count as u64, "id", "ids")
    );
    match answer.verdict {
        Verdict::Deleted => line!(Level::INFO, "{said}"),
        Verdict::Stop => line!(Level::ERROR, "{said}: refused: {}", answer.reason),
        _ => line!(Level::WARN, "{said}: not deleted: {}", answer.reason),
    }
    crate::metrics::request(
        answer.verdict.outcome(),
        answer.code.as_deref(),
        answer.duration,
        answer.refuses_key(),
    );
}

/// A row failed without being sent (an invalid video number or namespace).
pub fn row_failed_unsent(row_id: i64, namespace: &str, reason: &str) {
    warn!(
        row_id,
        row_status = RowStatus::Failed.as_str(),
        batch_namespace = namespace,
        "row {row_id} in namespace {} failed without being sent: {reason}",
        printable::escaped(namespace)
    );
}

/// A lone video the API refused `isolation.confirmations` times: its rows failed.
pub fn video_failed(batch: BatchId, namespace: &Namespace, video_no: &VideoNo, reason: &str) {
    warn!(
        batch_id = batch.0,
        batch_namespace = namespace.as_str(),
        row_status = RowStatus::Failed.as_str(),
        video_no = video_no.as_str(),
        "video {video_no} in namespace {namespace}, refused by the API in batch {}: its rows \
         failed: {reason}",
        batch.0
    );
}

/// The worker's claim ran out before it could send (its rows are another worker's now).
pub fn claim_lost(namespace: &Namespace, count: usize) {
    warn!(
        batch_namespace = namespace.as_str(),
        batch_count = count,
        "{} in namespace {namespace}: the claim's lease ran out before the request went \
         out; not sent (another worker holds the rows)",
        printable::count(count as u64, "id", "ids")
    );
}

/// Rows of held videos set `held` when claimed: they wait for the hold's release.
pub fn held_at_claim(namespace: Option<&str>, rows: u64) {
    let namespace = namespace.unwrap_or("(not valid text)");
    let are = if rows == 1 { "is" } else { "are" };
    let rows = printable::count(rows, "row in namespace", "rows in namespace");
    info!(
        batch_namespace = namespace,
        row_status = RowStatus::Held.as_str(),
        "{rows} {namespace} {are} under a legal hold: held, not sent (`memories-reaper hold \
         list`)"
    );
}

/// A hold placed while a claimed batch waited for its turn: the request does not go.
pub fn held_before_sending(namespace: &Namespace, count: usize, rows: u64) {
    warn!(
        batch_namespace = namespace.as_str(),
        batch_count = count,
        row_status = RowStatus::Held.as_str(),
        "{} in namespace {namespace}: a legal hold was placed on {rows} of their rows \
         before the request went out; not sent (the others go in a later request)",
        printable::count(count as u64, "id", "ids")
    );
}

/// A batch looked up before sending: how many were listed, and what became of the rest.
pub fn looked_up(
    namespace: &Namespace,
    listed: usize,
    missing: &[(VideoNo, Miss)],
    again: Duration,
) {
    let batch_namespace = namespace.as_str();
    for (video_no, miss) in missing {
        let video_no = video_no.as_str();
        match miss {
            Miss::Deleted => info!(
                batch_namespace,
                video_no,
                row_status = RowStatus::Deleted.as_str(),
                row_proof = Proof::LostUnlisted.as_str(),
                "video {video_no} in namespace {namespace}: deleted: not listed after a request \
                 of ours that carried it lost its answer (or answered 0000 and kept listing \
                 it): deleted by that request, or never there"
            ),
            Miss::NoNamespace => warn!(
                batch_namespace,
                video_no,
                row_status = RowStatus::Absent.as_str(),
                row_proof = Proof::NoNamespace.as_str(),
                "video {video_no} in namespace {namespace}: absent: the account has no such \
                 namespace (looked up twice); nothing to delete there (`memories-reaper \
                 locate {video_no}` finds where it lives)"
            ),
            Miss::Absent => warn!(
                batch_namespace,
                video_no,
                row_status = RowStatus::Absent.as_str(),
                row_proof = Proof::UnlistedTwice.as_str(),
                "video {video_no} in namespace {namespace}: absent: not there, looked up twice; \
                 nothing to delete (queued under the wrong namespace? `memories-reaper status` \
                 counts absent rows per namespace)"
            ),
            Miss::LookAgain => info!(
                batch_namespace,
                video_no,
                "video {video_no} not listed in namespace {namespace}: not sent; looked up \
                 again in {}",
                humantime::format_duration(again)
            ),
        }
    }
    debug!(
        batch_namespace,
        listed,
        missing = missing.len(),
        "looked up {} ids in namespace {namespace}: {listed} listed",
        listed + missing.len()
    );
}

/// A lookup after deleting: what it verified, what goes back to be sent again.
pub fn checked(namespace: &Namespace, checked: &Checked) {
    let Checked {
        verified,
        resent,
        failed,
        postponed,
    } = *checked;
    let batch_namespace = namespace.as_str();
    if resent + failed > 0 {
        warn!(
            batch_namespace,
            verified,
            resent,
            failed,
            "looked up after deleting, namespace {namespace}: {verified} verified gone; the \
             API answered for {} videos and still lists them ({resent} sent again, {failed} \
             failed after verify.after_rounds)",
            resent + failed
        );
    } else {
        info!(
            batch_namespace,
            verified,
            postponed,
            "looked up after deleting, namespace {namespace}: {verified} verified gone, \
             {postponed} to look up later"
        );
    }
}

/// Lookups could not be used: this pass sends unverified (said once a pass).
/// What a pass does when its lookups cannot be used.
pub enum Unlooked {
    /// Sends without looking first: what it deletes is recorded unverified.
    Send,
    /// Keeps the rows pending (`verify.required`).
    Hold,
    /// Looks up the deletions it was to verify later (`verify.after`).
    CheckLater,
}

/// Lookups could not be used (said once a pass), and what the pass does instead.
pub fn unverified(namespace: &Namespace, why: &str, instead: Unlooked) {
    let instead = match instead {
        Unlooked::Send => {
            "this pass sends without looking first, and what it deletes is recorded \
             unverified (verify.required = true would keep the rows pending)"
        }
        Unlooked::Hold => "verify.required keeps the rows pending until they can",
        Unlooked::CheckLater => "the deletions to verify are looked up again later",
    };
    warn!(
        batch_namespace = namespace.as_str(),
        "namespace {namespace}: lookups cannot be used ({why}); {instead}"
    );
    crate::metrics::lookups_unavailable();
}

pub fn pass_end(end: &PassEnd, report: &PassReport, lease: Duration, took: Duration) {
    let ended = match end {
        PassEnd::Drained => "drained",
        PassEnd::Interrupted(_) => "interrupted",
        PassEnd::Stopped(_) => "stopped",
    };
    crate::metrics::pass_end(ended, took);
    let PassReport {
        requests,
        deleted,
        failed,
        absent,
        released,
        stranded,
    } = *report;
    let totals = format!(
        "{}, {deleted} deleted, {failed} failed, {absent} absent in {:.1} s",
        crate::printable::count(requests, "request", "requests"),
        took.as_secs_f64()
    );
    // Rows the database could not take back are not pending yet: say when they will be.
    let unsent = if stranded {
        format!(
            "{} pending again; rows the database could not take back return to pending when \
             their lease runs out (at most {})",
            crate::printable::count(released, "unsent row is", "unsent rows are"),
            humantime::format_duration(lease)
        )
    } else {
        format!(
            "{} pending again",
            crate::printable::count(released, "unsent row is", "unsent rows are")
        )
    };
    match end {
        // A quiet daemon is quiet: a pass that found nothing to do says so at DEBUG only
        // (the daemon says it is alive once an hour instead).
        PassEnd::Drained if report.idle() => debug!(
            requests,
            deleted, failed, absent, "pass finished: nothing was due; {totals}"
        ),
        PassEnd::Drained => info!(
            requests,
            deleted, failed, absent, "pass finished: nothing due is left; {totals}"
        ),
        PassEnd::Interrupted(Interruption::Shutdown) => info!(
            requests,
            deleted, failed, absent, released, "pass interrupted by shutdown: {totals}; {unsent}"
        ),
        PassEnd::Interrupted(Interruption::LeaseLost) => warn!(
            requests,
            deleted,
            failed,
            absent,
            released,
            "pass interrupted: this daemon lost the sender's lease and sends no more; \
             {totals}; {unsent}, for the daemon that sends now"
        ),
        PassEnd::Stopped(reason) => error!(
            requests,
            deleted, failed, absent, released, "pass stopped: {reason}; {totals}; {unsent}"
        ),
    }
}
