//! How long to wait before trying a request again: exponential backoff with full jitter,
//! and the server's `Retry-After` honoured up to `retry.max_backoff`.

use std::time::Duration;

use rand::Rng;

use crate::config::RetryConfig;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(retry: &RetryConfig) -> Self {
        Self {
            initial: retry.initial_backoff,
            max: retry.max_backoff,
        }
    }

    /// The wait after the `failures`-th failed attempt (1 for the first): a random time
    /// between `initial` and `initial × 2^(failures-1)`, capped at `max`; at least the
    /// server's `Retry-After`, itself capped at `max`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        let ceiling = self
            .initial
            .checked_mul(1 << exp)
            .unwrap_or(self.max)
            .min(self.max);
        let jittered = if ceiling > self.initial {
            rand::rng().random_range(self.initial..=ceiling)
        } else {
            ceiling
        };
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max)),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn delays_stay_between_initial_and_the_exponential_ceiling() {
        let b = backoff(100, 5_000);
        for failures in 1..=40 {
            let ceiling = Duration::from_millis(100u64.saturating_mul(1 << (failures - 1).min(31)))
                .min(Duration::from_millis(5_000));
            for _ in 0..200 {
                let d = b.delay(failures, None);
                assert!(d >= Duration::from_millis(100), "{d:?} below initial");
                assert!(
                    d <= ceiling,
                    "{d:?} above {ceiling:?} at failure {failures}"
                );
            }
        }
        assert_eq!(b.delay(1, None), Duration::from_millis(100));
    }

    #[test]
    fn delays_are_jittered() {
        let b = backoff(100, 60_000);
        let samples: std::collections::HashSet<_> = (0..50).map(|_| b.delay(8, None)).collect();
        assert!(samples.len() > 10, "{} distinct delays", samples.len());
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let b = backoff(100, 5_000);
        assert!(b.delay(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(5)
        );
    }
}
