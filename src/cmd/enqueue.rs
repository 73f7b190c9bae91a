//! The `enqueue` command: a producer for operators and scripts. Reads video numbers (see
//! [`crate::ids`]), reports each invalid one with its line, and inserts the rest, a chunk
//! at a time.

use super::{open_existing, open_ids_file};
use crate::config::Config;
use crate::ids::{Ids, Read};
use crate::progress::Progress;
use crate::queue::{Queue, QueueError};
use crate::video::{Namespace, VideoNo};

/// How many ids are held in memory before they are written.
const CHUNK: usize = 10_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    pub inserted: u64,
    pub rejected: u64,
    /// Of the videos inserted, those a legal hold covers (their rows wait `held`).
    pub held: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("{0}")]
    Read(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl Enqueued {
    async fn add(
        &mut self,
        queue: &Queue,
        namespace: &Namespace,
        video_nos: &[VideoNo],
    ) -> Result<(), QueueError> {
        self.inserted += queue.insert(namespace, video_nos).await?;
        self.held += queue
            .holds_covering(namespace, video_nos)
            .await?
            .unsigned_abs();
        Ok(())
    }
}

/// Validates and inserts; each invalid id is reported through `report` with where it was.
pub async fn enqueue(
    queue: &Queue,
    namespace: &Namespace,
    mut ids: Ids<'_>,
    report: &mut dyn FnMut(String),
) -> Result<Enqueued, EnqueueError> {
    let mut done = Enqueued::default();
    let mut pending: Vec<VideoNo> = Vec::new();
    let mut progress = Progress::new("enqueuing: ids read", 0);
    while let Some(read) = ids.next().map_err(EnqueueError::Read)? {
        progress.step();
        match read {
            Read::Id(id) => pending.push(id),
            Read::Rejected(why) => {
                done.rejected += 1;
                progress.suspend(|| report(why));
            }
        }
        if pending.len() >= CHUNK {
            done.add(queue, namespace, &pending).await?;
            pending.clear();
        }
    }
    done.add(queue, namespace, &pending).await?;
    progress.finish();
    Ok(done)
}

/// `enqueue`: 0 when every id was inserted, 1 when some were rejected.
pub async fn enqueue_ids(
    config: &Config,
    namespace: &str,
    video_nos: &[String],
    file: Option<&str>,
) -> anyhow::Result<u8> {
    let namespace = Namespace::parse(namespace).map_err(anyhow::Error::msg)?;
    let file = open_ids_file(file)?;
    if video_nos.is_empty() && file.is_none() {
        anyhow::bail!("nothing to enqueue: give video numbers, or --file PATH (- for stdin)");
    }
    let queue = open_existing(config).await?;
    let mut report = |line: String| complain!("memories-reaper: rejected {line}");
    let ids = Ids::new(&config.batch.video_no_pattern, video_nos, file);
    let result = enqueue(&queue, &namespace, ids, &mut report).await;
    queue.close().await;
    let done = result?;
    // A held video is queued, but waits: said, not left for `status` to reveal.
    let held =
        match done.held {
            0 => String::new(),
            n => {
                format!(
            "; {} under a legal hold: {} `held` until released (`memories-reaper hold list`)",
            crate::printable::count(n, "video is", "videos are"),
            if n == 1 { "its rows wait" } else { "their rows wait" }
        )
            }
        };
    say!(
        "enqueued {} in namespace {namespace}; rejected {}{held}",
        done.inserted,
        done.rejected
    );
    Ok(if done.rejected > 0 { 1 } else { 0 })
}
