//! Progress of a long command (indicatif), on stderr, only when stderr is a terminal:
//! piped or redirected, a command prints nothing but its results. Drawn a few times a
//! second whatever the steps' pace (a line written at every step cost a fast export).

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress(ProgressBar);

impl Progress {
    /// `total`: the steps, or 0 when not known beforehand (a count and a rate then).
    pub fn new(what: impl Into<String>, total: u64) -> Self {
        // `new` and `new_spinner` draw to stderr, and nothing when it is not a terminal.
        let (bar, template) = match total {
            0 => (
                ProgressBar::new_spinner(),
                "{msg}: {pos} ({per_sec}, {elapsed})",
            ),
            n => (
                ProgressBar::new(n),
                "{msg}: {wide_bar} {pos}/{len} ({percent}%, {per_sec}, {eta} left)",
            ),
        };
        // The templates are fixed: a failure is this file's bug, and the default style
        // still shows progress.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(what.into());
        Self(bar)
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
