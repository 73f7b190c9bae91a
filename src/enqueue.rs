//! The `enqueue` command: a producer for operators and scripts. Reads video numbers from
//! the command line and/or a file (`-` for stdin), one per line, skips blank lines, reports
//! each invalid one with its line, and inserts the rest.

use std::io::BufRead;

use crate::queue::{Queue, QueueError};
use crate::video::{Namespace, VideoNo, VideoNoRule};

/// How many ids are held in memory before they are written.
const CHUNK: usize = 10_000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    pub inserted: u64,
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("cannot read {source_name}: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Validates and inserts; each invalid id is reported through `report` with where it was.
pub async fn enqueue(
    queue: &Queue,
    rule: &VideoNoRule,
    namespace: &Namespace,
    args: &[String],
    file: Option<(String, Box<dyn BufRead + Send>)>,
    report: &mut dyn FnMut(String),
) -> Result<Enqueued, EnqueueError> {
    let mut done = Enqueued::default();
    let mut pending: Vec<VideoNo> = Vec::new();
    let mut take =
        |raw: &str, place: String, pending: &mut Vec<VideoNo>, done: &mut Enqueued| match rule
            .parse(raw)
        {
            Ok(id) => pending.push(id),
            Err(e) => {
                done.rejected += 1;
                report(format!("{place}: {raw:?}: {e}"));
            }
        };
    for (i, arg) in args.iter().enumerate() {
        take(
            arg.trim(),
            format!("argument {}", i + 1),
            &mut pending,
            &mut done,
        );
    }
    if let Some((name, reader)) = file {
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(|error| EnqueueError::Read {
                source_name: name.clone(),
                error,
            })?;
            let raw = line.trim();
            if raw.is_empty() {
                continue;
            }
            take(raw, format!("{name}:{}", n + 1), &mut pending, &mut done);
            if pending.len() >= CHUNK {
                done.inserted += queue.insert(namespace, &pending).await?;
                pending.clear();
            }
        }
    }
    done.inserted += queue.insert(namespace, &pending).await?;
    Ok(done)
}
