//! The settlement chain's transactions, written once over a [`Driver`]: appending an entry
//! in the caller's transaction, recording the anchor, reading the head, and auditing the
//! whole chain against the tables in one snapshot. What an entry is, and the audit's
//! rules, are `crate::chain`'s.

use futures_util::StreamExt;

use super::driver::{operation, Access, Driver, Statements};
use super::QueueError;
use crate::chain::{anchor_text, Audit, Auditor, Entry};

/// Appends `entry` in the caller's transaction, after its row updates: the chain's turn
/// ([`Statements::lock_chain`]), then the head (with the request's record, in one
/// statement), then the entry, so that entries are in commit order whichever process
/// writes them.
pub async fn append<S: Statements + ?Sized>(
    conn: &mut S,
    entry: Entry<'_>,
) -> Result<(), sqlx::Error> {
    if entry.is_idle() {
        return Ok(());
    }
    conn.lock_chain().await?;
    let (seq, hash, request) = conn.chain_head(entry.batch_id).await?;
    let sealed = entry.seal((seq, hash), request);
    conn.insert_entry(&sealed).await
}

/// Records the anchor as it now stands in an `anchor` entry (after a prune moved it, or
/// when the proofs' migration is applied); returns it.
pub async fn record_anchor<S: Statements + ?Sized>(
    conn: &mut S,
) -> Result<(i64, String), sqlx::Error> {
    conn.lock_chain().await?;
    let a = conn.anchor().await?;
    append(
        conn,
        Entry::anchor(&anchor_text(a.seq, &a.hash, &a.since, a.rows_from)),
    )
    .await?;
    Ok((a.seq, a.hash))
}

/// The chain's head: the last entry's sequence number and hash (the anchor's when the
/// chain is empty), as every pass logs it.
pub async fn head<D: Driver>(driver: &D) -> Result<(i64, String), QueueError> {
    let (seq, hash, _) = operation!(driver, single(Access::Read), |tx| {
        tx.chain_head(None).await
    })?;
    Ok((seq, hash))
}

/// Recomputes the chain from its anchor, and compares it with the tables ([`Auditor`]),
/// in one snapshot: a daemon at work meanwhile changes nothing it sees.
pub async fn verify<D: Driver>(driver: &D) -> Result<Audit, QueueError> {
    let run = async {
        let mut tx = driver.begin(Access::Read).await?;
        tx.snapshot().await?;
        let anchor = tx.anchor().await?;
        let mut verifier = Auditor::new(
            (anchor.seq, anchor.hash.clone()),
            &anchor.since,
            anchor.rows_from,
        );
        let mut entries = tx.chain_entries();
        while let Some(entry) = entries.next().await {
            verifier.entry(entry?);
        }
        drop(entries);
        let mut requests = tx.request_records(anchor.requests_from, &anchor.since);
        while let Some(request) = requests.next().await {
            verifier.request(request?);
        }
        drop(requests);
        verifier.requests_done();
        let mut rows = tx.queue_rows(&anchor);
        while let Some(row) = rows.next().await {
            verifier.row(row?);
        }
        drop(rows);
        tx.rollback().await?;
        Ok(verifier.finish())
    };
    run.await.map_err(|e| driver.error(e))
}
