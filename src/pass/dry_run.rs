//! `run --dry-run`: what a pass would do, logged, with nothing claimed, sent or changed.
//! No key is needed.

use tracing::{info, warn};

use super::Reaper;
use crate::queue::QueueError;

/// Rows read per query.
const PAGE: usize = 1000;

impl Reaper {
    /// Walks the due rows namespace by namespace, logging each batch a pass would send and
    /// each row it would fail. Returns (requests, ids, rows that would fail).
    pub async fn dry_run_pass(&self) -> Result<(u64, u64, u64), QueueError> {
        let (mut requests, mut ids, mut failing) = (0, 0, 0);
        let mut after = (String::new(), 0);
        loop {
            let page = self.store.due_page((&after.0, after.1), PAGE).await?;
            let Some((last_ns, last_row)) = page.last() else {
                break;
            };
            // A namespace that is not valid text is read as a stand-in word, which the next
            // page's cursor cannot get past (a BLOB sorts after every text): the same rows
            // would come back for ever. Said once, and the walk ends.
            let next = (last_ns.clone(), last_row.id);
            if next == after {
                warn!(
                    "dry run: rows whose namespace is not valid text come back at every page: \
                     the walk stops here; fix their unique_id (`status` counts them)"
                );
                break;
            }
            after = next;
            // One namespace at a time within the page.
            for group in page.chunk_by(|a, b| a.0 == b.0) {
                let namespace = &group[0].0;
                let rows: Vec<_> = group.iter().map(|(_, row)| row.clone()).collect();
                let triage = self.triage(Some(namespace), &rows);
                for (row_id, reason) in &triage.invalid {
                    warn!(
                        row_id,
                        batch_namespace = namespace,
                        "dry run: row {row_id} in namespace {}: would fail without sending: \
                         {reason}",
                        crate::printable::escaped(namespace)
                    );
                }
                failing += triage.invalid.len() as u64;
                for batch in triage.ids.chunks(self.batch_size) {
                    info!(
                        batch_namespace = namespace,
                        batch_count = batch.len(),
                        first = %batch[0],
                        last = %batch[batch.len() - 1],
                        "dry run: would send {} ids in namespace {}, {} to {}",
                        batch.len(),
                        crate::printable::escaped(namespace),
                        batch[0],
                        batch[batch.len() - 1]
                    );
                    requests += 1;
                    ids += batch.len() as u64;
                }
            }
        }
        info!(
            requests,
            ids,
            failing,
            "dry run finished: nothing was claimed or sent; {requests} requests of {ids} ids \
             would be sent, {failing} rows would fail"
        );
        Ok((requests, ids, failing))
    }
}
