//! The sender's lease, written once over a [`Driver`]: of the daemons on one database, the
//! holder sends; the others stand by (`crate::lead` asks for it on a timer).

use std::time::Duration;

use super::driver::{operation, Access, Driver, Statements};
use super::QueueError;
use crate::config::LONGEST_LEASE;

/// What asking for the sender's lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lead {
    /// This holder has it, for the lease asked.
    Granted,
    /// Another holder has it, for this much longer.
    HeldBy { holder: String, remaining: Duration },
}

/// Takes or renews the sender's lease for `holder`, for `lease` from now on the database's
/// clock, unless another holder's lease is still running. A lease this program could not
/// have granted (unreadable, or further ahead than `LONGEST_LEASE`) is taken over like one
/// run out.
pub async fn lead<D: Driver>(
    driver: &D,
    holder: &str,
    lease: Duration,
) -> Result<Lead, QueueError> {
    let (now_held_by, remaining) = operation!(driver, begin(Access::Lease), |tx| {
        tx.take_lease(holder, lease, LONGEST_LEASE).await
    })?;
    if now_held_by == holder {
        return Ok(Lead::Granted);
    }
    Ok(Lead::HeldBy {
        holder: now_held_by,
        remaining: Duration::try_from_secs_f64(remaining.max(0.0)).unwrap_or_default(),
    })
}

/// Gives the sender's lease up, if `holder` has it: a standby takes over at once.
pub async fn resign<D: Driver>(driver: &D, holder: &str) -> Result<(), QueueError> {
    operation!(driver, single(Access::Write), |tx| {
        tx.resign(holder).await
    })
    .map(drop)
}
