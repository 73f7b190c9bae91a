//! The `enqueue` command: a producer for operators and scripts. Reads video numbers (see
//! [`crate::ids`]), reports each invalid one with its line, and inserts the rest, a chunk
//! at a time.

use crate::ids::{Ids, Read};
use crate::queue::{Queue, QueueError};
use crate::video::{Namespace, VideoNo};

/// How many ids are held in memory before they are written.
const CHUNK: usize = 10_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    pub inserted: u64,
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("{0}")]
    Read(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
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
    while let Some(read) = ids.next().map_err(EnqueueError::Read)? {
        match read {
            Read::Id(id) => pending.push(id),
            Read::Rejected(why) => {
                done.rejected += 1;
                report(why);
            }
        }
        if pending.len() >= CHUNK {
            done.inserted += queue.insert(namespace, &pending).await?;
            pending.clear();
        }
    }
    done.inserted += queue.insert(namespace, &pending).await?;
    Ok(done)
}
