//! Legal holds, written once over a [`Driver`]: placing one sets the video's pending rows
//! `held`; releasing the last one covering a row puts it back to `pending`. Rows in flight
//! are caught by the claim's own check before their request is recorded (`store`).

use super::driver::{operation, Access, Driver, Statements};
pub use super::rows::Hold;
use super::QueueError;
use crate::video::{Namespace, VideoNo};

/// What placing or releasing holds changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HoldsChanged {
    /// Holds placed (ids already held in that place are not counted) or released.
    pub holds: u64,
    /// Rows set `held`, or back to `pending`.
    pub rows: u64,
    /// Placing: rows of these videos in flight now (held before their request is
    /// recorded, unless it already went out).
    pub in_flight: u64,
    /// Placing: of these videos, how many this queue has seen deleted already.
    pub deleted: u64,
}

/// Places a hold on each video, in `namespace` or (`None`) in every namespace, and sets
/// their pending rows `held`. A video already held there keeps its first reason.
pub async fn place<D: Driver>(
    driver: &D,
    namespace: Option<&Namespace>,
    video_nos: &[VideoNo],
    reason: &str,
) -> Result<HoldsChanged, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let holds = tx.insert_holds(namespace, video_nos, reason).await?;
        let rows = tx.hold_pending(namespace, video_nos).await?;
        let (in_flight, deleted) = tx.held_elsewhere(namespace, video_nos).await?;
        Ok(HoldsChanged {
            holds,
            rows,
            in_flight: in_flight.unsigned_abs(),
            deleted: deleted.unsigned_abs(),
        })
    })
}

/// Releases the holds placed on these videos in `namespace` (or in every namespace), and
/// puts back to `pending` the rows no other hold covers.
pub async fn release<D: Driver>(
    driver: &D,
    namespace: Option<&Namespace>,
    video_nos: &[VideoNo],
) -> Result<HoldsChanged, QueueError> {
    operation!(driver, begin(Access::Write), |tx| {
        let holds = tx.delete_holds(namespace, video_nos).await?;
        let rows = tx.free_unheld(Some(video_nos)).await?;
        Ok(HoldsChanged {
            holds,
            rows,
            ..HoldsChanged::default()
        })
    })
}

/// The holds, oldest first: every one, or the `newest` so many.
/// How many of `video_nos` a legal hold covers in `namespace` (their rows wait `held`).
pub async fn covering<D: Driver>(
    driver: &D,
    namespace: &Namespace,
    video_nos: &[VideoNo],
) -> Result<i64, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        tx.held_among(namespace, video_nos).await
    })
}

pub async fn list<D: Driver>(driver: &D, newest: Option<i64>) -> Result<Vec<Hold>, QueueError> {
    let mut holds = operation!(driver, single(Access::Read), |tx| {
        tx.list_holds(newest).await
    })?;
    holds.reverse();
    Ok(holds)
}
