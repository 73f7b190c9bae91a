//! memories-reaper: deletes Memories.ai videos that other programs put in a SQLite queue.
//!
//! The binary (`src/main.rs`) only parses the command line, sets up logging and calls into
//! here. See `ARCHITECTURE.md` for the map of the modules and the invariants they keep.

/// Command output, on stdout. A closed stdout (`status | head -c1`) is not the command's
/// failure: what cannot be written is dropped, and the command ends with the status it
/// would have had. (`println!` panics there, which turned a committed `enqueue` into exit
/// 101.)
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// A line for people on stderr: errors, problems, rejected input. Like [`say!`], a closed
/// stderr (`2>&1 | head -c1`) is not a panic: the line is dropped and the command ends
/// with its status (`eprintln!` panics on a broken pipe).
#[macro_export]
macro_rules! complain {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod api;
mod backoff;
mod chain;
pub mod cmd;
pub mod config;
mod credentials;
pub mod daemon;
mod files;
mod ids;
mod lead;
mod metrics;
mod notify;
pub mod pass;
pub mod printable;
mod progress;
pub mod queue;
mod rate;
mod reload;
pub mod rules;
mod schedule;
pub mod shutdown;
pub mod telemetry;
mod video;
mod vocabulary;
