//! How many requests may be in flight at once, across a pass's workers.
//!
//! One at first: a probe. Once the API answers it, as many as `api.concurrency`; at the
//! first sign of trouble (a transient failure, or an answer that stops the pass), one
//! again until the API answers well. A lookup answered well (`[verify] before`: the same
//! key, the same API) ends a probe too, not a narrowing for trouble: so a pass that looks
//! first does not wait a deletion's round trip before sending the rest. So a pass against a failing or refusing API sends
//! one request at a time, as a single worker would, and one against a slow API has enough
//! in flight to keep the rate after its first round trip (the rate limit, not this,
//! decides how many go out each second). It outlives passes: a pass that follows a good
//! one starts open.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
pub struct Window {
    max: usize,
    /// (requests allowed in flight, requests in flight, probing: narrowed for a cold start,
    /// not for trouble).
    state: Mutex<(usize, usize, bool)>,
    /// Woken when a place frees up or the window opens.
    changed: Notify,
}

/// A place in the window, given back when dropped.
pub struct Place<'a>(&'a Window);

impl Window {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            state: Mutex::new((1, 0, true)),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (usize, usize, bool)> {
        // Nothing panics while holding it; the counts stay right.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place in the window.
    pub async fn enter(&self) -> Place<'_> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change in between is not missed.
            changed.as_mut().enable();
            {
                let mut state = self.state();
                if state.1 < state.0 {
                    state.1 += 1;
                    return Place(self);
                }
            }
            changed.await;
        }
    }

    /// The API answered: open fully.
    pub fn open(&self) {
        let mut state = self.state();
        state.2 = false;
        if state.0 < self.max {
            state.0 = self.max;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    /// A lookup answered well: open, if only a probe narrowed the window.
    pub fn looked_up(&self) {
        if self.state().2 {
            self.open();
        }
    }

    /// A cold start: one at a time until the API is heard answering well.
    pub fn probe(&self) {
        let mut state = self.state();
        state.0 = 1;
        state.2 = true;
    }

    /// Trouble: one at a time until a deletion is answered well again.
    pub fn narrow(&self) {
        let mut state = self.state();
        state.0 = 1;
        state.2 = false;
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.state().1 -= 1;
        self.0.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn one_until_an_answer_then_all_then_one_after_trouble() {
        let window = Window::new(3);
        let first = window.enter().await;
        let second = tokio::time::timeout(Duration::from_secs(1), window.enter()).await;
        assert!(second.is_err(), "a second place before any answer");
        window.open();
        let second = window.enter().await;
        let third = window.enter().await;
        let fourth = tokio::time::timeout(Duration::from_secs(1), window.enter()).await;
        assert!(fourth.is_err(), "above the maximum");
        window.narrow();
        drop((first, second, third));
        let only = window.enter().await;
        let another = tokio::time::timeout(Duration::from_secs(1), window.enter()).await;
        assert!(another.is_err(), "two places after trouble");
        drop(only);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_ends_a_probe_but_not_trouble() {
        let window = Window::new(2);
        for (narrowed_by_trouble, opens) in [(false, true), (true, false)] {
            window.probe();
            if narrowed_by_trouble {
                window.narrow();
            }
            let first = window.enter().await;
            window.looked_up();
            let second = tokio::time::timeout(Duration::from_secs(1), window.enter()).await;
            assert_eq!(
                second.is_ok(),
                opens,
                "after trouble: {narrowed_by_trouble}"
            );
            drop((first, second));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_place_wakes_a_waiter() {
        let window = std::sync::Arc::new(Window::new(1));
        let held = window.enter().await;
        let waiter = tokio::spawn({
            let window = window.clone();
            async move {
                let _place = window.enter().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .expect("no panic");
    }
}
