//! The pass's transactions (`Store`), written once over a [`Driver`].
//!
//! Each function is one short transaction (or a single statement) and none is open across
//! an HTTP call: producers must be able to insert while a pass runs. A row leaves
//! `in_flight` only through `finish_request` (a recorded outcome), `fail_unsent`, the
//! claim's settlement from an earlier deletion of its video, `release` (the claim's guard:
//! worked out, shutdown, a stopped pass), `take_back_expired` (its holder stopped renewing
//! the lease), a lookup's miss (`record_lookup`), or a legal hold (`claim` and
//! `start_request` set a held video's rows `held`).

use std::time::Duration;

use tokio::time::Instant;

use super::chain;
use super::driver::{operation, Access, Answered, Driver, Missed, Statements};
use super::{BatchId, Claim, ClaimToken, QueueError, RequestRecord, RowsEffect, Started};
use super::{Check, Checked, Miss, Settled, Unchecked};
use crate::chain::{ChainRow, Entry, Kind};
use crate::config::LONGEST_LEASE;
use crate::rate::Recorded;
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Outcome, Proof, RowStatus};

/// The most duplicate rows one claim takes along with its ids. Without a bound, a claim's
/// transaction grew with what producers put in the queue (10,000 rows of one video held
/// SQLite's write lock for 15 s); the rest are settled by later claims from the deletion.
pub const MAX_DUPLICATES: usize = 1000;

/// Puts back to `pending` the rows whose lease ran out (their holder died or hung), or
/// could not have been granted; and held rows no hold covers any longer (a release that
/// ran while a claim was setting them held, in another snapshot, left them so).
pub async fn take_back_expired<D: Driver>(driver: &D) -> Result<u64, QueueError> {
    driver.before_pass().await.map_err(|e| driver.error(e))?;
    operation!(driver, single(Access::Write), |tx| {
        let taken = tx.take_back_leases(LONGEST_LEASE).await?;
        tx.free_unheld(None).await?;
        Ok(taken)
    })
}

/// Claims the oldest due rows of one namespace, at most `limit` of them, plus due
/// duplicates of their video numbers, under a lease of `lease`.
pub async fn claim<D: Driver>(
    driver: &D,
    limit: usize,
    lease: Duration,
) -> Result<Option<Claim>, QueueError> {
    let token = ClaimToken::new();
    let t = token.as_str();
    let run = async {
        let mut tx = driver.begin(Access::Claim).await?;
        if tx.claim_rows(t, lease, limit).await? == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        // Most claims have no duplicate: asked once (one seek per claimed row, found in
        // the index alone), so that the duplicates and an earlier deletion are looked for
        // video by video only where there is one.
        let duplicates = tx.claim_has_duplicates(t).await?;
        // More rows of a video than MAX_DUPLICATES stay pending; once it is deleted, a
        // later claim settles them from that deletion.
        if duplicates {
            tx.claim_duplicates(t, lease, MAX_DUPLICATES).await?;
        }
        // The claim's one namespace, read before held rows leave it: a claim of held rows
        // only still names it. Producers write it: not valid text is `None`, reported by
        // the pass.
        let namespace = tx.claim_namespace(t).await?;
        // A video under a legal hold is not sent: its rows wait `held` until the release.
        let held = tx.hold_claimed(t, None).await?;
        // A video queued again after this database saw it deleted is settled from that
        // deletion, not sent: the API would answer 0409 and its whole batch be split. Only
        // from a deletion the chain records: a row written `deleted` by hand proves nothing.
        let settled = match duplicates {
            true => tx.settle_from_history(t, Proof::History).await?,
            false => Vec::new(),
        };
        let settled_before = settled.len() as u64;
        let rows = tx.claimed_rows(t).await?;
        let ns = namespace.clone().unwrap_or_default();
        chain::append(
            &mut *tx,
            Entry::without_request(Kind::History, &ns, settled),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Claim {
            token: token.clone(),
            namespace,
            rows,
            settled_before,
            held,
        }))
    };
    run.await.map_err(|e| driver.error(e))
}

/// Extends the lease of every row the claim still holds.
pub async fn renew<D: Driver>(
    driver: &D,
    token: &ClaimToken,
    lease: Duration,
) -> Result<(), QueueError> {
    operation!(driver, single(Access::Write), |tx| {
        tx.renew(token.as_str(), lease, lease).await
    })
}

/// Gives back to `pending` every row the claim still holds, with `last_error` when given.
pub async fn release<D: Driver>(
    driver: &D,
    token: &ClaimToken,
    last_error: Option<&str>,
) -> Result<u64, QueueError> {
    operation!(driver, single(Access::Write), |tx| {
        tx.release(token.as_str(), last_error).await
    })
}

/// Records that a request is about to be sent: a `deletion_batches` row in `sending`, one
/// more attempt on each of its rows (listed at `listed`, when a lookup before it listed
/// them: written here, with the request, and not by the lookup), and a renewed lease on
/// the whole claim.
pub async fn start_request<D: Driver>(
    driver: &D,
    token: &ClaimToken,
    namespace: &Namespace,
    video_nos: &[VideoNo],
    attempt: u32,
    listed: Option<Instant>,
    lease: Duration,
) -> Result<Started, QueueError> {
    let t = token.as_str();
    let run = async {
        let mut tx = driver.begin(Access::Write).await?;
        // A hold placed since the claim wins: checked in the transaction that records the
        // request, so no hold committed before it lets the request go. (A write: on SQLite
        // it takes the write lock first.)
        let held = tx.hold_claimed(t, Some(video_nos)).await?;
        if held > 0 {
            tx.commit().await?;
            return Ok(Started::Held(held));
        }
        let id = tx
            .insert_request(namespace, video_nos.len(), attempt, driver.sender())
            .await?;
        // How long ago, measured here: the wait for the writer's turn is not counted as
        // time since the listing.
        let listed_ago = listed.map(|at| at.elapsed());
        let sent = tx.count_attempt(t, video_nos, listed_ago).await?;
        // The claim must still hold every id: if its lease ran out and another worker
        // took them back, they are that worker's to send now (and the attempts counted
        // above are rolled back with the request's record).
        let still: std::collections::HashSet<&str> =
            sent.iter().map(|row| row.1.as_str()).collect();
        if still.len() != video_nos.len() {
            tx.rollback().await?;
            return Ok(Started::Lost);
        }
        // The whole claim's lease (a refused batch's halves wait their turn held too), only
        // where less than half a lease (which covers this request) is left: the guard renews
        // on its own timer, and every row's lease at every request was a fifth of the work.
        tx.renew(t, lease, lease / 2).await?;
        // Other processes count this request from its `started_at` (the rate): stamped
        // last, as close to the send as the transaction allows.
        tx.stamp_request(id).await?;
        // The chain vouches for the record as it stands now (and for its answer later).
        let entry = Entry::naming(Kind::Request, id, namespace.as_str(), sent);
        chain::append(&mut *tx, entry).await?;
        tx.commit().await?;
        Ok(Started::Request(BatchId(id)))
    };
    run.await.map_err(|e| driver.error(e))
}

/// Records the answer to a request and applies it to the request's rows, in one
/// transaction; a video refused for good then fails its other due rows. Returns how many
/// rows it changed.
pub async fn finish_request<D: Driver>(
    driver: &D,
    token: &ClaimToken,
    batch: BatchId,
    video_nos: &[VideoNo],
    record: &RequestRecord,
    effect: &RowsEffect,
) -> Result<u64, QueueError> {
    let (status, note, refused) = match effect {
        RowsEffect::Deleted { .. } => (RowStatus::Deleted, None, false),
        RowsEffect::Failed(reason) => (RowStatus::Failed, Some(reason.as_str()), true),
        RowsEffect::Kept { note, refused } => (RowStatus::InFlight, Some(note.as_str()), *refused),
    };
    let answered = Answered {
        batch: batch.0,
        status,
        note,
        refused,
        // An answer without an API code (a timeout, a cut connection, a proxy's page) may
        // have followed a deletion: the rows stay in doubt. A code says what happened.
        lost: record.api_code.is_none() && record.outcome != Outcome::Deleted,
        check_after: match effect {
            RowsEffect::Deleted { check_after } => *check_after,
            _ => None,
        },
        proof: answer_proof(effect, record),
    };
    let (changed, namespace) = operation!(driver, begin(Access::Write), |tx| {
        let namespace = tx.record_answer(batch.0, record).await?.unwrap_or_default();
        let changed = tx
            .settle_answered(token.as_str(), video_nos, &answered)
            .await?;
        let count = changed.len() as u64;
        // Every answer is chained, as the request's record now holds it; rows only when
        // it settled them (rows kept in flight are settled by a later entry).
        let entry = Entry {
            kind: Kind::Answer,
            batch_id: Some(batch.0),
            namespace: &namespace,
            rows: match status {
                RowStatus::InFlight => Vec::new(),
                _ => changed,
            },
            code: record.api_code.as_deref(),
            msg: record.api_msg.as_deref(),
        };
        chain::append(&mut *tx, entry).await?;
        Ok((count, namespace))
    })?;
    let mut changed = changed;
    if let RowsEffect::Failed(reason) = effect {
        changed += fail_duplicates(driver, batch, &namespace, video_nos, reason).await?;
    }
    Ok(changed)
}

/// What proves the rows an answer settles, (listed by the latest lookup, not listed):
/// a `0000` is proven by the answer alone, or by the lookup before it too; a lone `0409`
/// by itself; a lone id refused for good by the refusals. `None` for rows left in flight.
fn answer_proof(effect: &RowsEffect, record: &RequestRecord) -> Option<(Proof, Proof)> {
    match effect {
        RowsEffect::Deleted { .. } if record.outcome == Outcome::Duplicate => {
            Some((Proof::AnsweredDuplicate, Proof::AnsweredDuplicate))
        }
        RowsEffect::Deleted { .. } => Some((Proof::ListedAnswered, Proof::Answered)),
        RowsEffect::Failed(_) => Some((Proof::Refused, Proof::Refused)),
        RowsEffect::Kept { .. } => None,
    }
}

/// A video refused for good fails every due pending row of it that the claim did not
/// take along (more than `MAX_DUPLICATES`), so that all its rows end alike and none is
/// sent again. In transactions of `MAX_DUPLICATES` rows: producers wait for none long.
async fn fail_duplicates<D: Driver>(
    driver: &D,
    batch: BatchId,
    namespace: &str,
    video_nos: &[VideoNo],
    reason: &str,
) -> Result<u64, QueueError> {
    let mut failed = 0;
    loop {
        let done = operation!(driver, begin(Access::Write), |tx| {
            let rows = tx
                .fail_duplicates(
                    batch.0,
                    video_nos,
                    reason,
                    Proof::RefusedVideo,
                    MAX_DUPLICATES,
                )
                .await?;
            let count = rows.len();
            let entry = Entry {
                kind: Kind::Duplicates,
                batch_id: Some(batch.0),
                namespace,
                rows,
                code: None,
                msg: Some(reason),
            };
            chain::append(&mut *tx, entry).await?;
            Ok(count)
        })?;
        failed += done as u64;
        if done < MAX_DUPLICATES {
            return Ok(failed);
        }
    }
}

/// Records what a lookup before sending found: listed rows are marked so; each missed row
/// is settled, or put back to look again, as its [`Miss`] says. A miss verifies a deletion
/// only of a video listed before our request. Nothing to record, no transaction: the pass
/// leaves most listed rows to the request that sends them (`start_request`).
pub async fn record_lookup<D: Driver>(
    driver: &D,
    token: &ClaimToken,
    namespace: &Namespace,
    listed: &[VideoNo],
    missing: &[(VideoNo, Miss)],
    absent_after: Duration,
) -> Result<Settled, QueueError> {
    if listed.is_empty() && missing.is_empty() {
        return Ok(Settled::default());
    }
    let now = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let ids = |miss: Miss| -> Vec<VideoNo> {
        missing
            .iter()
            .filter(|(_, m)| *m == miss)
            .map(|(id, _)| id.clone())
            .collect()
    };
    let t = token.as_str();
    operation!(driver, begin(Access::Write), |tx| {
        if !listed.is_empty() {
            tx.mark_listed(t, listed).await?;
        }
        let mut rows = Vec::new();
        for miss in [Miss::Deleted, Miss::Absent, Miss::NoNamespace] {
            let (Some(when_listed), Some(when_not), video_nos) =
                (miss.proof(true), miss.proof(false), ids(miss))
            else {
                continue;
            };
            if video_nos.is_empty() {
                continue;
            }
            let note = miss.note(namespace, &now, absent_after);
            let missed = Missed {
                status: when_not.status(),
                proof: (when_listed, when_not),
                verifies: when_listed == Proof::ListedLostUnlisted,
                note: &note,
            };
            rows.extend(tx.settle_missed(t, &video_nos, &missed).await?);
        }
        let again = ids(Miss::LookAgain);
        if !again.is_empty() {
            let note = Miss::LookAgain.note(namespace, &now, absent_after);
            tx.look_again(t, &again, &note, absent_after).await?;
        }
        let settled = Settled::of(&rows);
        let entry = Entry::without_request(Kind::Lookup, namespace.as_str(), rows);
        chain::append(&mut *tx, entry).await?;
        Ok(settled)
    })
}

/// Takes deleted rows of one namespace whose check is due. The claim is the pushed
/// `check_at`: another daemon does not take these rows until it passes, and if this one
/// dies they come due again.
pub async fn claim_unchecked<D: Driver>(
    driver: &D,
    limit: usize,
    lease: Duration,
) -> Result<Option<Unchecked>, QueueError> {
    let rows = operation!(driver, single(Access::Write), |tx| {
        tx.claim_checks(lease, limit).await
    })?;
    let Some((_, _, namespace)) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Unchecked {
        namespace: namespace.clone(),
        rows: rows.into_iter().map(|(id, video, _)| (id, video)).collect(),
    }))
}

/// Records a lookup after deleting, row by row: gone (verified), still listed (sent again,
/// or failed after `rounds` rounds), to look again later, or not to be looked up.
pub async fn record_check<D: Driver>(
    driver: &D,
    namespace: &Namespace,
    rows: &[(i64, Check)],
    rounds: u32,
) -> Result<Checked, QueueError> {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
    let of = |wanted: fn(&Check) -> bool| -> Vec<i64> {
        rows.iter()
            .filter(|(_, c)| wanted(c))
            .map(|(r, _)| *r)
            .collect()
    };
    let later = rows.iter().find_map(|(_, c)| match c {
        Check::Later(after) => Some(*after),
        _ => None,
    });
    let note = format!(
        "the API accepted the deletion but still listed the video in namespace {namespace} at {now}"
    );
    operation!(driver, begin(Access::Write), |tx| {
        let mut postponed = 0;
        if let Some(later) = later {
            postponed = tx
                .postpone_checks(&of(|c| matches!(c, Check::Later(_))), later)
                .await?;
        }
        tx.drop_checks(&of(|c| *c == Check::Unknowable)).await?;
        // The verified rows' proof changes: chained, with the rows put back or failed.
        let gone = [
            (Proof::ListedAnswered, Proof::ListedAnsweredGone),
            (Proof::Answered, Proof::AnsweredGone),
        ];
        let mut changed: Vec<ChainRow> = tx.verify_checks(&of(|c| *c == Check::Gone), gone).await?;
        // Still listed: the API answered for it and kept it. Sent again (in doubt, so
        // that a lookup that then misses it counts it deleted, not absent), or failed.
        changed.extend(
            tx.relist_checks(
                &of(|c| *c == Check::Listed),
                &note,
                rounds,
                Proof::StillListed,
            )
            .await?,
        );
        let checked = Checked::of(postponed, &changed);
        let entry = Entry::without_request(Kind::Check, namespace.as_str(), changed);
        chain::append(&mut *tx, entry).await?;
        Ok(checked)
    })
}

/// Marks rows `failed` without sending them (an invalid video number or namespace).
pub async fn fail_unsent<D: Driver>(
    driver: &D,
    token: &ClaimToken,
    failures: &[(i64, String)],
) -> Result<(), QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let mut failed = Vec::new();
        let mut namespace = String::new();
        for (id, reason) in failures {
            if let Some((row, ns)) = tx
                .fail_unsent(token.as_str(), *id, reason, Proof::Invalid)
                .await?
            {
                failed.push(row);
                namespace = ns;
            }
        }
        let entry = Entry::without_request(Kind::Unsent, &namespace, failed);
        chain::append(&mut *tx, entry).await
    })
}

/// Requests recorded in the last two seconds by other processes (or this one's
/// predecessor), for the rate.
pub async fn others_requests<D: Driver>(driver: &D) -> Result<Vec<Recorded>, QueueError> {
    let rows = operation!(driver, single(Access::Read), |tx| {
        tx.recent_requests(driver.sender()).await
    })?;
    // A clock stepped back can make a record look younger than now: count it as now.
    Ok(rows
        .into_iter()
        .filter_map(|(id, s)| {
            let ago = Duration::try_from_secs_f64(s?.max(0.0)).ok()?;
            Some(Recorded { id, ago })
        })
        .collect())
}

/// The round trip of the newest answered request, if it was deleted, answered within
/// `within` (an unreadable duration reads as zero).
pub async fn last_good_answer<D: Driver>(
    driver: &D,
    within: Duration,
) -> Result<Option<Duration>, QueueError> {
    let last = operation!(driver, single(Access::Read), |tx| {
        tx.last_answer_good(within).await
    })?;
    Ok(match last {
        Some((Some(true), ms)) => Some(Duration::from_millis(
            ms.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0),
        )),
        _ => None,
    })
}

/// How many ids `insert` writes per statement: big enough to be fast, small enough that a
/// producer's insert never waits long behind it.
const INSERT_CHUNK: usize = 1000;

/// Inserts video numbers as a producer would, a statement (and transaction) a thousand.
pub async fn insert<D: Driver>(
    driver: &D,
    namespace: &Namespace,
    video_nos: &[VideoNo],
) -> Result<u64, QueueError> {
    let run = async {
        let mut inserted = 0;
        for chunk in video_nos.chunks(INSERT_CHUNK) {
            let mut tx = driver.single(Access::Write).await?;
            inserted += tx.insert_videos(namespace, chunk).await?;
        }
        Ok(inserted)
    };
    run.await.map_err(|e| driver.error(e))
}
