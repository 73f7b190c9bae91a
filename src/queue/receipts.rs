//! What `receipts` reads: one record per settled row, with the request that settled it and
//! what the lookups found. Streamed row by row, so that a million rows cost no more
//! memory than one.

use futures_util::stream::{BoxStream, StreamExt};

use super::driver::{operation, Access, Driver, Statements};
pub use super::rows::{Filter, Receipt};
use super::QueueError;

/// How many rows `receipts` would write (for its progress line).
pub async fn count<D: Driver>(driver: &D, filter: &Filter) -> Result<i64, QueueError> {
    operation!(driver, single(Access::Read), |tx| {
        tx.count_receipts(filter).await
    })
}

/// The settled rows `filter` selects, in queue order, one at a time.
pub fn stream<'a, D: Driver>(
    driver: &'a D,
    filter: &'a Filter,
) -> BoxStream<'a, Result<Receipt, QueueError>> {
    driver
        .receipts(filter)
        .map(move |row| row.map_err(|e| driver.error(e)))
        .boxed()
}
