//! What `status` shows (counts by namespace and status, settled rows by proof, the oldest
//! pending row, the last requests, the sender, the holds) and what the metrics read,
//! written once over a [`Driver`]. Read-only.

use std::time::Duration;

use serde::Serialize;

use super::driver::{operation, Access, Driver, Statements};
pub use super::rows::{AwaitingLookup, BatchRow, Cell, Count, PendingRow, ProofCount, Sender};
use super::{holds, ClaimedRow, Hold, Queue, QueueError};
use crate::config::LONGEST_LEASE;
use crate::metrics::{GaugeSource, Gauges};
use crate::vocabulary::{Proof, RowStatus};

#[derive(Debug, Serialize)]
pub struct Report {
    pub counts: Vec<Count>,
    /// Settled rows by status and what proves them (`unrecorded`: settled before proofs
    /// were recorded).
    pub proofs: Vec<ProofCount>,
    pub oldest_pending: Option<PendingRow>,
    /// Pending rows due now (the log's "nothing due", the status line): `due_at` passed.
    pub due: i64,
    /// Pending rows not due until their next lookup (one missed the video).
    pub awaiting_lookup: AwaitingLookup,
    /// Rows whose `due_at` could not be read: never sent early, never due.
    pub unreadable_due: i64,
    /// Rows in flight under a lease this program never grants (unreadable, or too far
    /// ahead): the next pass takes them back.
    pub impossible_leases: i64,
    pub last_batches: Vec<BatchRow>,
    /// Who holds the sender's lease (`lead`), when anyone ever did.
    pub sender: Option<Sender>,
    /// Legal holds in force (`hold list` names them).
    pub holds: i64,
    /// The newest of them (at most `NEWEST_HOLDS`), with their reasons.
    pub newest_holds: Vec<Hold>,
}

/// How many holds `status` shows with their reasons.
pub const NEWEST_HOLDS: i64 = 5;

/// What `status` shows; the `last` requests.
pub async fn report<D: Driver>(driver: &D, last: u32) -> Result<Report, QueueError> {
    let mut report = operation!(driver, single(Access::Read), |tx| {
        let mut counts = tx.count_rows().await?;
        // Statuses in the order a row goes through them, not alphabetically.
        counts.sort_by_key(|c| {
            let status = c.status.to_string();
            (c.unique_id.to_string(), RowStatus::rank(&status))
        });
        Ok(Report {
            counts,
            proofs: tx.proof_counts(Proof::UNRECORDED).await?,
            oldest_pending: tx.oldest_pending().await?,
            due: tx.due_pending().await?,
            awaiting_lookup: tx.awaiting_lookup().await?,
            unreadable_due: tx.unreadable_due().await?,
            impossible_leases: tx.impossible_leases(LONGEST_LEASE).await?,
            last_batches: tx.last_requests(last).await?,
            sender: tx.sender_lease().await?,
            holds: tx.count_holds().await?,
            newest_holds: Vec::new(),
        })
    })?;
    report.newest_holds = holds::list(driver, Some(NEWEST_HOLDS)).await?;
    Ok(report)
}

/// What the metrics read at each scrape: rows by status and proof (and by namespace, for
/// the `namespaces` largest), and how long the oldest due row not yet settled has been due.
/// In-flight rows count: with the API down, a pass holds the due rows for most of each
/// interval, and an age read from pending rows alone fell to 0 whenever it did, so the
/// stall alert never held.
pub async fn gauges<D: Driver>(
    driver: &D,
    namespaces: Option<usize>,
) -> Result<Gauges, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        let namespaces = match namespaces {
            None => Vec::new(),
            Some(top) => tx.namespace_gauges(top).await?,
        };
        let oldest = tx.oldest_due().await?;
        Ok(Gauges {
            counts: tx.gauge_counts().await?,
            namespaces,
            oldest_due: oldest.map(|s| Duration::from_secs_f64(s.clamp(0.0, 1e12))),
            holds: tx.count_holds().await?,
        })
    })
}

/// Due pending rows in (namespace, id) order, `limit` at a time after `after`: what a pass
/// would claim and send (held videos aside), read without claiming it.
pub async fn due_page<D: Driver>(
    driver: &D,
    after: (&str, i64),
    limit: usize,
) -> Result<Vec<(String, ClaimedRow)>, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        tx.due_page(after, limit).await
    })
}

/// Rows whose `due_at` could not be read as a time (never due, never sent early).
pub async fn unreadable_due<D: Driver>(driver: &D) -> Result<i64, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        tx.unreadable_due().await
    })
}

/// Rows that are due and waiting: what `run --once` must leave at zero to succeed.
pub async fn due_pending<D: Driver>(driver: &D) -> Result<i64, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        tx.due_pending().await
    })
}

/// A scrape reads the queue's gauges.
impl GaugeSource for Queue {
    async fn read(&self, namespaces: Option<usize>) -> Result<Gauges, String> {
        self.gauges(namespaces).await.map_err(|e| e.to_string())
    }
}
