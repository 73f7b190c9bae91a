//! Operator upkeep, written once over a [`Driver`]: failed rows back to pending
//! (`retry-failed`), and old settled rows, chain entries and request records removed
//! (`prune`, retention), in small transactions so that producers and passes are never held
//! up long.

use chrono::{DateTime, Utc};

use super::chain;
use super::driver::{operation, Access, Driver, Statements};
use super::QueueError;
use crate::chain::{Entry, Kind};
use crate::video::Namespace;

/// Rows or request records removed per transaction.
const PRUNE_CHUNK: usize = 1000;

/// What `retry-failed` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reopened {
    /// Pending again.
    pub pending: u64,
    /// Put back, and held at once by a legal hold (the trigger).
    pub held: u64,
    /// Left failed: their `due_at` could not be read.
    pub left: u64,
}

/// What a prune removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: u64,
    pub batches: u64,
    /// The chain's new anchor (the last entry removed), when entries were removed: the
    /// hash an auditor's copy of the chain must reach at that entry.
    pub anchor: Option<(i64, String)>,
}

/// Puts `failed` rows back to `pending`, due now: of one namespace if given, settled at or
/// after `since` if given. Their attempts and last error are kept; their count of refusals
/// starts again (a retry gets `isolation.confirmations` anew).
///
/// Rows failed because their `due_at` could not be read are left failed: nobody knows when
/// they were meant to go, and "now" could be early (`'+30 days'`).
pub async fn retry_failed<D: Driver>(
    driver: &D,
    namespace: Option<&Namespace>,
    since: Option<DateTime<Utc>>,
) -> Result<Reopened, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let rows = tx.reopen_failed(namespace, since).await?;
        // A hold trigger may run after the statement (SQLite's does), so what RETURNING
        // said of a row it then held is read again.
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let held = tx.count_held(&ids).await?.unsigned_abs();
        let pending = rows.len() as u64 - held;
        // Rows of every namespace (`*`), when none was given.
        let entry =
            Entry::without_request(Kind::Reopen, namespace.map_or("*", Namespace::as_str), rows);
        chain::append(&mut *tx, entry).await?;
        let left = tx.unreadable_failed(namespace, since).await?.unsigned_abs();
        Ok(Reopened {
            pending,
            held,
            left,
        })
    })
}

/// Removes rows settled (deleted, failed or absent) and last changed before `before` (a
/// check after the deletion writes a chain entry later than the settlement: the row stays
/// as long as that entry does), then the chain's entries of the same time, then the
/// records of requests started before it that no remaining row points at.
pub async fn prune<D: Driver>(driver: &D, before: DateTime<Utc>) -> Result<Pruned, QueueError> {
    let run = async {
        let mut pruned = Pruned::default();
        loop {
            let mut tx = driver.single(Access::Write).await?;
            let rows = tx.prune_rows(before, PRUNE_CHUNK).await?;
            pruned.rows += rows;
            if rows < PRUNE_CHUNK as u64 {
                break;
            }
        }
        // The chain's entries of the same time go too: the last one removed becomes the
        // anchor that the first one kept points at.
        let mut tx = driver.begin(Access::Write).await?;
        tx.lock_chain().await?;
        tx.move_anchor(before).await?;
        // Records kept while the entries naming them go: vouched for again, so that every
        // record since the chain held requests keeps an entry. (Chosen before the removal,
        // among the records it leaves without one; never a record that had none.)
        let carried = tx.carried_requests(before).await?;
        let removed = tx.drop_chain_prefix().await?;
        for (batch, namespace) in carried {
            let entry = Entry::naming(Kind::Carry, batch, &namespace, Vec::new());
            chain::append(&mut *tx, entry).await?;
        }
        // The anchor moved: recorded in an entry of its own, which is the new head.
        if removed > 0 {
            pruned.anchor = Some(chain::record_anchor(&mut *tx).await?);
        }
        tx.commit().await?;
        // Then the records of requests: never one a kept chain entry vouches for.
        loop {
            let mut tx = driver.single(Access::Write).await?;
            let batches = tx.prune_requests(before, PRUNE_CHUNK).await?;
            pruned.batches += batches;
            if batches < PRUNE_CHUNK as u64 {
                break;
            }
        }
        Ok(pruned)
    };
    run.await.map_err(|e| driver.error(e))
}
