//! memories-reaper: deletes Memories.ai videos that other programs put in a SQLite queue.
//!
//! The binary (`src/main.rs`) only parses the command line, sets up logging and calls into
//! here. See `ARCHITECTURE.md` for the map of the modules and the invariants they keep.

pub mod api;
pub mod backoff;
pub mod check;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod enqueue;
pub mod notify;
pub mod pass;
pub mod queue;
pub mod rate;
pub mod schedule;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod video;
pub mod vocabulary;
