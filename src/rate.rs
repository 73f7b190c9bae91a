//! A strict rolling-window rate limit: never more than N requests in any one second.
//!
//! The account's limit is 5 requests a second and over it the API answers `0429`. A token
//! bucket (governor's GCRA) allows a burst followed by a steady rate, which can put more
//! than N requests in one rolling second; this keeps the times of the last N requests
//! instead and waits until the oldest is more than a second old.
//!
//! A request's time is the moment it goes out (`go`), not the moment it was let
//! through: the pass records the request in the database in between, which can take a
//! while, and counting from the earlier moment would let the next one out too soon. For
//! the same reason a paced request (below the limit) goes out no sooner than the pace
//! after the last one really went out.
//!
//! Below the limit, and for the first two seconds of a cold pass (the API not heard from
//! lately), requests are spaced evenly (a burst into a squeezed quota is all answered
//! `0429`); at the limit, when warm, the window alone decides. When the API answers "too many requests" anyway (someone else
//! uses the account's quota), the pace drops to 90% of the rate the API accepted over the
//! last two seconds, the pace that was too much is remembered, and climbing back (a tenth
//! of a request a second every three good answers) stops at 90% of it for 60 s; past that
//! the pace grows by a quarter every three answers, to find out whether the quota is back.
//! A squeezed quota thus costs the one `0429` that reveals it, then one a minute or so
//! instead of one request in five.
//!
//! Every process on one database shares the account's rate: each counts the requests the
//! others recorded (`count_others`, fed by the pass from `deletion_batches`) and spaces
//! its own from the last one anyone sent.
//!
//! A process restarted within a second of its predecessor's last requests (a crash, a
//! `systemctl restart`) starts from the sends its predecessor recorded, so that the two
//! together stay within the limit.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The rolling window, plus a little slack for the jitter between the moment a request
/// leaves here and the moment the API counts it.
pub(crate) const WINDOW: Duration = Duration::from_millis(1010);

/// A request recorded by another process (or this one's predecessor): its record's id,
/// and how long ago it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub ago: Duration,
}

/// Recorded sends are taken as this much later than their record says: the record is
/// written just before the request goes out, and its commit can take a while on a loaded
/// machine (the soak once saw a restarted daemon exceed the rate with 100 ms).
const RECORD_SLACK: Duration = Duration::from_millis(250);

/// A turn is given this long before the window frees: the pass records the request in
/// between, and `go` then waits for the window itself. Without it every cycle of N
/// requests grew by one commit (about half a point of the rate at the limit).
const LEAD: Duration = Duration::from_millis(20);

/// A cold start (`cold_start`) spaces requests evenly for this long, even at the limit:
/// the quota is unknown then.
const COLD_START: Duration = Duration::from_secs(2);

/// The slot key of requests other processes sent.
const OTHERS: u64 = u64::MAX;
/// How many of their record ids are remembered, so that each is counted once.
const COUNTED: usize = 256;

/// The slowest pace: one request every five seconds.
const MIN_RATE: f64 = 0.2;
/// Added to the pace with each answer that is not "too many requests".
const RATE_STEP: f64 = 0.1;
/// "Too many requests" sets the pace to this share of the rate the API accepted over the
/// last `ESTIMATE` (what the quota leaves us), and never above this share of the old pace.
const BELOW_ACCEPTED: f64 = 0.9;
const ESTIMATE: Duration = Duration::from_secs(2);
/// Paced requests are spaced this much more than the pace says: the API counts arrivals,
/// which jitter.
const PACE_SLACK: Duration = Duration::from_millis(10);
/// After "too many requests" at some pace, climbing back stops at this share of it...
const BELOW_CEILING: f64 = 0.9;
/// ...until this long has passed without another: then the pace may probe above it.
const CAUTION: Duration = Duration::from_secs(60);
/// Answers in a row, none "too many", before the pace climbs another step.
const STREAK: u32 = 3;
/// Past the caution, each step multiplies the pace by this.
const RECOVERY: f64 = 1.25;

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
    /// The last slow-down: a burst of "too many" answers slows the pace once.
    slowed: Option<Instant>,
    /// The pace that was too much, and when the API said so.
    ceiling: Option<(f64, Instant)>,
    /// When the last request was let through (or another process sent one): paced
    /// requests are spaced from it (the rolling window forgets it after a second, and a
    /// pace below one a second spaces further).
    last_sent: Option<Instant>,
    /// When this process's last request really went out (`go`): below the limit, a
    /// request also goes no sooner than the pace after it. Spaced only from the leaves,
    /// a request whose recording took a second (a loaded database) went out right before
    /// the next one, and the API counted both in one second.
    last_went: Option<Instant>,
    /// Records of other processes already counted (their ids, the newest `COUNTED`).
    counted: std::collections::VecDeque<i64>,
    /// Until when requests are spaced evenly at the limit (a cold start).
    spaced_until: Option<Instant>,
    /// When answers other than "too many" came, over the last `ESTIMATE`.
    accepted: std::collections::VecDeque<Instant>,
    /// Answers other than "too many" since the pace last changed.
    streak: u32,
}

/// One request's place in the window, from `acquire` until it goes out (`go`).
#[derive(Debug)]
pub struct Slot(u64);

impl Slot {
    /// The place, for saying when the request really left (`RateLimit::left`).
    pub fn place(&self) -> u64 {
        self.0
    }
}

impl RateLimit {
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1) as usize;
        Self {
            per_second,
            inner: Mutex::new(Inner {
                sent: Vec::with_capacity(per_second),
                rate: per_second as f64,
                slowed: None,
                ceiling: None,
                last_sent: None,
                last_went: None,
                counted: Default::default(),
                spaced_until: None,
                accepted: Default::default(),
                streak: 0,
            }),
            next_slot: Default::default(),
            turn: Default::default(),
        }
    }

    /// The pace allowed now, requests a second (to a thousandth).
    pub fn rate(&self) -> f64 {
        (self.inner().rate * 1000.0).round() / 1000.0
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned list of times is still right.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The API said "too many requests": the pace drops to 90% of what the API accepted
    /// over the last `ESTIMATE` (once per window at most).
    /// Returns the new pace, in requests a second.
    pub fn slow_down(&self) -> f64 {
        let now = Instant::now();
        let mut inner = self.inner();
        if inner.slowed.is_none_or(|at| now >= at + WINDOW) {
            inner.accepted.retain(|at| *at + ESTIMATE > now);
            let accepted = inner.accepted.len() as f64 / ESTIMATE.as_secs_f64();
            inner.ceiling = Some((inner.rate, now));
            inner.rate = (accepted * BELOW_ACCEPTED)
                .min(inner.rate * BELOW_ACCEPTED)
                .max(MIN_RATE);
            inner.slowed = Some(now);
        }
        inner.streak = 0;
        inner.rate
    }

    /// The API answered without "too many requests": a little faster, up to the limit,
    /// but short of the pace it last found too much until `CAUTION` has passed. Without
    /// that, the pace climbed straight back to where the quota was exceeded, and one
    /// request in five was answered `0429` for as long as the quota stayed squeezed.
    pub fn speed_up(&self) {
        let now = Instant::now();
        let mut inner = self.inner();
        inner.accepted.retain(|at| *at + ESTIMATE > now);
        inner.accepted.push_back(now);
        // Cautious below the pace found too much; past the caution, the quota may have
        // come back: climb by a quarter at a time, and find out.
        let (limit, next) = match inner.ceiling {
            Some((too_much, at)) if now < at + CAUTION => {
                (too_much * BELOW_CEILING, inner.rate + RATE_STEP)
            }
            _ => (
                self.per_second as f64,
                (inner.rate + RATE_STEP).max(inner.rate * RECOVERY),
            ),
        };
        inner.streak += 1;
        if inner.rate < limit && inner.streak >= STREAK {
            inner.rate = next.min(limit);
            inner.streak = 0;
        }
    }

    /// The API has not been heard from lately (a pass starts cold): the next requests are
    /// spaced evenly for `COLD_START`, so that an unknown quota meets one at a time.
    pub fn cold_start(&self) {
        self.inner().spaced_until = Some(Instant::now() + COLD_START);
    }

    /// A round trip to the API, measured elsewhere (a lookup). A cold start spaces the
    /// first requests so that the first answer can slow the rest; when the API answers
    /// no sooner than the last of a window's spaced requests goes out, no answer can, and
    /// spacing would only spread them (the rolling window then keeps that spread): the
    /// even start ends.
    pub fn round_trip(&self, took: Duration) {
        let spaced_window = WINDOW / self.per_second as u32 * (self.per_second as u32 - 1);
        if took >= spaced_window {
            self.inner().spaced_until = None;
        }
    }

    /// Counts requests other processes recorded (another daemon on this database, or
    /// this one's predecessor) as if this limiter had let them through, each once.
    /// Returns whether any was new.
    pub fn count_others(&self, recorded: Vec<Recorded>) -> bool {
        let now = Instant::now();
        let mut inner = self.inner();
        let mut new = false;
        for r in recorded {
            if r.ago >= WINDOW + RECORD_SLACK || inner.counted.contains(&r.id) {
                continue;
            }
            let at = now
                .checked_sub(r.ago.saturating_sub(RECORD_SLACK))
                .unwrap_or(now);
            inner.counted.push_back(r.id);
            if inner.counted.len() > COUNTED {
                inner.counted.pop_front();
            }
            inner.sent.push((OTHERS, at));
            inner.last_sent = inner.last_sent.max(Some(at));
            new = true;
        }
        new
    }

    /// Waits until one more request is about to fit in the window (`LEAD` early at the
    /// limit) and holds its place, counted as sent now until `go` says when it really
    /// goes out.
    pub async fn acquire(&self) -> Slot {
        let _turn = self.turn.lock().await;
        loop {
            let wake = {
                let now = Instant::now();
                let mut inner = self.inner();
                inner.sent.retain(|e| e.1 + WINDOW > now);
                inner.sent.sort_by_key(|e| e.1);
                // Full: wait until all but `per_second - 1` of them have left the window.
                let full = inner
                    .sent
                    .len()
                    .checked_sub(self.per_second)
                    .map(|oldest| inner.sent[oldest].1 + WINDOW);
                // At a cold start, the first seconds are spaced evenly: a burst at the start
                // of a pass met a squeezed quota with several requests at once, all
                // answered `0429`. Then, at the limit, the window alone (requests may go
                // together), and below it the current pace.
                let spacing = if inner.rate < self.per_second as f64 {
                    Some(Duration::from_secs_f64(1.0 / inner.rate) + PACE_SLACK)
                } else if inner.spaced_until.is_some_and(|until| now < until) {
                    Some(WINDOW / self.per_second as u32)
                } else {
                    None
                };
                let paced = inner.last_sent.zip(spacing).map(|(last, gap)| last + gap);
                match full.map(|at| at - LEAD).into_iter().chain(paced).max() {
                    Some(wake) if wake > now => wake,
                    _ => {
                        let slot = self
                            .next_slot
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        inner.sent.push((slot, now));
                        inner.last_sent = Some(now);
                        return Slot(slot);
                    }
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Waits until the request holding `slot` fits in the window by the times the others
    /// really went out, and counts it as going out then. Never more than `per_second`
    /// sends in any `WINDOW`, whatever `acquire` allowed ahead of time.
    pub async fn go(&self, slot: Slot) {
        loop {
            let wake = {
                let now = Instant::now();
                let mut inner = self.inner();
                let mut others: Vec<Instant> = inner
                    .sent
                    .iter()
                    .filter(|e| e.0 != slot.0 && e.1 + WINDOW > now)
                    .map(|e| e.1)
                    .collect();
                others.sort();
                let full = others
                    .len()
                    .checked_sub(self.per_second)
                    .map(|oldest| others[oldest] + WINDOW);
                // Below the limit, no sooner than the pace after the last real send (at
                // no cost when recording takes the same time each request: the leaves
                // are spaced by the pace already).
                let paced = (inner.rate < self.per_second as f64)
                    .then(|| Duration::from_secs_f64(1.0 / inner.rate) + PACE_SLACK)
                    .zip(inner.last_went)
                    .map(|(gap, last)| last + gap);
                match full.into_iter().chain(paced).max() {
                    Some(wake) if wake > now => wake,
                    _ => {
                        // Recording may have outlasted the window, which then forgot it.
                        match inner.sent.iter_mut().find(|e| e.0 == slot.0) {
                            Some(entry) => entry.1 = now,
                            None => inner.sent.push((slot.0, now)),
                        }
                        inner.last_went = Some(now);
                        // The leaves stay spaced from when each was given: counted from
                        // the send, the time spent recording each request would add to
                        // every interval, where the window (and, paced, the check above)
                        // keeps the sends in bounds.
                        return;
                    }
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// The request in `place` really left at `at`: its connection read its body then
    /// (`api::Leaving`), later than `go` when the connection had to be made, or the
    /// process woken on a busy host, first. Counted from then (never earlier): the API
    /// counts arrivals, and the first request after a lull, counted from `go`, arrived
    /// late enough that the sixth after it made six in the API's second.
    pub fn left(&self, place: u64, at: Instant) {
        let mut inner = self.inner();
        match inner.sent.iter_mut().find(|e| e.0 == place) {
            Some(entry) => entry.1 = entry.1.max(at),
            // Left more than a window after `go`: forgotten since, counted again.
            None => inner.sent.push((place, at)),
        }
        inner.last_went = inner.last_went.max(Some(at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request through the limiter: its turn, then out.
    async fn send(limit: &RateLimit) {
        let slot = limit.acquire().await;
        limit.go(slot).await;
    }

    #[tokio::test(start_paused = true)]
    async fn paced_sends_keep_the_pace_when_one_was_slow_to_go_out() {
        let limit = RateLimit::new(5);
        // A squeezed quota found: about 1 a second.
        limit.inner().accepted.push_back(Instant::now());
        limit.inner().accepted.push_back(Instant::now());
        let pace = limit.slow_down();
        assert!(pace < 1.0, "{pace}");
        let gap = Duration::from_secs_f64(1.0 / pace);
        // The first request's recording takes most of a gap; the next one's takes nothing.
        let first = limit.acquire().await;
        let second_leave = {
            tokio::time::sleep(gap - Duration::from_millis(100)).await;
            limit.go(first).await;
            Instant::now()
        };
        let second = limit.acquire().await;
        limit.go(second).await;
        let apart = Instant::now() - second_leave;
        assert!(
            apart >= gap,
            "sent {apart:?} apart at a pace of one every {gap:?}"
        );
    }

    /// A request that left 300 ms after `go` (its connection made first) holds its place
    /// in the window until a second after it left, not after `go`.
    #[tokio::test(start_paused = true)]
    async fn a_request_is_counted_from_when_it_left() {
        let limit = RateLimit::new(1);
        let first = limit.acquire().await;
        let place = first.place();
        limit.go(first).await;
        let went = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        limit.left(place, Instant::now());
        send(&limit).await;
        let apart = Instant::now() - went;
        assert!(
            apart >= Duration::from_millis(300) + WINDOW,
            "the next went {apart:?} after the first's go"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_n_in_any_rolling_second() {
        let limit = RateLimit::new(5);
        limit.cold_start();
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..23 {
            send(&limit).await;
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
        // A cold start: evenly spaced, a fifth of a window apart (and the window keeps
        // them so once the start is over), never slower.
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], WINDOW / 5, "{times:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cold_start_is_spaced_only_while_an_answer_could_slow_it() {
        let ms = Duration::from_millis;
        // The last of a window's spaced requests goes out 4 × 202 ms after the first.
        for (round_trip, spaced) in [(None, true), (Some(ms(300)), true), (Some(ms(808)), false)] {
            let limit = RateLimit::new(5);
            limit.cold_start();
            if let Some(took) = round_trip {
                limit.round_trip(took);
            }
            let before = Instant::now();
            for _ in 0..5 {
                send(&limit).await;
            }
            let took = Instant::now() - before;
            assert_eq!(took > Duration::ZERO, spaced, "{round_trip:?}: {took:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn warm_requests_may_go_together_within_the_window() {
        let limit = RateLimit::new(5);
        let before = Instant::now();
        for _ in 0..5 {
            send(&limit).await;
        }
        assert_eq!(Instant::now(), before, "five at once");
        send(&limit).await;
        assert_eq!(
            Instant::now() - before,
            WINDOW,
            "the sixth waits for the window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_waits_for_its_predecessors_sends() {
        let limit = RateLimit::new(2);
        // Sent 300 ms and 100 ms ago by the process before; one from long ago is ignored.
        let ms = Duration::from_millis;
        let recorded = |id, ago| Recorded { id, ago };
        limit.count_others(vec![
            recorded(3, ms(100) + RECORD_SLACK),
            recorded(1, ms(5000)),
            recorded(2, ms(300) + RECORD_SLACK),
        ]);
        // Seen again: counted once.
        limit.count_others(vec![recorded(3, ms(100) + RECORD_SLACK)]);
        let before = Instant::now();
        send(&limit).await;
        // The window holds two: the first waits for the older to leave it.
        assert_eq!(Instant::now() - before, WINDOW - ms(300));
        send(&limit).await;
        // The second, when the newer one leaves it.
        assert_eq!(Instant::now() - before, WINDOW - ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn two_processes_together_stay_within_the_limit() {
        let limit = RateLimit::new(5);
        let ms = Duration::from_millis;
        // Another daemon sent five in the last 900 ms.
        limit.count_others(
            (0..5)
                .map(|i| Recorded {
                    id: i,
                    ago: ms(100 + 200 * i as u64) + RECORD_SLACK,
                })
                .collect(),
        );
        let before = Instant::now();
        send(&limit).await;
        // Not before the oldest of its five leaves the window.
        assert_eq!(Instant::now() - before, WINDOW - ms(900));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_counts_from_when_a_request_went_out() {
        let limit = RateLimit::new(1);
        let slot = limit.acquire().await;
        // Recording it took 200 ms before it went out.
        tokio::time::advance(Duration::from_millis(200)).await;
        limit.go(slot).await;
        let before = Instant::now();
        send(&limit).await;
        assert_eq!(Instant::now() - before, WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_comes_ahead_of_the_window_and_goes_out_with_it() {
        let limit = RateLimit::new(1);
        send(&limit).await;
        let before = Instant::now();
        let slot = limit.acquire().await;
        assert_eq!(Instant::now() - before, WINDOW - LEAD, "time to record it");
        limit.go(slot).await;
        assert_eq!(Instant::now() - before, WINDOW, "out when the window frees");
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_recorded_for_longer_than_the_window_still_counts() {
        let limit = RateLimit::new(1);
        let slot = limit.acquire().await;
        tokio::time::advance(Duration::from_secs(3)).await;
        // Another turn meanwhile forgets the first one's place in the window.
        let other = limit.acquire().await;
        limit.go(slot).await;
        let before = Instant::now();
        limit.go(other).await;
        assert_eq!(Instant::now() - before, WINDOW, "the late one counted");
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_sets_the_pace_below_what_was_accepted_and_climbs_back_with_caution() {
        let limit = RateLimit::new(5);
        // Two answers a second accepted, for two seconds.
        for _ in 0..4 {
            tokio::time::advance(Duration::from_millis(500)).await;
            limit.speed_up();
        }
        assert_eq!(limit.slow_down(), 1.8, "90% of the 2 a second accepted");
        assert_eq!(limit.slow_down(), 1.8, "once per burst of answers");
        // Spaced evenly at that pace.
        send(&limit).await;
        let before = Instant::now();
        send(&limit).await;
        let spacing = Duration::from_secs_f64(1.0 / 1.8) + PACE_SLACK;
        let waited = Instant::now() - before;
        assert!(
            waited.abs_diff(spacing) < Duration::from_millis(1),
            "{waited:?}"
        );
        // A step every three answers, up to 90% of the pace found too much (5 a second)
        // while the caution lasts.
        limit.speed_up();
        limit.speed_up();
        assert_eq!(limit.rate(), 1.8);
        limit.speed_up();
        assert_eq!(limit.rate(), 1.9);
        for _ in 0..300 {
            limit.speed_up();
        }
        assert_eq!(limit.rate(), 4.5);
        tokio::time::advance(CAUTION).await;
        // Past the caution, a quarter more at each step: 4.5 → 5 at once.
        for _ in 0..3 {
            limit.speed_up();
        }
        assert_eq!(limit.rate(), 5.0);
        // Nothing accepted lately: the slowest pace.
        tokio::time::advance(ESTIMATE).await;
        assert_eq!(limit.slow_down(), MIN_RATE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_period_frees_the_window() {
        let limit = RateLimit::new(2);
        send(&limit).await;
        send(&limit).await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let before = Instant::now();
        send(&limit).await;
        assert_eq!(Instant::now(), before);
    }
}
