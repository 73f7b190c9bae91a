//! Logging, set up in one place: human-readable text by default (colour only on a
//! terminal), JSON when asked; `RUST_LOG` overrides the configured level. Logs go to
//! stderr, so command output on stdout stays clean for scripts.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat, level: &str) {
    // tokio-cron-scheduler narrates its own start-up at info; keep that out unless asked
    // for with RUST_LOG. (`level` was checked when the config was loaded.)
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},tokio_cron_scheduler=warn")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // Fails only if a subscriber is already set (a second call in tests): keep that one.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
