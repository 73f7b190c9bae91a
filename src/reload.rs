//! SIGHUP: read the configuration file again, and use it from the next pass. The request
//! in flight is never touched: a pass runs to its end on the configuration it started
//! with. (Before, SIGHUP's default action killed the daemon mid-request, exit 129, its
//! batch left `sending`.)
//!
//! What a reload can change is decided in one place, [`FIXED`]: the settings listed
//! there cannot change while the daemon runs, and a reload that changes one is refused
//! with one line, the configuration in use kept. Every other setting takes effect at the
//! next pass, because the daemon builds each pass's API client, workers and schedule from
//! the newest accepted configuration (`log.level` at once). A setting added later that
//! cannot change live joins that list.
//!
//! The key is read at every pass anyway, so a rotated key file is picked up without a
//! reload; under systemd, `LoadCredential=` copies the key only at start (systemd 252 does
//! not copy it again on reload), so rotating it there stays a restart.

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;
use crate::notify::Notifier;
use crate::telemetry;

/// How a setting reads from a configuration, to compare two of them.
type Reading = fn(&Config) -> String;

/// The settings a reload cannot change, each with how it reads: the database (the queue
/// the daemon holds open), how long it waits for a writer (set when it was opened), and
/// the log format (the log's writer is built once).
const FIXED: [(&str, Reading); 6] = [
    ("database.path/url", |c| {
        c.database().map(|d| d.shown()).unwrap_or_default()
    }),
    ("database.busy_timeout", |c| {
        humantime::format_duration(c.database.busy_timeout).to_string()
    }),
    // The lease's task is started once, with it.
    ("database.sender_lease", |c| {
        humantime::format_duration(c.database.sender_lease).to_string()
    }),
    ("log.format", |c| format!("{:?}", c.log.format)),
    // The metrics server is bound once, at start.
    ("metrics.listen", |c| format!("{:?}", c.metrics.listen)),
    ("metrics.by_namespace", |c| {
        c.metrics.by_namespace.to_string()
    }),
];

/// Whether `new` may replace `current`; the error names what cannot change.
pub fn accept(current: &Config, new: &Config) -> Result<(), String> {
    let changed: Vec<&str> = FIXED
        .iter()
        .filter(|(_, read)| read(current) != read(new))
        .map(|(key, _)| *key)
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "reload refused: {} cannot change while the daemon runs (restart it for that); \
         the configuration in use is kept",
        changed.join(", ")
    ))
}

/// Listens for SIGHUP from now on (so that it never kills the daemon), and sends each
/// configuration a reload accepts. With `--once` there is no next pass: SIGHUP is only
/// logged.
pub fn listen(
    current: Config,
    once: bool,
    notifier: Notifier,
) -> std::io::Result<watch::Receiver<Arc<Config>>> {
    let mut hangups = signal(SignalKind::hangup())?;
    let (send, receive) = watch::channel(Arc::new(current.clone()));
    let mut current = current;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if once {
                info!("SIGHUP received: ignored by `run --once`");
                continue;
            }
            notifier.reloading();
            match reload(&current) {
                Ok(new) => {
                    current = new;
                    send.send_replace(Arc::new(current.clone()));
                    notifier.status("configuration reloaded; in effect from the next pass");
                }
                Err(why) => {
                    warn!("{why}");
                    notifier.status(&why);
                }
            }
            notifier.ready();
        }
    });
    Ok(receive)
}

fn reload(current: &Config) -> Result<Config, String> {
    let Some(path) = current.source.path() else {
        return Err(format!(
            "SIGHUP received: there is no configuration file to read again ({}); \
             the built-in defaults stay in use",
            current.source
        ));
    };
    let new = Config::load(&current.source)
        .map_err(|e| format!("reload refused: {e}; the configuration in use is kept"))?;
    accept(current, &new)?;
    telemetry::set_level(&new.log.level);
    for warning in new.warnings() {
        warn!("{warning}");
    }
    info!(
        "SIGHUP: configuration reloaded from {}, in effect from the next pass: {}",
        crate::printable::path(path),
        new.summary()
    );
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cannot_change_live_is_named_and_the_rest_is_accepted() {
        let current = Config::default();
        let mut new = Config::default();
        new.api.concurrency = 2.try_into().unwrap();
        new.retry.max_attempts = 9;
        new.log.level = "debug".into();
        assert_eq!(accept(&current, &new), Ok(()));
        new.database.path = Some("/elsewhere/queue.db".into());
        new.log.format = crate::config::LogFormat::Json;
        let err = accept(&current, &new).unwrap_err();
        assert!(
            err.starts_with("reload refused: database.path/url, log.format cannot change"),
            "{err}"
        );
    }
}
