//! A strict rolling-window rate limit: never more than N requests in any one second.
//!
//! The account's limit is 5 requests a second and over it the API answers `0429`. A token
//! bucket (governor's GCRA) allows a burst followed by a steady rate, which can put more
//! than N requests in one rolling second; this keeps the times of the last N requests
//! instead and waits until the oldest is more than a second old.
//!
//! A process restarted within a second of its predecessor's last requests (a crash, a
//! `systemctl restart`) starts from the sends its predecessor recorded, so that the two
//! together stay within the limit.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// The rolling window, plus a little slack for the jitter between the moment a request
/// leaves here and the moment the API counts it.
const WINDOW: Duration = Duration::from_millis(1010);

#[derive(Debug)]
pub struct RateLimit {
    per_second: usize,
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimit {
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1) as usize;
        Self {
            per_second,
            sent: Mutex::new(VecDeque::with_capacity(per_second)),
        }
    }

    /// Counts requests sent `ago` before now (recorded by a predecessor) as if this
    /// limiter had let them through.
    pub async fn resume(&self, mut ago: Vec<Duration>) {
        let now = Instant::now();
        ago.sort_unstable_by(|a, b| b.cmp(a));
        let mut sent = self.sent.lock().await;
        for a in ago.into_iter().filter(|a| *a < WINDOW) {
            if sent.len() == self.per_second {
                sent.pop_front();
            }
            sent.push_back(now.checked_sub(a).unwrap_or(now));
        }
    }

    /// Waits until one more request fits in the window, and counts it as sent now.
    pub async fn acquire(&self) {
        // Holding the lock while waiting keeps waiters in order.
        let mut sent = self.sent.lock().await;
        if sent.len() == self.per_second {
            if let Some(&oldest) = sent.front() {
                tokio::time::sleep_until(oldest + WINDOW).await;
            }
            sent.pop_front();
        }
        sent.push_back(Instant::now());
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
        limit.resume(vec![ms(100), ms(5000), ms(300)]).await;
        let before = Instant::now();
        limit.acquire().await;
        assert_eq!(Instant::now() - before, WINDOW - ms(300));
        limit.acquire().await;
        assert_eq!(Instant::now() - before, WINDOW - ms(100));
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
