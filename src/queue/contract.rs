//! What the pass needs from the queue, stated as a trait ([`Store`], which `Queue`
//! implements) with the types of its answers: the queue's contract, beside the queue, so
//! that the queue imports nothing of the pass. Tests give the pass a `Queue` on a
//! temporary file (`pass::tests`).

use std::future::Future;
use std::time::Duration;

use super::{BatchId, Claim, ClaimToken, QueueError, RequestRecord, RowsEffect, Started};
use crate::chain::ChainRow;
use crate::rate::Recorded;
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::{Proof, RowStatus};

/// The queue as the pass uses it: claims under a lease, the record of every request, and
/// the rows' settlement. Each call is one short transaction; none spans a request.
pub trait Store: Clone + Send + Sync + 'static {
    /// Puts back to `pending` the rows whose lease ran out.
    fn take_back_expired(&self) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// Claims the oldest due rows of one namespace (at most `limit` distinct ids, and a
    /// bounded number of their due duplicates) under a lease of `lease`.
    fn claim(
        &self,
        limit: usize,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<Claim>, QueueError>> + Send;

    /// Extends the lease of every row the claim holds.
    fn renew(
        &self,
        token: &ClaimToken,
        lease: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Records a request about to go out, unless the claim no longer holds every one of
    /// these ids (its lease ran out and another worker took them) or a legal hold now
    /// covers some of them: then it must not go. `listed`: when the lookup before it listed
    /// them all, if one did (recorded on the rows with the request).
    fn start_request(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        ids: &[VideoNo],
        attempt: u32,
        listed: Option<tokio::time::Instant>,
        lease: Duration,
    ) -> impl Future<Output = Result<Started, QueueError>> + Send;

    /// Records the answer and applies it to the request's rows; returns the rows changed.
    fn finish_request(
        &self,
        token: &ClaimToken,
        batch: BatchId,
        ids: &[VideoNo],
        record: &RequestRecord,
        effect: &RowsEffect,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// Gives back to `pending` every row the claim still holds.
    fn release(
        &self,
        token: &ClaimToken,
        last_error: Option<&str>,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// Records what a lookup before sending found: `listed` ids were seen in the
    /// namespace (marked listed now, a miss before cleared); each missing id is settled
    /// (`deleted`, `absent`) or given back to look again `absent_after` later, as [`Miss`]
    /// says. Nothing listed or missing: nothing written.
    fn record_lookup(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        listed: &[VideoNo],
        missing: &[(VideoNo, Miss)],
        absent_after: Duration,
    ) -> impl Future<Output = Result<Settled, QueueError>> + Send;

    /// Takes deleted rows of one namespace whose lookup after the deletion is due (at most
    /// `limit`), holding them from other daemons for `lease`.
    fn claim_unchecked(
        &self,
        limit: usize,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<Unchecked>, QueueError>> + Send;

    /// Records a lookup after deleting, row by row (see [`Check`]); a row still listed
    /// `rounds` times fails.
    fn record_check(
        &self,
        namespace: &Namespace,
        rows: &[(i64, Check)],
        rounds: u32,
    ) -> impl Future<Output = Result<Checked, QueueError>> + Send;

    /// Fails rows without sending them (an invalid video number or namespace).
    fn fail_unsent(
        &self,
        token: &ClaimToken,
        failures: &[(i64, String)],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The requests other processes recorded in the last two seconds (at most 100).
    fn others_requests(&self) -> impl Future<Output = Result<Vec<Recorded>, QueueError>> + Send;

    /// The round trip of the last answered request (by any process), if it was the
    /// documented success, answered within `within`.
    fn last_good_answer(
        &self,
        within: Duration,
    ) -> impl Future<Output = Result<Option<Duration>, QueueError>> + Send;
}

/// What becomes of an id its namespace does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// A request of ours whose answer was lost may have deleted it, or it was never there:
    /// `deleted`, proven by no more than that ([`Proof::LostUnlisted`]).
    Deleted,
    /// Not there, twice, `absent_after` apart: nothing to delete.
    Absent,
    /// The account has no such namespace, twice, `absent_after` apart: nothing to delete
    /// there, whatever requests of ours carried it.
    NoNamespace,
    /// Look again after `absent_after`.
    LookAgain,
}

/// Deleted rows whose lookup after the deletion is due: their namespace (`None` when not
/// valid text), and each row's id and video number.
#[derive(Debug)]
pub struct Unchecked {
    pub namespace: Option<String>,
    pub rows: Vec<(i64, Option<String>)>,
}

/// What a lookup after deleting found for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No longer listed: the deletion is verified.
    Gone,
    /// Still listed: the API answered for it and kept it.
    Listed,
    /// The lookup could not be used: look again this much later.
    Later(Duration),
    /// Cannot be looked up any more (its namespace or id no longer parses).
    Unknowable,
}

/// What `record_check` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// No longer listed: the deletion verified.
    pub verified: u64,
    /// Still listed: pending again, to be sent again.
    pub resent: u64,
    /// Still listed after `verify.after_rounds` rounds.
    pub failed: u64,
    /// The lookup could not be used: looked up again later.
    pub postponed: u64,
}

/// What `record_lookup` settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub deleted: u64,
    pub absent: u64,
}

impl Miss {
    /// What proves the row it settles, by whether the lookup before our request listed
    /// it (`listed_at`); `None`: it waits for another lookup.
    pub fn proof(self, listed_before: bool) -> Option<Proof> {
        match self {
            Self::Deleted if listed_before => Some(Proof::ListedLostUnlisted),
            Self::Deleted => Some(Proof::LostUnlisted),
            Self::Absent => Some(Proof::UnlistedTwice),
            Self::NoNamespace => Some(Proof::NoNamespace),
            Self::LookAgain => None,
        }
    }

    /// The row's `last_error`: what the lookup found, at `now`, in words.
    pub fn note(self, namespace: &Namespace, now: &str, absent_after: Duration) -> String {
        let again = humantime::format_duration(absent_after);
        match self {
            Self::Deleted => format!(
                "not listed in namespace {namespace} at {now}, after a request of ours that \
                 carried it lost its answer (or answered 0000 and kept listing it): deleted by \
                 that request, or, unless a lookup listed it before (see the proof), never \
                 there"
            ),
            Self::Absent => format!(
                "not in namespace {namespace} on {now} (not listed twice, at least {again} \
                 apart): nothing to delete"
            ),
            Self::NoNamespace => format!(
                "the account has no namespace {namespace} on {now} (looked up twice, at least \
                 {again} apart): nothing to delete there; `memories-reaper locate` finds \
                 where the video lives"
            ),
            Self::LookAgain => format!(
                "not listed in namespace {namespace} at {now}; looked up again after {again} \
                 before it is called absent"
            ),
        }
    }
}

impl Checked {
    /// Counted from the rows a check changed, as chained (verified rows stay `deleted`).
    pub fn of(postponed: u64, rows: &[ChainRow]) -> Self {
        let count = |status: RowStatus| {
            rows.iter()
                .filter(|r| r.status() == status.as_str())
                .count() as u64
        };
        Self {
            verified: count(RowStatus::Deleted),
            resent: count(RowStatus::Pending),
            failed: count(RowStatus::Failed),
            postponed,
        }
    }
}

impl Settled {
    /// Counted from the rows a lookup settled, as chained.
    pub fn of(rows: &[ChainRow]) -> Self {
        let count = |status: RowStatus| {
            rows.iter()
                .filter(|r| r.status() == status.as_str())
                .count() as u64
        };
        Self {
            deleted: count(RowStatus::Deleted),
            absent: count(RowStatus::Absent),
        }
    }
}
