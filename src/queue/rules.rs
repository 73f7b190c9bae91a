//! What the queue keeps of the lifecycle rules' listings (SQLite migration 0011,
//! PostgreSQL 0004), written once over a [`Driver`]: a listing's state, where its pages
//! stand, what it found, and the videos it enqueues. What a rule does with it is
//! `crate::rules`'.

use super::driver::{operation, Access, Driver, Statements};
use super::rows::TallyRow;
pub use super::rows::{ListingReport, NamespaceTally, Snapshotted};
use super::QueueError;
pub use crate::vocabulary::ListingState;

/// Videos enqueued a transaction: producers wait for none long.
const ENQUEUE_CHUNK: u64 = 1000;

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

/// Finished listings kept per rule (their counts, for `rules plan --last`); older ones
/// are removed as a new one finishes.
pub const KEPT_LISTINGS: i64 = 10;

/// Matched video numbers kept per namespace as a sample.
pub const SAMPLE: i64 = 5;

impl From<TallyRow> for NamespaceTally {
    fn from(row: TallyRow) -> Self {
        Self {
            namespace: row.namespace,
            listed: row.listed,
            matched: row.matched,
            unreadable: row.unreadable,
            oldest_ms: row.oldest_ms,
            newest_ms: row.newest_ms,
            sample: row
                .sample
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
        }
    }
}

/// The rule's listing that goes on, if any. One made under another definition of the
/// rule is superseded (its snapshot removed) and `None` returned.
pub async fn open<D: Driver>(
    driver: &D,
    rule: &str,
    fingerprint: &str,
) -> Result<Option<OpenListing>, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let mut found = None;
        for row in tx.open_listings(rule).await? {
            let state = ListingState::parse(&row.state);
            match (found.is_none() && row.fingerprint == fingerprint, state) {
                (true, Some(state)) => {
                    found = Some(OpenListing {
                        id: row.id,
                        state,
                        listed_at_ms: row.listed_at_ms,
                        to_read: Vec::new(),
                        note: row.note,
                    })
                }
                _ => {
                    tx.supersede_listing(row.id).await?;
                    tx.drop_snapshot(row.id).await?;
                }
            }
        }
        if let Some(listing) = &mut found {
            listing.to_read = tx.namespaces_to_read(listing.id).await?;
        }
        Ok(found)
    })
}

/// A new listing of `namespaces`, each from its first page.
pub async fn start<D: Driver>(
    driver: &D,
    rule: &str,
    fingerprint: &str,
    mode: &str,
    listed_at_ms: i64,
    namespaces: &[String],
) -> Result<OpenListing, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let id = tx
            .insert_listing(rule, fingerprint, mode, listed_at_ms)
            .await?;
        tx.insert_listing_namespaces(id, namespaces).await?;
        Ok(OpenListing {
            id,
            state: ListingState::Listing,
            listed_at_ms,
            to_read: namespaces.iter().map(|n| (n.clone(), 1)).collect(),
            note: None,
        })
    })
}

/// Keeps one page's videos and where the listing of `namespace` now stands, in one
/// transaction: a restart resumes after the last page kept. A video listed twice (pages
/// shift as videos come and go) is kept once. How many were new.
pub async fn record_page<D: Driver>(
    driver: &D,
    listing: i64,
    namespace: &str,
    page: i64,
    videos: &[Snapshotted],
    last: bool,
) -> Result<u64, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let new = tx.snapshot_page(listing, namespace, videos).await?;
        tx.advance_namespace(listing, namespace, page, last, videos.len() as i64)
            .await?;
        Ok(new)
    })
}

/// Counts a finished listing from its snapshot, per namespace, and keeps the counts (and a
/// sample) for `rules plan --last`.
pub async fn tally<D: Driver>(driver: &D, listing: i64) -> Result<Vec<NamespaceTally>, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        tx.tally_namespaces(listing, SAMPLE).await?;
        tx.tally_listing(listing).await?;
        let tallies = tx.tallies(listing).await?;
        Ok(tallies.into_iter().map(NamespaceTally::from).collect())
    })
}

/// Moves a listing on (`note`, when given, says why). A listing done or superseded loses
/// its snapshot; its counts stay, for the rule's last `KEPT_LISTINGS` listings.
pub async fn set<D: Driver>(
    driver: &D,
    listing: i64,
    state: ListingState,
    note: Option<&str>,
) -> Result<(), QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        tx.set_listing_state(listing, state, note).await?;
        if matches!(state, ListingState::Done | ListingState::Superseded) {
            tx.drop_snapshot(listing).await?;
            tx.trim_namespaces(listing, KEPT_LISTINGS).await?;
            tx.trim_listings(listing, KEPT_LISTINGS).await?;
        }
        Ok(())
    })
}

/// Enqueues up to `limit` of the listing's matched videos, oldest first, as `source`. Each
/// video is marked enqueued in the transaction that inserts its row, so a restart never
/// enqueues one twice; a video the queue has any row of in that namespace (queued by a
/// producer, or deleted already) is marked and not inserted.
pub async fn enqueue<D: Driver>(
    driver: &D,
    listing: i64,
    source: &str,
    limit: u64,
) -> Result<RuleEnqueued, QueueError> {
    let run = async {
        let mut done = RuleEnqueued::default();
        let mut budget = limit;
        while budget > 0 {
            let mut tx = driver.begin(Access::Write).await?;
            tx.lock_listing(listing).await?;
            let todo = tx.todo_videos(listing, budget.min(ENQUEUE_CHUNK)).await?;
            if todo.is_empty() {
                break;
            }
            let inserted = tx.enqueue_videos(&todo, source).await?;
            tx.mark_enqueued(listing, &todo).await?;
            let already = todo.len() as u64 - inserted;
            tx.count_enqueued(listing, inserted, already).await?;
            tx.commit().await?;
            done.inserted += inserted;
            done.already_queued += already;
            budget -= todo.len() as u64;
        }
        let mut tx = driver.single(Access::Read).await?;
        done.left = tx.left_to_enqueue(listing).await?.unsigned_abs();
        Ok(done)
    };
    run.await.map_err(|e| driver.error(e))
}

/// `rules confirm`: the rule's tripped listing, made under `fingerprint`, goes on to be
/// enqueued. Its id, or `None` when the rule has no such listing.
pub async fn confirm<D: Driver>(
    driver: &D,
    rule: &str,
    fingerprint: &str,
) -> Result<Option<i64>, QueueError> {
    operation!(driver, single(Access::Write), |tx| {
        tx.confirm_listing(rule, fingerprint).await
    })
}

/// Sets aside the listings that go on of rules no longer configured (`keep` are the
/// configured names), and their snapshots; how many.
pub async fn retire<D: Driver>(driver: &D, keep: &[String]) -> Result<u64, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let retired = tx.retire_listings(keep).await?;
        tx.drop_finished_snapshots().await?;
        Ok(retired)
    })
}

/// Each rule's latest listing (or only `rule`'s).
pub async fn reports<D: Driver>(
    driver: &D,
    rule: Option<&str>,
) -> Result<Vec<ListingReport>, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        let mut reports = Vec::new();
        for r in tx.listing_reports(rule).await? {
            let namespaces = tx.tallies(r.id).await?;
            let namespaces = namespaces.into_iter().map(NamespaceTally::from).collect();
            reports.push(ListingReport { namespaces, ..r });
        }
        Ok(reports)
    })
}
