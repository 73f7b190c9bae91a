//! A strict rolling-window rate limit: never more than N requests in any one second.
//!
//! The account's limit is 5 requests a second and over it the API answers `0429`. A token
//! bucket (governor's GCRA) allows a burst followed by a steady rate, which can put more
//! than N requests in one rolling second; this keeps the times of the last N requests
//! instead and waits until the oldest is more than a second old.
//!
//! A request's time is the moment it goes out (`mark_sent`), not the moment it was let
//! through: the pass records the request in the database in between, which can take a
//! while, and counting from the earlier moment would let the next one out too soon.
//!
//! When the API answers "too many requests" anyway (someone else uses the account's
//! quota), the pace drops by half, and climbs back by a tenth of a request a second with
//! each answer that is not (additive increase, multiplicative decrease): requests are
//! then spaced evenly, never bunched, and the rate settles on what the quota leaves.
//!
//! A process restarted within a second of its predecessor's last requests (a crash, a
//! `systemctl restart`) starts from the sends its predecessor recorded, so that the two
//! together stay within the limit.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The rolling window, plus a little slack for the jitter between the moment a request
/// leaves here and the moment the API counts it.
const WINDOW: Duration = Duration::from_millis(1010);

/// Recorded sends are taken as this much later than their record says: the record is
/// written just before the request goes out.
const RECORD_SLACK: Duration = Duration::from_millis(100);

/// The slowest pace: one request every five seconds.
const MIN_RATE: f64 = 0.2;
/// Added to the pace with each answer that is not "too many requests".
const RATE_STEP: f64 = 0.1;

#[derive(Debug)]
pub struct RateLimit {
    per_second: usize,
    inner: Mutex<Inner>,
    next_slot: std::sync::atomic::AtomicU64,
    /// Waiters take turns in order.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Inner {
    /// (slot number, when it went out) of the requests of the last window.
    sent: Vec<(u64, Instant)>,
    /// Requests a second the API takes now: `per_second` until it says "too many".
    rate: f64,
    /// The last slow-down: a burst of "too many" answers halves the pace once.
    slowed: Option<Instant>,
}

/// One request's place in the window, from `acquire` until it is marked sent.
#[derive(Debug)]
pub struct Slot(u64);

impl RateLimit {
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1) as usize;
        Self {
            per_second,
            inner: Mutex::new(Inner {
                sent: Vec::with_capacity(per_second),
                rate: per_second as f64,
                slowed: None,
            }),
            next_slot: Default::default(),
            turn: Default::default(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned list of times is still right.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The API said "too many requests": halve the pace (once per second at most).
    /// Returns the new pace, in requests a second.
    pub fn slow_down(&self) -> f64 {
        let now = Instant::now();
        let mut inner = self.inner();
        if inner.slowed.is_none_or(|at| now >= at + WINDOW) {
            inner.rate = (inner.rate / 2.0).max(MIN_RATE);
            inner.slowed = Some(now);
        }
        inner.rate
    }

    /// The API answered without "too many requests": a little faster, up to the limit.
    pub fn speed_up(&self) {
        let mut inner = self.inner();
        inner.rate = (inner.rate + RATE_STEP).min(self.per_second as f64);
    }

    /// Counts requests sent `ago` before now (recorded by a predecessor) as if this
    /// limiter had let them through.
    pub fn resume(&self, ago: Vec<Duration>) {
        let now = Instant::now();
        let sent = &mut self.inner().sent;
        for a in ago.into_iter().filter(|a| *a < WINDOW + RECORD_SLACK) {
            let at = now
                .checked_sub(a.saturating_sub(RECORD_SLACK))
                .unwrap_or(now);
            sent.push((u64::MAX, at));
        }
        sent.sort_by_key(|e| e.1);
        let excess = sent.len().saturating_sub(self.per_second);
        sent.drain(..excess);
    }

    /// Waits until one more request fits in the window and holds its place, counted as
    /// sent now until `mark_sent` says when it really went out.
    pub async fn acquire(&self) -> Slot {
        let _turn = self.turn.lock().await;
        loop {
            let wake = {
                let now = Instant::now();
                let mut inner = self.inner();
                inner.sent.retain(|e| e.1 + WINDOW > now);
                let full = (inner.sent.len() >= self.per_second)
                    .then(|| inner.sent.iter().map(|e| e.1 + WINDOW).min())
                    .flatten();
                // Below the limit, requests are spaced evenly at the current pace.
                let paced = (inner.rate < self.per_second as f64)
                    .then(|| inner.sent.iter().map(|e| e.1).max())
                    .flatten()
                    .map(|last| last + Duration::from_secs_f64(1.0 / inner.rate));
                match full.into_iter().chain(paced).max() {
                    Some(wake) if wake > now => wake,
                    _ => {
                        let slot = self
                            .next_slot
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        inner.sent.push((slot, now));
                        return Slot(slot);
                    }
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// The request holding `slot` goes out now.
    pub fn mark_sent(&self, slot: Slot) {
        let now = Instant::now();
        if let Some(entry) = self.inner().sent.iter_mut().find(|e| e.0 == slot.0) {
            entry.1 = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_n_in_any_rolling_second() {
        let limit = RateLimit::new(5);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..23 {
            limit.acquire().await;
            times.push(Instant::now() - start);
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u - *t < Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 5,
                "{in_window} requests in the second after {t:?}"
            );
        }
        // And it does not wait more than it must: 23 requests take four windows.
        assert!(times[22] <= WINDOW * 4, "{:?}", times[22]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_waits_for_its_predecessors_sends() {
        let limit = RateLimit::new(2);
        // Sent 300 ms and 100 ms ago by the process before; one from long ago is ignored.
        let ms = Duration::from_millis;
        limit.resume(vec![ms(100 + 100), ms(5000), ms(300 + 100)]);
        let before = Instant::now();
        limit.acquire().await;
        assert_eq!(Instant::now() - before, WINDOW - ms(300));
        limit.acquire().await;
        assert_eq!(Instant::now() - before, WINDOW - ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_counts_from_when_a_request_went_out() {
        let limit = RateLimit::new(1);
        let slot = limit.acquire().await;
        // Recording it took 200 ms before it went out.
        tokio::time::advance(Duration::from_millis(200)).await;
        limit.mark_sent(slot);
        let before = Instant::now();
        limit.acquire().await;
        assert_eq!(Instant::now() - before, WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_halves_the_pace_and_answers_raise_it_again() {
        let limit = RateLimit::new(5);
        assert_eq!(limit.slow_down(), 2.5);
        assert_eq!(limit.slow_down(), 2.5, "halved once per burst of answers");
        // Spaced evenly at 2.5 a second: 400 ms apart.
        limit.acquire().await;
        let before = Instant::now();
        limit.acquire().await;
        assert_eq!(Instant::now() - before, Duration::from_millis(400));
        tokio::time::advance(WINDOW).await;
        assert_eq!(limit.slow_down(), 1.25);
        for _ in 0..100 {
            limit.speed_up();
        }
        // Back at the limit: no spacing, the window alone.
        let before = Instant::now();
        for _ in 0..5 {
            limit.acquire().await;
        }
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_period_frees_the_window() {
        let limit = RateLimit::new(2);
        limit.acquire().await;
        limit.acquire().await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let before = Instant::now();
        limit.acquire().await;
        assert_eq!(Instant::now(), before);
    }
}
