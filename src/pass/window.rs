//! How many requests may be in flight at once, across a pass's workers.
//!
//! The window starts at one, grows by one with each request the API answers (so it
//! doubles every round trip) up to `api.concurrency`, and falls back to one at the first
//! sign of trouble: a transient failure, or an answer that stops the pass. So a pass
//! against a failing or refusing API sends one request at a time, as a single worker
//! would, and one against a slow API soon has enough in flight to keep the rate. It
//! outlives passes: a pass that follows a good one starts where that one was.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
pub struct Window {
    max: usize,
    /// (requests allowed in flight, requests in flight).
    state: Mutex<(usize, usize)>,
    /// Woken when a place frees up or the window widens.
    changed: Notify,
}

/// A place in the window, given back when dropped.
pub struct Place<'a>(&'a Window);

impl Window {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            state: Mutex::new((1, 0)),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (usize, usize)> {
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

    /// The API answered: one more may be in flight.
    pub fn widen(&self) {
        let mut state = self.state();
        if state.0 < self.max {
            state.0 += 1;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    /// Trouble: one at a time until the API answers again.
    pub fn narrow(&self) {
        self.state().0 = 1;
    }

    #[cfg(test)]
    fn allowed(&self) -> usize {
        self.state().0
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
    async fn starts_at_one_grows_per_answer_and_falls_back_to_one() {
        let window = Window::new(3);
        let first = window.enter().await;
        let second = tokio::time::timeout(Duration::from_secs(1), window.enter()).await;
        assert!(second.is_err(), "a second place before any answer");
        window.widen();
        let second = window.enter().await;
        window.widen();
        window.widen();
        window.widen();
        assert_eq!(window.allowed(), 3, "never above the maximum");
        let third = window.enter().await;
        window.narrow();
        drop((first, second, third));
        let only = window.enter().await;
        let another = tokio::time::timeout(Duration::from_secs(1), window.enter()).await;
        assert!(another.is_err(), "two places after trouble");
        drop(only);
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
