//! Progress of a long command (indicatif), on stderr, only when stderr is a terminal:
//! piped or redirected, a command prints nothing but its results. Drawn a few times a
//! second whatever the steps' pace (a line written at every step cost a fast export).
//!
//! `run --once` shows its drain ([`Drain`]): the pass counts rows as they settle
//! ([`settled`]), and the log's lines go through [`Stderr`], which clears the bar while a
//! line is written, so that the two never share a line.

use std::io::Write;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress(ProgressBar);

impl Progress {
    /// `total`: the steps, or 0 when not known beforehand (a count and a rate then).
    pub fn new(what: impl Into<String>, total: u64) -> Self {
        Self(bar(what.into(), total))
    }

    /// One more step done.
    pub fn step(&mut self) {
        self.0.inc(1);
    }

    /// Runs `f`, which prints a line, with the bar cleared, then draws the bar again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    /// Clears the line, so that what follows starts clean.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// A bar for `total` steps (0: not known: a count and a rate), drawn on a terminal only.
fn bar(what: String, total: u64) -> ProgressBar {
    // `new` and `new_spinner` draw to stderr, and nothing when it is not a terminal.
    let (bar, template) = match total {
        0 => (
            ProgressBar::new_spinner(),
            "{msg}: {human_pos} ({rate}, {elapsed})",
        ),
        n => (
            ProgressBar::new(n),
            "{msg}: {wide_bar} {human_pos}/{human_len} ({percent}%, {rate}, {eta} left)",
        ),
    };
    // The templates are fixed: a failure is this file's bug, and the default style
    // still shows progress.
    if let Ok(style) = ProgressStyle::with_template(template) {
        // indicatif's {per_sec} shows four decimals: whole steps a second read better.
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        ));
    }
    bar.set_message(what);
    bar
}

/// The drain `run --once` shows, while it runs.
static DRAIN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// `run --once`'s drain on a terminal: rows settled of the `due` at its start. Cleared
/// when dropped.
pub struct Drain;

impl Drain {
    pub fn show(due: u64) -> Self {
        let bar = bar("rows settled".into(), due);
        if let Ok(mut drain) = DRAIN.lock() {
            *drain = Some(bar);
        }
        Self
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        if let Some(bar) = DRAIN.lock().ok().and_then(|mut d| d.take()) {
            bar.finish_and_clear();
        }
    }
}

/// Rows settled (deleted, failed, absent): the drain's bar moves, if one is shown.
pub fn settled(rows: u64) {
    if let Some(bar) = DRAIN.lock().ok().as_deref().and_then(Option::as_ref) {
        bar.inc(rows);
        // Rows that came due during the pass settle too: the total grows with them.
        if bar.length().is_some_and(|total| bar.position() > total) {
            bar.set_length(bar.position());
        }
    }
}

/// The log's stderr: a line written while the drain's bar is shown clears it first.
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = DRAIN.lock().ok().and_then(|d| d.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
