//! What the pass needs from outside: the Delete Videos API and the queue, as two small
//! traits. `api::Client` and the SQLite `queue::Queue` implement them (in their own
//! modules); tests give the pass a scripted API and drive it in-process; a second queue
//! backend (PostgreSQL, to come) would implement [`Store`].

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use super::verify::{Check, Checked, Miss, Settled, Unchecked};
use crate::api::{Answer, Listing};
use crate::credentials::ApiKey;
use crate::queue::{
    BatchId, Claim, ClaimToken, QueueError, Recorded, RequestRecord, RowsEffect, Started,
};
use crate::video::{Namespace, VideoNo};

/// The Delete Videos API as the pass uses it.
pub trait DeleteApi: Send + Sync + 'static {
    /// The rate limit's leave for one request: `delete` cannot be called without one.
    type Turn: Send;

    /// Whether ids of this namespace can be sent at all (the v1.1 path knows only `default`).
    fn can_address(&self, namespace: &Namespace) -> bool;

    /// Waits until the rate limit lets one more request out.
    fn wait_turn(&self) -> impl Future<Output = Self::Turn> + Send;

    /// Sends one request; never fails (a transport error is an answer too).
    fn delete(
        &self,
        turn: Self::Turn,
        key: &ApiKey,
        namespace: &Namespace,
        ids: &[VideoNo],
    ) -> impl Future<Output = Answer> + Send;

    /// The API has not answered well lately: go gently at first (requests one at a time
    /// for a moment, even within the rate).
    fn cold_start(&self);

    /// Counts requests other processes (or a predecessor) sent against the rate limit;
    /// whether any of them was new.
    fn count_others(&self, recorded: Vec<Recorded>) -> bool;
}

/// The lookup calls as the pass uses them, to look before deleting (`pass::verify`).
pub trait LookupApi: Send + Sync + 'static {
    /// Every namespace of the account, or why it cannot be known.
    fn namespaces(
        &self,
        key: &ApiKey,
    ) -> impl Future<Output = Result<HashSet<String>, String>> + Send;

    /// The first seconds of lookups spaced evenly (at a pass's start).
    fn cold_start_lookups(&self);

    /// Which of `ids` the namespace lists (it must exist: listing may create it).
    fn list(
        &self,
        key: &ApiKey,
        namespace: &Namespace,
        ids: &[VideoNo],
    ) -> impl Future<Output = Listing> + Send;
}

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
    /// covers some of them: then it must not go.
    fn start_request(
        &self,
        token: &ClaimToken,
        namespace: &Namespace,
        ids: &[VideoNo],
        attempt: u32,
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
    /// namespace; each missing id is settled (`deleted`, `absent`) or given back to look
    /// again `absent_after` later, as [`Miss`] says.
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

    /// Whether the last answered request (by any process) was the documented success,
    /// answered within `within`.
    fn answered_well_within(
        &self,
        within: Duration,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;
}
