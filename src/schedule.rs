//! When passes run: the cron rule, and the scheduler that turns it into ticks.
//!
//! The scheduler only decides *when*; the daemon's loop does the work. Three traits of
//! tokio-cron-scheduler are handled here:
//! - it needs a seconds field: a standard 5-field crontab line gets `0` seconds in front;
//! - it starts a job again while the previous run is still going: each tick takes a lock
//!   that the daemon holds for the whole pass, and a tick that finds it taken is skipped
//!   and logged;
//! - its `_tz` jobs fix the zone's offset when the job is created, so a daily 09:00 would
//!   drift by an hour at the next daylight-saving change: instead each tick is a one-shot
//!   job for the next time the rule matches, computed in `schedule.timezone` after the
//!   previous tick.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::Deserialize;
use tokio::sync::{mpsc, Mutex, OwnedMutexGuard};
use tokio::task::JoinHandle;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{info, warn};

/// The default: every five minutes.
pub const DEFAULT_CRON: &str = "*/5 * * * *";

/// A cron rule that parses, in the 5-field crontab form or the 6-field form with seconds.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct CronRule {
    written: String,
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
        // Seconds first; and the two day fields combine as in crontab (Vixie cron,
        // cronie): when both are restricted, a day matching either fires (`0 0 13 * 5` is
        // the 13th and every Friday, not only Friday the 13th); when either begins with `*`
        // (`*`, `*/2`), both must match (`0 0 */2 * 1`: odd-numbered Mondays). croner
        // counts only a bare `*` as unrestricted, so the choice is made here.
        let fields: Vec<&str> = with_seconds.split_whitespace().collect();
        let starred = |field: Option<&&str>| field.is_some_and(|f| f.starts_with(['*', '?']));
        let both_must_match = starred(fields.get(3)) || starred(fields.get(5));
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(both_must_match)
            .build()
            .parse(&with_seconds)
            .map_err(|e| format!("cron rule {written:?} does not parse: {e}"))?;
        Ok(Self {
            written: written.to_owned(),
            cron,
        })
    }

    pub fn as_written(&self) -> &str {
        &self.written
    }

    /// The first time strictly after `after` that the rule matches on the clocks of `zone`,
    /// to the second. Computed afresh for every tick, so ticks follow daylight-saving
    /// changes (tokio-cron-scheduler's `_tz` jobs fix the offset once, at creation).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = after.trunc_subsecs(0).with_timezone(&zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }
}

/// The next `n` times the rule matches after `after`, on the clocks of `zone`: what
/// `check --next N` prints.
pub fn next_times(rule: &CronRule, after: DateTime<Utc>, zone: Tz, n: usize) -> Vec<DateTime<Tz>> {
    std::iter::successors(rule.next_after(after, zone), |t| rule.next_after(*t, zone))
        .take(n)
        .map(|t| t.with_timezone(&zone))
        .collect()
}

impl TryFrom<String> for CronRule {
    type Error = String;

    fn try_from(written: String) -> Result<Self, String> {
        Self::parse(&written)
    }
}

impl Default for CronRule {
    fn default() -> Self {
        // A constant, never input; the config's defaults test builds it.
        Self::parse(DEFAULT_CRON).expect("the default cron rule parses")
    }
}

/// A tick: the time the rule matched, and the lock the daemon holds for the length of
/// the pass (a tick that cannot take it is skipped).
pub struct Tick {
    pub at: DateTime<Utc>,
    pub running: OwnedMutexGuard<()>,
}

/// A running scheduler and the ticks it produces.
///
/// Each tick is a one-shot job, created for the next time the rule matches on the zone's
/// clocks: the next time is computed anew after every tick, never fixed at start.
pub struct Ticks {
    scheduler: JobScheduler,
    receiver: mpsc::Receiver<Tick>,
    ticker: JoinHandle<()>,
}

impl Ticks {
    /// Arms the rule. Each tick arrives holding `running`'s lock.
    pub async fn start(
        rule: CronRule,
        zone: Tz,
        running: Arc<Mutex<()>>,
    ) -> Result<Self, JobSchedulerError> {
        Self::start_for(rule, zone, running, None).await
    }

    /// The same for something other than the passes (`who`, e.g. a lifecycle rule's
    /// run): a tick skipped while it still runs is expected there, and said at info level.
    pub async fn start_for(
        rule: CronRule,
        zone: Tz,
        running: Arc<Mutex<()>>,
        who: Option<String>,
    ) -> Result<Self, JobSchedulerError> {
        let (sender, receiver) = mpsc::channel(1);
        let scheduler = JobScheduler::new().await?;
        scheduler.start().await?;
        let ticker = tokio::spawn(tick(scheduler.clone(), rule, zone, running, sender, who));
        Ok(Self {
            scheduler,
            receiver,
            ticker,
        })
    }

    /// The next tick; `None` once the scheduler is gone.
    pub async fn next(&mut self) -> Option<Tick> {
        self.receiver.recv().await
    }

    pub async fn stop(mut self) {
        self.ticker.abort();
        if let Err(e) = self.scheduler.shutdown().await {
            info!("scheduler shutdown: {e}");
        }
    }
}

/// Schedules one job at a time, for the rule's next time; passes each tick on to the
/// daemon, or skips it while a pass still runs.
async fn tick(
    scheduler: JobScheduler,
    rule: CronRule,
    zone: Tz,
    running: Arc<Mutex<()>>,
    ticks: mpsc::Sender<Tick>,
    who: Option<String>,
) {
    let (fired, mut on_fire) = mpsc::channel::<()>(1);
    loop {
        let now = Utc::now();
        let Some(next) = rule.next_after(now, zone) else {
            warn!(
                "the cron rule {:?} matches no future time: no more ticks",
                rule.written
            );
            return;
        };
        let delay = (next - now).to_std().unwrap_or_default();
        let fired = fired.clone();
        let job = Job::new_one_shot_async(delay, move |_, _| {
            let fired = fired.clone();
            Box::pin(async move {
                // Fails only when the ticker is gone (shutdown).
                let _ = fired.send(()).await;
            })
        });
        let added = match job {
            Ok(job) => scheduler.add(job).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = added {
            warn!("cannot schedule the next tick ({e}); no more ticks");
            return;
        }
        if on_fire.recv().await.is_none() {
            return;
        }
        // tokio-cron-scheduler counts in whole seconds and polls twice a second: a job
        // can fire up to half a second early. Without this wait the next time, computed
        // from a clock still short of this one, would be this same time again.
        if let Ok(early) = (next - Utc::now()).to_std() {
            tokio::time::sleep(early).await;
        }
        match running.clone().try_lock_owned() {
            Ok(running) => {
                if ticks.send(Tick { at: next, running }).await.is_err() {
                    return;
                }
            }
            Err(_) => match &who {
                None => warn!("tick skipped: the previous pass is still running"),
                Some(who) => info!("tick skipped: {who} is still running"),
            },
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

    impl CronRule {
        fn next_after_utc(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
            self.next_after(after, Tz::UTC)
        }
    }

    fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Berlin
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn ticks_follow_daylight_saving_changes() {
        let zone = chrono_tz::Europe::Berlin;
        let nine = CronRule::parse("0 9 * * *").unwrap();
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST. 09:00 stays 09:00 local,
        // which is 08:00 UTC before and 07:00 UTC after.
        let before = nine.next_after(berlin(2026, 3, 28, 0, 0), zone).unwrap();
        let after = nine.next_after(before, zone).unwrap();
        assert_eq!(before, Utc.with_ymd_and_hms(2026, 3, 28, 8, 0, 0).unwrap());
        assert_eq!(after, Utc.with_ymd_and_hms(2026, 3, 29, 7, 0, 0).unwrap());
        // 2026-10-25: back from CEST to CET.
        let autumn = nine.next_after(berlin(2026, 10, 25, 0, 0), zone).unwrap();
        assert_eq!(autumn, Utc.with_ymd_and_hms(2026, 10, 25, 8, 0, 0).unwrap());
        let next = nine.next_after(Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap(), zone);
        assert_eq!(
            next,
            Some(Utc.with_ymd_and_hms(2026, 10, 25, 8, 0, 0).unwrap())
        );
    }

    #[test]
    fn a_local_time_skipped_or_repeated_by_dst_is_handled() {
        let zone = chrono_tz::Europe::Berlin;
        let half_past_two = CronRule::parse("30 2 * * *").unwrap();
        // 02:30 does not exist on 2026-03-29: the pass runs once, when the clocks reach
        // 03:00 CEST (01:00 UTC), as cron does.
        let spring = half_past_two.next_after(berlin(2026, 3, 29, 0, 0), zone);
        assert_eq!(
            spring,
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap())
        );
        // 02:30 happens twice on 2026-10-25: the pass runs at the first only.
        let first = half_past_two
            .next_after(berlin(2026, 10, 25, 0, 0), zone)
            .unwrap();
        assert_eq!(first, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
        let second = half_past_two.next_after(first, zone).unwrap();
        assert_eq!(
            second,
            Utc.with_ymd_and_hms(2026, 10, 26, 1, 30, 0).unwrap()
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_mean_either_as_in_crontab() {
        // 2026-11-13 is a Friday; 2026-11-20 a Friday; 2026-12-13 a Sunday.
        let rule = CronRule::parse("0 0 13 * 5").unwrap();
        let times: Vec<_> = next_times(&rule, at(12, 0, 0), Tz::UTC, 4)
            .iter()
            .map(|t| t.format("%Y-%m-%d %a").to_string())
            .collect();
        assert_eq!(
            times,
            [
                "2026-12-04 Fri",
                "2026-12-11 Fri",
                "2026-12-13 Sun",
                "2026-12-18 Fri"
            ]
        );
        // A day field that begins with `*` is unrestricted in crontab: both must match.
        let odd_mondays = CronRule::parse("0 0 */2 * 1").unwrap();
        for t in next_times(&odd_mondays, at(12, 0, 0), Tz::UTC, 6) {
            let day: u32 = t.format("%d").to_string().parse().unwrap();
            assert_eq!(t.format("%a").to_string(), "Mon", "{t}");
            assert_eq!(day % 2, 1, "{t}");
        }
        // One restricted day field alone restricts as before.
        let fridays = CronRule::parse("0 0 * * 5").unwrap();
        assert!(next_times(&fridays, at(12, 0, 0), Tz::UTC, 5)
            .iter()
            .all(|t| t.format("%a").to_string() == "Fri"));
    }

    #[test]
    fn the_next_times_cross_daylight_saving_changes_both_ways() {
        let zone = chrono_tz::Europe::Berlin;
        let rule = CronRule::parse("30 2 * * *").unwrap();
        let spring: Vec<_> = next_times(&rule, berlin(2026, 3, 27, 12, 0), zone, 3)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        // 02:30 does not exist on 2026-03-29: it runs when the clocks jump to 03:00.
        assert_eq!(
            spring,
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00"
            ]
        );
        let autumn: Vec<_> = next_times(&rule, berlin(2026, 10, 24, 12, 0), zone, 3)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        // 02:30 happens twice on 2026-10-25: once, at the first.
        assert_eq!(
            autumn,
            [
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00"
            ]
        );
    }

    #[test]
    fn five_fields_run_at_second_zero() {
        let rule = CronRule::parse("*/5 * * * *").unwrap();
        assert_eq!(rule.next_after_utc(at(10, 2, 30)), Some(at(10, 5, 0)));
        assert_eq!(rule.next_after_utc(at(10, 5, 0)), Some(at(10, 10, 0)));
        let just_after = at(10, 5, 0) + chrono::Duration::milliseconds(73);
        assert_eq!(rule.next_after_utc(just_after), Some(at(10, 10, 0)));
    }

    #[test]
    fn six_fields_take_seconds_first() {
        let rule = CronRule::parse("*/10 * * * * *").unwrap();
        assert_eq!(rule.next_after_utc(at(10, 2, 31)), Some(at(10, 2, 40)));
        let nightly = CronRule::parse("30 0 3 * * *").unwrap();
        assert_eq!(
            nightly.next_after_utc(at(10, 0, 0)),
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
    async fn ticks_never_arrive_before_their_time() {
        let rule = CronRule::parse("* * * * * *").unwrap();
        let mut ticks = Ticks::start(rule, Tz::UTC, Arc::new(Mutex::new(())))
            .await
            .unwrap();
        let mut last = None;
        for _ in 0..3 {
            let tick = ticks.next().await.expect("a tick");
            assert!(Utc::now() >= tick.at, "a tick for {} came early", tick.at);
            assert!(last < Some(tick.at), "the time {} ticked twice", tick.at);
            last = Some(tick.at);
        }
        ticks.stop().await;
    }

    #[tokio::test]
    async fn a_tick_is_skipped_while_a_pass_runs() {
        let running = Arc::new(Mutex::new(()));
        let rule = CronRule::parse("* * * * * *").unwrap();
        let mut ticks = Ticks::start(rule, Tz::UTC, running.clone()).await.unwrap();
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

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

            /// A cron rule parses or is refused with a reason, and one that parses gives a
            /// next time after the last, or none.
            #[test]
            fn any_rule(fields in prop::collection::vec("[0-9*/,\\-LW#?A-Z]{1,6}", 0..8)) {
                if let Ok(rule) = CronRule::parse(&fields.join(" ")) {
                    let now = Utc::now();
                    if let Some(next) = rule.next_after(now, Tz::Europe__Berlin) {
                        prop_assert!(next > now);
                    }
                }
            }
        }
    }
}
