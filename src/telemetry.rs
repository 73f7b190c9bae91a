//! Logging, set up in one place. Under systemd, when stderr is the journal
//! (`JOURNAL_STREAM`), events go straight to journald with their fields (`BATCH_OUTCOME`,
//! `BATCH_NAMESPACE`, …) and syslog priorities; elsewhere human-readable text (colour only
//! on a terminal), or JSON when asked. `RUST_LOG` overrides the configured level. Logs go
//! to stderr, so command output on stdout stays clean for scripts.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::LogFormat;

/// Changes the level to a reloaded `log.level`, unless `RUST_LOG` set it.
static LEVEL: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

pub fn init(format: LogFormat, level: &str) {
    let from_env = EnvFilter::try_from_default_env().ok();
    let (filter, handle) =
        reload::Layer::new(from_env.clone().unwrap_or_else(|| filter_for(level)));
    if from_env.is_none() {
        let _ = LEVEL.set(handle);
    }
    let journal = stderr_is_journal()
        .then(|| {
            tracing_journald::layer().map(|layer| {
                layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("memories-reaper".into())
                    .with_priority_mappings(PriorityMappings {
                        info: Priority::Informational,
                        debug: Priority::Debug,
                        ..PriorityMappings::new()
                    })
            })
        })
        .and_then(Result::ok);
    // `try_init` fails only if a subscriber is already set (a second call in tests): keep
    // that one.
    let registry = tracing_subscriber::registry().with(filter);
    if let Some(journal) = journal {
        let _ = registry.with(journal).try_init();
        return;
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(|| crate::progress::Stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json()).try_init(),
    };
}

/// The filter for a `log.level` (checked when the config was loaded).
fn filter_for(level: &str) -> EnvFilter {
    // tokio-cron-scheduler narrates its own start-up at info; keep that out unless asked
    // for with RUST_LOG.
    EnvFilter::try_new(format!("{level},tokio_cron_scheduler=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Applies a reloaded `log.level`; does nothing when `RUST_LOG` chose the level.
pub fn set_level(level: &str) {
    if let Some(handle) = LEVEL.get() {
        let _ = handle.reload(filter_for(level));
    }
}

/// systemd sets `JOURNAL_STREAM` to the device and inode of the journal stream it gave the
/// service; stderr is the journal only if it is still that stream (not redirected).
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()),
        Err(_) => false,
    }
}
