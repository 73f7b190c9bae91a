//! Talking to systemd (`Type=notify`): READY=1 once the database is migrated and the
//! schedule armed, STATUS= with the queue's depth and the last pass's totals, WATCHDOG=1
//! while the daemon is alive and making progress, RELOADING=1 … READY=1 around a reload
//! (SIGHUP), STOPPING=1 on shutdown.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing. A failure to notify is
//! logged, never fatal: the deletions matter more than the service manager's view of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tracing::warn;

#[derive(Debug, Clone)]
pub struct Notifier {
    /// `WatchdogSec=` as systemd passed it; `None` when no watchdog is set.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`, which when set must be this process, as
    /// `sd_watchdog_enabled` requires).
    pub fn from_env() -> Self {
        let usec = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|usec| *usec > 0);
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
        Self {
            watchdog: usec.filter(|_| for_us).map(Duration::from_micros),
        }
    }

    /// How often to ping: half the watchdog's period, as systemd recommends.
    pub fn ping_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    pub fn ready(&self) {
        send(&[NotifyState::Ready]);
    }

    /// A reload begins: `systemctl status` shows "reloading" until [`Self::ready`].
    /// (MONOTONIC_USEC is what systemd 253's `Type=notify-reload` also requires.)
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now]),
            Err(_) => send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }

    pub fn status(&self, status: &str) {
        send(&[NotifyState::Status(status)]);
    }

    pub fn watchdog(&self) {
        send(&[NotifyState::Watchdog]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        warn!("cannot notify systemd: {e}");
    }
}

/// When the pass last made progress: an answer received, rows settled (and the pass's
/// start). Never waiting, which a stuck pass does too. The watchdog is pinged during a
/// pass only while this is recent,
/// so a pass that hangs gets the daemon restarted.
#[derive(Debug, Clone)]
pub struct Liveness {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::default(),
        }
    }
}

impl Liveness {
    pub fn beat(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub fn since_last_beat(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}
