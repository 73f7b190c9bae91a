//! The words this program shares with its operators, each defined once: a row's status, a
//! request's outcome, and the names of the fields in logs (JSON keys, journald fields).
//! The database, `status`, the logs and the README all use these; a new word is added here.
//!
//! The log fields, by what they describe (upper-cased in the journal, where
//! `journalctl BATCH_OUTCOME=retry` selects them). `tracing` takes field names as
//! identifiers, so the events that carry them are written in one place, `pass::journal`:
//! - a request: `batch_id`, `batch_namespace`, `batch_count`, `batch_attempt`,
//!   `batch_outcome` (an [`Outcome`]), `batch_code`, `batch_duration_ms`;
//! - a row: `row_id`, `row_status` (a [`RowStatus`]), `row_proof` (a [`Proof`], where a
//!   lookup settles it), `video_no`, `batch_namespace`, and
//!   `batch_id` when a request settled it;
//! - a pass: `requests`, `deleted`, `failed`, `absent`, `released`; after it, the
//!   settlement chain's `chain_seq` and `chain_head` (and after a retention that moved
//!   the chain's start, its `anchor_seq` and `anchor_hash` beside them);
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

/// What proves a settled row's status: the one owner of that vocabulary. Stored on the row
/// (`deletion_queue.proof`, set in the statement that settles it), hashed into the row's
/// chain entry, shown by `receipts` (column `proof`) and counted by `status` and the
/// metrics. A settled row with no proof was settled before proofs were recorded (or by
/// hand: `receipts --verify` tells which). The book's "What a status proves" (docs/src/proofs.md) is this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proof {
    /// `deleted`: listed in its namespace by the latest lookup before the request, and the
    /// API answered `0000` for it.
    ListedAnswered,
    /// `deleted`: as `ListedAnswered`, and a lookup after the deletion no longer listed it.
    ListedAnsweredGone,
    /// `deleted`: the API answered `0000`; no lookup before it (`verify.before` off, or
    /// the lookups unavailable): the answer alone, which the API also gives for a video
    /// that does not exist or lives in another namespace.
    Answered,
    /// `deleted`: as `Answered`, and a lookup after the deletion no longer listed it.
    AnsweredGone,
    /// `deleted`: the API answered `0409` for it alone: deleted before, by us or by others.
    AnsweredDuplicate,
    /// `deleted`: a request of ours that carried it lost its answer (or answered `0000` and
    /// kept listing it), then a lookup did not list it: deleted by that request, or never
    /// there; it cannot be told which.
    LostUnlisted,
    /// `deleted`: listed in its namespace before a request of ours that carried it, which
    /// lost its answer (or answered `0000` and the video was still listed after), then not
    /// listed: deleted, by that request or another's; the deletion is verified.
    ListedLostUnlisted,
    /// `deleted`: never sent; the chain records the API's answer settling an earlier row of
    /// the same video and namespace `deleted`, in a request that carried it.
    History,
    /// `absent`: not listed in its namespace twice, `verify.absent_after` apart.
    UnlistedTwice,
    /// `absent`: the account has no such namespace, twice `verify.absent_after` apart.
    NoNamespace,
    /// `failed`: the API refused it alone `isolation.confirmations` times.
    Refused,
    /// `failed`: another row of a video the API refused for good.
    RefusedVideo,
    /// `failed`: not a valid video number or namespace; never sent.
    Invalid,
    /// `failed`: the API answered `0000` for it, and every lookup after it, backing off
    /// over minutes, still listed it.
    StillListed,
}

impl Proof {
    /// What `receipts`, `status` and the metrics say of a settled row without a proof.
    pub const UNRECORDED: &'static str = "unrecorded";

    pub const ALL: [Proof; 14] = [
        Self::ListedAnswered,
        Self::ListedAnsweredGone,
        Self::Answered,
        Self::AnsweredGone,
        Self::AnsweredDuplicate,
        Self::LostUnlisted,
        Self::ListedLostUnlisted,
        Self::History,
        Self::UnlistedTwice,
        Self::NoNamespace,
        Self::Refused,
        Self::RefusedVideo,
        Self::Invalid,
        Self::StillListed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListedAnswered => "listed_answered",
            Self::ListedAnsweredGone => "listed_answered_gone",
            Self::Answered => "answered",
            Self::AnsweredGone => "answered_gone",
            Self::AnsweredDuplicate => "answered_duplicate",
            Self::LostUnlisted => "lost_unlisted",
            Self::ListedLostUnlisted => "listed_lost_unlisted",
            Self::History => "history",
            Self::UnlistedTwice => "unlisted_twice",
            Self::NoNamespace => "no_namespace",
            Self::Refused => "refused",
            Self::RefusedVideo => "refused_video",
            Self::Invalid => "invalid",
            Self::StillListed => "still_listed",
        }
    }

    /// The status a row with this proof has.
    pub fn status(self) -> RowStatus {
        match self {
            Self::ListedAnswered
            | Self::ListedAnsweredGone
            | Self::Answered
            | Self::AnsweredGone
            | Self::AnsweredDuplicate
            | Self::LostUnlisted
            | Self::ListedLostUnlisted
            | Self::History => RowStatus::Deleted,
            Self::UnlistedTwice | Self::NoNamespace => RowStatus::Absent,
            Self::Refused | Self::RefusedVideo | Self::Invalid | Self::StillListed => {
                RowStatus::Failed
            }
        }
    }

    /// Read back from the database; `None` for a value no statement of ours writes.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Where it comes in [`Self::ALL`], for a compact record of it; unknown text last.
    pub fn rank(stored: &str) -> usize {
        Self::ALL
            .iter()
            .position(|p| p.as_str() == stored)
            .unwrap_or(Self::ALL.len())
    }
}

impl fmt::Display for Proof {
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
