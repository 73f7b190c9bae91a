//! Video numbers as people give them to a command (`enqueue`, `locate`): arguments, and a
//! file or stdin, one per line. Blank lines are skipped; a line that is not UTF-8, or too
//! long to be an id, is just another invalid line, named by where it was.

use std::io::BufRead;

use crate::printable;
use crate::video::{VideoNo, VideoNoRule};

/// The most of a line that is kept: a video number is at most 64 characters, so a longer
/// line is refused by its length, and never held whole (`--file /dev/zero` is one endless
/// line).
const LONGEST_LINE: usize = 1024;

/// A line this long is no list of video numbers (`--file /dev/zero` is one endless
/// line): reading stops with an error instead of going on for ever. Shorter overlong
/// lines are invalid lines like any other, named, and the rest is read.
const ENDLESS_LINE: u64 = 64 << 20;

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
        if len > ENDLESS_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a line longer than 64 MiB: this is no list of video numbers",
            ));
        }
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

/// What was read: a valid id, or an invalid one with where it was and why.
pub enum Read {
    Id(VideoNo),
    Rejected(String),
}

/// The ids of a command, one at a time: arguments first, then the file's lines. Reads the
/// file as it goes, so that millions of ids never sit in memory.
pub struct Ids<'a> {
    rule: &'a VideoNoRule,
    args: std::iter::Enumerate<std::slice::Iter<'a, String>>,
    file: Option<(String, Box<dyn BufRead + Send>)>,
    line: u64,
}

impl<'a> Ids<'a> {
    pub fn new(
        rule: &'a VideoNoRule,
        args: &'a [String],
        file: Option<(String, Box<dyn BufRead + Send>)>,
    ) -> Self {
        Self {
            rule,
            args: args.iter().enumerate(),
            file,
            line: 0,
        }
    }

    /// The next id; `Err` when the file cannot be read (named in the message).
    pub fn next(&mut self) -> Result<Option<Read>, String> {
        if let Some((i, arg)) = self.args.next() {
            return Ok(Some(
                self.judge(Line::Text(arg.clone()), format!("argument {}", i + 1)),
            ));
        }
        let Some((name, reader)) = &mut self.file else {
            return Ok(None);
        };
        loop {
            let line = next_line(reader.as_mut())
                .map_err(|e| format!("cannot read {}: {e}", printable::escaped(name)))?;
            self.line += 1;
            match line {
                None => return Ok(None),
                Some(Line::Text(text)) if text.trim().is_empty() => continue,
                Some(line) => {
                    let place = format!("{}:{}", printable::escaped(name), self.line);
                    return Ok(Some(self.judge(line, place)));
                }
            }
        }
    }

    fn judge(&self, line: Line, place: String) -> Read {
        let judged = match &line {
            Line::Text(text) => self
                .rule
                .parse(text.trim())
                .map_err(|e| format!("{}: {e}", printable::quoted(text.trim(), printable::QUOTED))),
            bad => Err(bad.to_string()),
        };
        match judged {
            Ok(id) => Read::Id(id),
            Err(why) => Read::Rejected(format!("{place}: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

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
        // An endless line (`/dev/zero`) ends the reading with an error, not never.
        let mut zeros = std::io::repeat(0).take(ENDLESS_LINE + 10);
        let mut reader = std::io::BufReader::new(&mut zeros);
        assert!(next_line(&mut reader).is_err());
        assert_eq!(lines(b"\n"), vec![Line::Text(String::new())]);
    }
}
