//! When passes run: the cron rule, and the scheduler that turns it into ticks.
//!
//! The scheduler only decides *when*; the daemon's loop does the work. tokio-cron-scheduler
//! needs a seconds field, so a standard 5-field crontab line gets `0` seconds in front. It
//! also starts a job again while the previous run is still going: each tick therefore takes
//! a lock that the daemon holds for the whole pass, and a tick that finds it taken is
//! skipped and logged. Times are UTC.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::Deserialize;
use tokio::sync::{mpsc, Mutex, OwnedMutexGuard};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{info, warn};

/// The default: every five minutes.
pub const DEFAULT_CRON: &str = "*/5 * * * *";

/// A cron rule that parses, in the 5-field crontab form or the 6-field form with seconds.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct CronRule {
    written: String,
    /// The 6-field form the scheduler takes.
    with_seconds: String,
    cron: Cron,
}

impl fmt::Debug for CronRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronRule({:?})", self.written)
    }
}

impl CronRule {
    pub fn parse(written: &str) -> Result<Self, String> {
        let fields = written.split_whitespace().count();
        let with_seconds = match fields {
            5 => format!("0 {}", written.trim()),
            6 => written.trim().to_owned(),
            n => {
                return Err(format!(
                    "cron rule {written:?} has {n} fields; write 5 (minute hour day month weekday) \
                     or 6 (with seconds first), e.g. \"*/5 * * * *\""
                ))
            }
        };
        // The same parser settings as tokio-cron-scheduler's, so that what is accepted
        // here is what it runs.
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(&with_seconds)
            .map_err(|e| format!("cron rule {written:?} does not parse: {e}"))?;
        Ok(Self {
            written: written.to_owned(),
            with_seconds,
            cron,
        })
    }

    pub fn as_written(&self) -> &str {
        &self.written
    }

    /// The first time strictly after `after` that the rule matches, to the second.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.trunc_subsecs(0), false)
            .ok()
    }
}

impl TryFrom<String> for CronRule {
    type Error = String;

    fn try_from(written: String) -> Result<Self, String> {
        Self::parse(&written)
    }
}

impl Default for CronRule {
    fn default() -> Self {
        Self::parse(DEFAULT_CRON).expect("the default cron rule parses")
    }
}

/// Held by the daemon for the length of a pass; a tick that cannot take it is skipped.
pub type PassGuard = OwnedMutexGuard<()>;

/// A running scheduler and the ticks it produces.
pub struct Ticks {
    scheduler: JobScheduler,
    receiver: mpsc::Receiver<PassGuard>,
}

impl Ticks {
    /// Arms the rule. Each tick arrives holding `running`'s lock.
    pub async fn start(
        rule: &CronRule,
        running: Arc<Mutex<()>>,
    ) -> Result<Self, JobSchedulerError> {
        let (sender, receiver) = mpsc::channel(1);
        let scheduler = JobScheduler::new().await?;
        let job = Job::new_async(rule.with_seconds.as_str(), move |_, _| {
            let running = running.clone();
            let sender = sender.clone();
            Box::pin(async move {
                match running.try_lock_owned() {
                    Ok(guard) => {
                        // Fails only when the daemon is shutting down.
                        let _ = sender.try_send(guard);
                    }
                    Err(_) => warn!("tick skipped: the previous pass is still running"),
                }
            })
        })?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        Ok(Self {
            scheduler,
            receiver,
        })
    }

    /// The next tick; `None` once the scheduler is gone.
    pub async fn next(&mut self) -> Option<PassGuard> {
        self.receiver.recv().await
    }

    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            info!("scheduler shutdown: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, s).unwrap()
    }

    #[test]
    fn five_fields_run_at_second_zero() {
        let rule = CronRule::parse("*/5 * * * *").unwrap();
        assert_eq!(rule.next_after(at(10, 2, 30)), Some(at(10, 5, 0)));
        assert_eq!(rule.next_after(at(10, 5, 0)), Some(at(10, 10, 0)));
        let just_after = at(10, 5, 0) + chrono::Duration::milliseconds(73);
        assert_eq!(rule.next_after(just_after), Some(at(10, 10, 0)));
    }

    #[test]
    fn six_fields_take_seconds_first() {
        let rule = CronRule::parse("*/10 * * * * *").unwrap();
        assert_eq!(rule.next_after(at(10, 2, 31)), Some(at(10, 2, 40)));
        let nightly = CronRule::parse("30 0 3 * * *").unwrap();
        assert_eq!(
            nightly.next_after(at(10, 0, 0)),
            Some(Utc.with_ymd_and_hms(2026, 11, 29, 3, 0, 30).unwrap())
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        assert!(CronRule::parse("* * * *").unwrap_err().contains("4 fields"));
        assert!(CronRule::parse("1 2 3 4 5 6 7")
            .unwrap_err()
            .contains("7 fields"));
        assert!(CronRule::parse("61 * * * *")
            .unwrap_err()
            .contains("does not parse"));
        assert!(CronRule::parse("").is_err());
    }

    #[tokio::test]
    async fn a_tick_is_skipped_while_a_pass_runs() {
        let running = Arc::new(Mutex::new(()));
        let rule = CronRule::parse("* * * * * *").unwrap();
        let mut ticks = Ticks::start(&rule, running.clone()).await.unwrap();
        let first = ticks.next().await.expect("a tick");
        // While the first pass holds its guard, later ticks find the lock taken and send
        // nothing; only after it is dropped does another arrive.
        let held = tokio::time::timeout(std::time::Duration::from_millis(2500), ticks.next()).await;
        assert!(held.is_err(), "a tick arrived while the pass ran");
        drop(first);
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(5), ticks.next())
                .await
                .is_ok()
        );
        ticks.stop().await;
    }
}
