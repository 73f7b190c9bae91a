//! The settlement chain on PostgreSQL: the head, for the pass's log. Entries are appended
//! by `queue::chain::append` over this driver's statements (the head read under the chain
//! lock, so that entries from several daemons are in commit order); `upkeep` verifies.

pub use super::statements::{returned, RECORD};
use super::PostgresQueue;
pub use crate::queue::chain::{
    append, impossible, prunable, record_anchor, ChainEntry, Entry, Kind, QueueRow, RequestRecord,
    Verdict, Verifier,
};
use crate::queue::driver::Statements;
use crate::queue::QueueError;

impl PostgresQueue {
    /// The chain's head, as every pass logs it.
    pub async fn chain_head(&self) -> Result<(i64, String), QueueError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        conn.chain_head().await.map_err(|e| self.error(e))
    }
}
