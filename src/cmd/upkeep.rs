//! `migrate`, `retry-failed` and `prune`: the operator's upkeep of the queue.

use chrono::{DateTime, Utc};

use super::{open, open_existing};
use crate::config::Config;
use crate::video::Namespace;

pub async fn migrate(config: &Config) -> anyhow::Result<u8> {
    let queue = open(config).await?;
    match queue.applied().as_slice() {
        [] => say!("database {} is up to date", queue.location()),
        applied => say!(
            "database {}: applied {}; it is up to date",
            queue.location(),
            applied.join(", ")
        ),
    }
    queue.close().await;
    Ok(0)
}

pub async fn retry_failed(
    config: &Config,
    namespace: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<u8> {
    let namespace = namespace
        .map(Namespace::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let queue = open_existing(config).await?;
    let result = queue.retry_failed(namespace.as_ref(), since).await;
    queue.close().await;
    let reopened = result?;
    say!(
        "{} pending again",
        crate::printable::count(reopened.pending, "failed row is", "failed rows are")
    );
    if reopened.held > 0 {
        say!(
            "{} held instead: a legal hold covers their videos (`memories-reaper hold list`)",
            crate::printable::count(reopened.held, "failed row is", "failed rows are")
        );
    }
    if reopened.left > 0 {
        say!(
            "{} left failed: their due_at could not be read, so when they were meant to go \
             is unknown; queue those videos again with a readable due_at",
            crate::printable::count(reopened.left, "failed row was", "failed rows were")
        );
    }
    Ok(0)
}

pub async fn prune(config: &Config, older_than: std::time::Duration) -> anyhow::Result<u8> {
    let before = Utc::now() - older_than;
    let queue = open_existing(config).await?;
    let result = queue.prune(before).await;
    let head = queue.chain_head().await;
    queue.close().await;
    let pruned = result?;
    say!(
        "removed {} and {} from before {}",
        crate::printable::count(pruned.rows, "settled row", "settled rows"),
        crate::printable::count(pruned.batches, "batch record", "batch records"),
        before.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some((seq, hash)) = pruned.anchor {
        say!("the settlement chain now starts after entry {seq}, whose hash was {hash}");
        // With the head: a copy to keep, against which an anchor moved later is found.
        if let Ok((head_seq, head_hash)) = head {
            say!("its head is entry {head_seq}, hash {head_hash}");
        }
    }
    Ok(0)
}
