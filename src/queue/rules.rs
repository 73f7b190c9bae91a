//! What the queue keeps of the lifecycle rules' listings, shared by both backends: a
//! listing's state, where its pages stand, and what it found. The SQL is each backend's
//! (`sqlite::rules`, `postgres::rules`); what a rule does with it is `crate::rules`'.

pub use crate::vocabulary::ListingState;

/// A listing that goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenListing {
    pub id: i64,
    pub state: ListingState,
    /// Ages are counted from this moment (Unix ms).
    pub listed_at_ms: i64,
    /// Namespaces still to read, with the next page of each.
    pub to_read: Vec<(String, i64)>,
    pub note: Option<String>,
}

/// One video of a page, as the snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshotted {
    pub video_no: String,
    pub create_ms: Option<i64>,
    /// `rules::Match::code`.
    pub matched: i64,
}

/// What an enqueuing step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleEnqueued {
    /// Rows inserted into `deletion_queue`.
    pub inserted: u64,
    /// Matched videos the queue already had a row of (in that namespace): not inserted.
    pub already_queued: u64,
    /// Matched videos of the listing still to enqueue.
    pub left: u64,
}

/// One namespace of a listing, as `rules plan --last` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamespaceTally {
    pub namespace: String,
    pub listed: i64,
    pub matched: i64,
    pub unreadable: i64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    /// The oldest matched video numbers.
    pub sample: Vec<String>,
}

/// A rule's last decided listing (else its latest), for `rules plan --last` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListingReport {
    pub id: i64,
    pub rule: String,
    pub mode: String,
    pub state: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub confirmed: bool,
    pub listed: i64,
    pub matched: i64,
    pub unreadable: i64,
    pub enqueued: i64,
    pub already_queued: i64,
    pub note: Option<String>,
    /// A newer listing of the rule under way, if any (this one is the last decided).
    pub listing_now: Option<i64>,
    pub namespaces: Vec<NamespaceTally>,
}

/// Finished listings kept per rule (their counts, for `rules plan --last`); older ones
/// are removed as a new one finishes.
pub const KEPT_LISTINGS: i64 = 10;

/// Matched video numbers kept per namespace as a sample.
pub const SAMPLE: i64 = 5;
