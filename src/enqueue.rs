//! The `enqueue` command: a producer for operators and scripts. Reads video numbers from
//! the command line and/or a file (`-` for stdin), one per line, skips blank lines, reports
//! each invalid one with its line (a line that is not UTF-8, or too long to be an id, is
//! just another invalid line), and inserts the rest.

use std::io::BufRead;

use crate::printable;
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

/// The most of a line that is kept: a video number is at most 64 characters, so a longer
/// line is refused by its length, and never held whole (`--file /dev/zero` is one endless
/// line).
const LONGEST_LINE: usize = 1024;

/// One line of a file, without its newline.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Text(String),
    NotUtf8,
    TooLong(u64),
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => f.write_str(&printable::quoted(text, printable::QUOTED)),
            Self::NotUtf8 => f.write_str("not valid UTF-8 text"),
            Self::TooLong(len) => write!(f, "a line of {len} bytes; a video number is at most 64"),
        }
    }
}

/// Reads the next line, keeping at most [`LONGEST_LINE`] bytes of it; `None` at the end.
fn next_line(reader: &mut dyn BufRead) -> std::io::Result<Option<Line>> {
    let mut kept = Vec::new();
    let mut len = 0u64;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (part, used, ended) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        len += part.len() as u64;
        let room = (LONGEST_LINE + 1).saturating_sub(kept.len());
        kept.extend_from_slice(&part[..part.len().min(room)]);
        reader.consume(used);
        if ended {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if kept.len() > LONGEST_LINE {
        return Ok(Some(Line::TooLong(len)));
    }
    Ok(Some(
        String::from_utf8(kept).map_or(Line::NotUtf8, Line::Text),
    ))
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
    // Each id is checked where it was read; `place` says where that was.
    let mut take = |line: Line, place: String, pending: &mut Vec<VideoNo>| {
        let judged = match &line {
            Line::Text(text) => rule
                .parse(text.trim())
                .map_err(|e| format!("{}: {e}", printable::quoted(text.trim(), printable::QUOTED))),
            bad => Err(bad.to_string()),
        };
        match judged {
            Ok(id) => pending.push(id),
            Err(why) => {
                done.rejected += 1;
                report(format!("{place}: {why}"));
            }
        }
    };
    for (i, arg) in args.iter().enumerate() {
        take(
            Line::Text(arg.clone()),
            format!("argument {}", i + 1),
            &mut pending,
        );
    }
    if let Some((name, mut reader)) = file {
        let mut n = 0u64;
        while let Some(line) = next_line(&mut reader).map_err(|error| EnqueueError::Read {
            source_name: name.clone(),
            error,
        })? {
            n += 1;
            if matches!(&line, Line::Text(text) if text.trim().is_empty()) {
                continue;
            }
            take(line, format!("{name}:{n}"), &mut pending);
            if pending.len() >= CHUNK {
                done.inserted += queue.insert(namespace, &pending).await?;
                pending.clear();
            }
        }
    }
    done.inserted += queue.insert(namespace, &pending).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Line> {
        let mut reader: &[u8] = bytes;
        std::iter::from_fn(|| next_line(&mut reader).unwrap()).collect()
    }

    #[test]
    fn lines_that_are_not_text_or_too_long_are_lines_like_any_other() {
        let long = "V".repeat(5000);
        let input = format!("VI1\n\u{ff}\n{long}\r\nVI2");
        let mut bytes = input.into_bytes();
        // An invalid UTF-8 byte in the second line.
        bytes[4] = 0xff;
        bytes[5] = b'\n';
        let got = lines(&bytes);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], Line::Text("VI1".into()));
        assert_eq!(got[1], Line::NotUtf8);
        assert_eq!(got[3], Line::TooLong(5001));
        assert_eq!(got[4], Line::Text("VI2".into()));
        assert_eq!(lines(b""), vec![]);
        assert_eq!(lines(b"\n"), vec![Line::Text(String::new())]);
    }
}
