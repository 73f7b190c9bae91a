//! A claim held for exactly as long as its worker holds the rows.
//!
//! [`ClaimGuard`] renews the claim's lease on its own timer (a third of the lease) whatever the
//! worker is doing — waiting for a rate turn or a place in the window, sleeping in backoff,
//! splitting, sending — and gives the rows back when it is released or dropped. Before,
//! the lease was renewed only at certain steps, and a worker waiting longer than a lease
//! for its rate turn (a squeezed quota) lost its rows to another worker, which sent them
//! again: the same ids deleted thousands of times over.
//!
//! The lease says "this worker is alive"; the watchdog asks another question ("is the pass
//! getting anywhere?") and is fed only by progress (`notify::Liveness`), never by this.

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::warn;

use super::Store;
use crate::queue::{ClaimToken, QueueError};

/// A claim, renewed while this lives; its rows go back to `pending` when it ends.
pub struct ClaimGuard<S: Store> {
    store: S,
    token: ClaimToken,
    heartbeat: JoinHandle<()>,
    released: bool,
}

impl<S: Store> ClaimGuard<S> {
    /// Starts renewing `token`'s lease of `lease` every third of it.
    pub fn new(store: S, token: ClaimToken, lease: Duration) -> Self {
        let heartbeat = tokio::spawn(heartbeat(store.clone(), token.clone(), lease));
        Self {
            store,
            token,
            heartbeat,
            released: false,
        }
    }

    pub fn token(&self) -> &ClaimToken {
        &self.token
    }

    /// Stops renewing and gives back to `pending` what the claim still holds (nothing, when
    /// every row was settled), with `last_error` when given. Returns how many rows.
    pub async fn release(mut self, last_error: Option<&str>) -> Result<u64, QueueError> {
        self.heartbeat.abort();
        self.released = true;
        self.store.release(&self.token, last_error).await
    }
}

impl<S: Store> Drop for ClaimGuard<S> {
    /// Dropped without a release (an error, a panic in the pass): the rows are given back
    /// in the background; if that cannot run, they come back when the lease runs out.
    fn drop(&mut self) {
        self.heartbeat.abort();
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, token) = (self.store.clone(), self.token.clone());
            runtime.spawn(async move {
                if let Err(e) = store.release(&token, None).await {
                    warn!("cannot give back the rows of a stopped worker ({e}); they return when their lease runs out");
                }
            });
        }
    }
}

/// How often a lease is renewed: three chances before it runs out.
pub fn renew_every(lease: Duration) -> Duration {
    lease / 3
}

async fn heartbeat<S: Store>(store: S, token: ClaimToken, lease: Duration) {
    let mut timer = tokio::time::interval(renew_every(lease));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the claim was just made with a fresh lease.
    timer.tick().await;
    loop {
        timer.tick().await;
        if let Err(e) = store.renew(&token, lease).await {
            // The next tick tries again; if the lease runs out meanwhile, the worker finds
            // its claim lost before it sends (`Store::start_request`) and sends nothing.
            warn!("cannot renew a claim's lease: {e}");
        }
    }
}
