//! Turning SIGTERM (how systemd stops a service) and SIGINT (Ctrl-C) into a
//! [`CancellationToken`] that the daemon passes down as a value.
//!
//! On cancellation the pass stops claiming, lets the request in flight finish (bounded by
//! `api.timeout`), records it, and gives back what it claimed but did not send.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Ignores SIGHUP from the very start of the program (for `run`, until `reload` listens for
/// it): its default action would kill the daemon (exit 129) in the moment before the
/// listener exists.
pub fn ignore_hangups() {
    set_hangup(libc::SIG_IGN);
}

/// SIGHUP's default action back, for the commands other than `run` (a closed terminal
/// ends them).
pub fn default_hangups() {
    set_hangup(libc::SIG_DFL);
}

fn set_hangup(disposition: libc::sighandler_t) {
    // SAFETY: sets the disposition of one signal to "ignore" or "default", before the
    // runtime and its threads exist; no handler runs Rust code. tokio installs its own
    // handler over it.
    unsafe {
        libc::signal(libc::SIGHUP, disposition);
    }
}

/// Listens for SIGTERM and SIGINT; the token is cancelled on the first one.
pub fn on_signals() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!("{name} received: finishing the request in flight, then stopping");
        cancel.cancel();
    });
    Ok(token)
}
