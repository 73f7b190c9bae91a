//! The words this program shares with its operators, each defined once: a row's status, a
//! request's outcome, and the names of the fields in logs (JSON keys, journald fields).
//! The database, `status`, the logs and the README all use these; a new word is added here.
//!
//! The log fields, by what they describe (upper-cased in the journal, where
//! `journalctl BATCH_OUTCOME=retry` selects them). `tracing` takes field names as
//! identifiers, so the events that carry them are written in one place, `pass::journal`:
//! - a request: `batch_id`, `batch_namespace`, `batch_count`, `batch_attempt`,
//!   `batch_outcome` (an [`Outcome`]), `batch_code`, `batch_duration_ms`;
//! - a row: `row_id`, `row_status` (a [`RowStatus`]), `video_no`, `batch_namespace`, and
//!   `batch_id` when a request settled it;
//! - a pass: `requests`, `deleted`, `failed`, `absent`, `released`; after it, the
//!   settlement chain's `chain_seq` and `chain_head`;
//! - a lifecycle rule's run: `rule`, `rule_listing`, `rule_state` (a [`ListingState`]),
//!   `rule_matched`, `rule_enqueued`.

use std::fmt;

/// Where a row of `deletion_queue` stands. The schema's CHECK lists the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowStatus {
    /// Waiting to be due and claimed.
    Pending,
    /// Claimed under a lease by a worker that is sending it.
    InFlight,
    /// The API answered the documented success for it (or `0409` for it alone).
    Deleted,
    /// Cannot be deleted: invalid, or refused by the API `isolation.confirmations` times.
    Failed,
    /// Not in its namespace when looked up twice, `verify.absent_after` apart: nothing to
    /// delete. Proves the API had nothing there to delete, not that anything was deleted.
    Absent,
    /// Kept by a legal hold: never sent while held, whoever queued it.
    Held,
}

impl RowStatus {
    pub const ALL: [RowStatus; 6] = [
        Self::Pending,
        Self::InFlight,
        Self::Deleted,
        Self::Failed,
        Self::Absent,
        Self::Held,
    ];

    /// The statuses a row ends in: what `prune` and retention may remove once old.
    pub const SETTLED: [RowStatus; 3] = [Self::Deleted, Self::Failed, Self::Absent];

    /// Statuses as an SQL list (`'deleted', 'failed'`), for `IN (…)`.
    pub fn sql_list(statuses: &[RowStatus]) -> String {
        statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Where a stored status comes in a row's life (for listing them in that order); an
    /// unknown one comes last.
    pub fn rank(stored: &str) -> usize {
        Self::ALL
            .iter()
            .position(|s| s.as_str() == stored)
            .unwrap_or(Self::ALL.len())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
            Self::Absent => "absent",
            Self::Held => "held",
        }
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of one request, as `deletion_batches.outcome` and the `batch_outcome` log
/// field record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded before it goes out; left so if its answer was never recorded.
    Sending,
    /// `0000` with `success: true`.
    Deleted,
    /// A transient failure: sent again after a wait.
    Retry,
    /// Key, account or configuration: the pass stopped.
    Stopped,
    /// `0001`, `0003`, HTTP 400: some id refused.
    Rejected,
    /// `0409`: some id deleted before.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Deleted => "deleted",
            Self::Retry => "retry",
            Self::Stopped => "stopped",
            Self::Rejected => "rejected",
            Self::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a listing stands. Only `listing`, `enqueuing` and `tripped` go on; `done` and
/// `superseded` are history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingState {
    /// Its pages are being read (resumed where it stopped after a restart).
    Listing,
    /// Decided, clear (or confirmed): what matched is enqueued, `max_per_run` a run.
    Enqueuing,
    /// A trip-wire held it: nothing is enqueued until `rules confirm` or a change of rule.
    Tripped,
    Done,
    /// Set aside: the rule changed since it was made.
    Superseded,
}

impl ListingState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listing => "listing",
            Self::Enqueuing => "enqueuing",
            Self::Tripped => "tripped",
            Self::Done => "done",
            Self::Superseded => "superseded",
        }
    }

    /// Read back from the database; a value the schema's CHECK would refuse is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Listing,
            Self::Enqueuing,
            Self::Tripped,
            Self::Done,
            Self::Superseded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}
