//! What the soak and the benchmark share: finding the daemon binary, opening the queue as
//! a producer does, and reading a process's memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// `explicit`, or the daemon beside the running example's directory
/// (`target/<profile>/examples/x` → `target/<profile>/memories-reaper`).
pub fn daemon_binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let bin = match explicit {
        Some(bin) => bin,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("memories-reaper"))
            .ok_or_else(|| anyhow::anyhow!("cannot tell where the daemon binary is; give --bin"))?,
    };
    anyhow::ensure!(
        bin.exists(),
        "{} does not exist: build it with `cargo build --bins --examples` (add --release \
         for the release examples), or give --bin",
        bin.display()
    );
    Ok(bin)
}

/// A connection pool as the README tells producers to open one (a busy timeout).
pub async fn producer_pool(db: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?)
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), while the process lives.
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
