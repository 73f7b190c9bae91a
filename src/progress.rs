//! Progress of a long command, on stderr, only when stderr is a terminal: piped or
//! redirected, a command prints nothing but its results.

use std::io::{IsTerminal, Write};

pub struct Progress {
    what: String,
    /// 0: not known beforehand (only the count is shown).
    total: u64,
    done: u64,
    shown: bool,
}

impl Progress {
    pub fn new(what: impl Into<String>, total: u64) -> Self {
        Self {
            what: what.into(),
            total,
            done: 0,
            shown: std::io::stderr().is_terminal(),
        }
    }

    /// One more step done.
    pub fn step(&mut self) {
        self.done += 1;
        if self.shown && self.total == 0 {
            let _ = write!(std::io::stderr().lock(), "\r{}: {}", self.what, self.done);
        } else if self.shown {
            let percent = self.done * 100 / self.total.max(1);
            let _ = write!(
                std::io::stderr().lock(),
                "\r{}: {}/{} ({percent}%)",
                self.what,
                self.done,
                self.total
            );
        }
    }

    /// Clears the line, so that what follows starts clean.
    pub fn finish(self) {
        if self.shown {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
