//! What PostgreSQL does not do yet: `retry-failed`, `prune` (and retention), `receipts`
//! and `receipts --verify`. Each says so, in one line, instead of doing something else.

use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::PostgresQueue;
use crate::queue::chain::Verdict;
use crate::queue::receipts::{Filter, Receipt};
use crate::queue::{Pruned, QueueError};
use crate::video::Namespace;

impl PostgresQueue {
    fn not_yet(&self, what: &str) -> QueueError {
        QueueError {
            place: self.shown.to_string(),
            problem: format!(
                "{what} does not work on PostgreSQL yet (it does on SQLite); nothing was changed"
            ),
        }
    }

    pub async fn retry_failed(
        &self,
        _namespace: Option<&Namespace>,
        _since: Option<DateTime<Utc>>,
    ) -> Result<(u64, u64), QueueError> {
        Err(self.not_yet("retry-failed"))
    }

    pub async fn prune(&self, _before: DateTime<Utc>) -> Result<Pruned, QueueError> {
        Err(self.not_yet("prune (and retention.keep)"))
    }

    pub async fn verify_chain(&self) -> Result<Verdict, QueueError> {
        Err(self.not_yet("receipts --verify"))
    }

    pub async fn count_receipts(&self, _filter: &Filter) -> Result<i64, QueueError> {
        Err(self.not_yet("receipts"))
    }

    pub fn receipts<'a>(
        &'a self,
        _filter: &'a Filter,
        _sql: &'a str,
    ) -> BoxStream<'a, Result<Receipt, QueueError>> {
        stream::once(async move { Err(self.not_yet("receipts")) }).boxed()
    }
}
