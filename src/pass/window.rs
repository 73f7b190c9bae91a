//! How many requests may be in flight at once, and how many claims held, across a pass's
//! workers.
//!
//! One at first: a probe. Once the API answers it, as many as the measured round trips
//! need (Little's law: the rate times how long a request holds its place, with headroom),
//! at most `api.concurrency`; at the first sign of trouble (a transient failure, or an
//! answer that stops the pass), one again until the API answers well. A lookup answered
//! well (`[verify] before`: the same key, the same API) ends a probe too, not a narrowing
//! for trouble: so a pass that looks first does not wait a deletion's round trip before
//! sending the rest.
//! So a pass against a failing or refusing API sends one request at a time, as a single
//! worker would, and one against a slow API has enough in flight to keep the rate (the rate
//! limit, not this, decides how many go out each second). A worker claims only while
//! fewer claims are held than that sizing (whether or not the window is narrowed: the
//! claims of a cold pass look up while the probe is out), so rows are not leased (and
//! looked up) long before their turn. It outlives passes: a pass that follows a good one
//! starts open, sized by the round trips it saw.
//!
//! How long a request holds its place: its round trip, and up to the rate's rolling window
//! more. Under a limit of N requests in any second, requests go out in bursts a window
//! apart, and a place freed just after a burst waits for the next: at 5 a second, 4 places
//! at 0.3 s a request reached 96% of the rate, and 15 places at 2 s, 91%; sized for the
//! round trip and the window, 98-99% (BENCHMARKS.md, "In flight as the round trips
//! need").

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::rate::WINDOW;

/// Places beyond the rate times a round trip, as a share of it: round trips vary, and a
/// place is held through the wait for the rate's turn and the request's records too.
const HEADROOM: f64 = 1.25;
/// And two more: the request being recorded and the next one waiting for its turn.
const SPARE: usize = 2;
/// How much a new round trip moves the estimate (an exponentially weighted mean).
const WEIGHT: f64 = 0.2;

#[derive(Debug)]
pub struct Window {
    /// `api.concurrency`: the most requests in flight, whatever the round trips.
    max: usize,
    state: Mutex<State>,
    /// Woken when a place or a claim's room frees up, or the window opens.
    changed: Notify,
}

#[derive(Debug)]
struct State {
    /// Requests allowed in flight now: `sized`, or one (a probe, trouble).
    allowed: usize,
    /// What the round trips need: the claims held.
    sized: usize,
    in_flight: usize,
    claims: usize,
    /// Narrowed for a cold start, not for trouble.
    probing: bool,
    /// The round trip of a request answered well, as measured lately; `None` until one is
    /// (the place is then sized for the rate's window alone).
    round_trip: Option<Duration>,
    /// `round_trip` is another process's last answer's (`warm`), not a measure of ours:
    /// the first answer replaces it.
    seeded: bool,
}

/// A place in the window, given back when dropped.
pub struct Place<'a>(&'a Window);

/// Room for one claim, given back when dropped (once the claim is worked).
pub struct Room<'a>(&'a Window);

impl State {
    /// What an open window allows: Little's law (requests in flight = rate × how long
    /// each holds its place: its round trip and the rate's window), with headroom.
    fn sized(&self, rate: f64, max: usize) -> usize {
        let held = self.round_trip.unwrap_or_default() + WINDOW;
        let needed = (rate * held.as_secs_f64() * HEADROOM).ceil();
        // A NaN or a huge figure (a rate of 1000 a second and a long round trip) is `max`.
        let needed = if needed.is_finite() && needed < max as f64 {
            needed as usize
        } else {
            max
        };
        (needed + SPARE).clamp(1, max)
    }
}

impl Window {
    /// At most `max` in flight, at `rate` requests a second.
    pub fn new(max: usize, rate: f64) -> Self {
        let max = max.max(1);
        let mut state = State {
            allowed: 1,
            sized: 1,
            in_flight: 0,
            claims: 0,
            probing: true,
            round_trip: None,
            seeded: false,
        };
        state.sized = state.sized(rate, max);
        Self {
            max,
            state: Mutex::new(state),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; the counts stay right.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the count `slot` names is below its limit, and counts one more.
    async fn take(&self, slot: fn(&mut State) -> (&mut usize, usize)) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change in between is not missed.
            changed.as_mut().enable();
            {
                let mut state = self.state();
                let (count, limit) = slot(&mut state);
                if *count < limit {
                    *count += 1;
                    return;
                }
            }
            changed.await;
        }
    }

    /// Waits for a place in the window.
    pub async fn enter(&self) -> Place<'_> {
        self.take(|s| (&mut s.in_flight, s.allowed)).await;
        Place(self)
    }

    /// Waits for room to hold one more claim: as many claims as an open window's places
    /// (a claim of two batches fills two places, while another's lookup is out).
    pub async fn claim(&self) -> Room<'_> {
        self.take(|s| (&mut s.claims, s.sized)).await;
        Room(self)
    }

    /// The API answered a deletion well, in `round_trip`, with the rate at `rate` requests
    /// a second: open, sized to what keeps that rate.
    pub fn answered(&self, round_trip: Duration, rate: f64) {
        let mut state = self.state();
        state.round_trip = Some(match state.round_trip {
            Some(mean) if !state.seeded => mean.mul_f64(1.0 - WEIGHT) + round_trip.mul_f64(WEIGHT),
            _ => round_trip,
        });
        state.seeded = false;
        state.probing = false;
        self.resize(state, rate);
    }

    /// A pass starts warm: open, sized by the round trips this process saw, or else by
    /// `last`, the round trip of the last request answered well (another process's), until
    /// this process's first answer.
    pub fn warm(&self, last: Duration, rate: f64) {
        let mut state = self.state();
        if state.round_trip.is_none() {
            state.round_trip = Some(last);
            state.seeded = true;
        }
        state.probing = false;
        self.resize(state, rate);
    }

    fn open(&self, rate: f64) {
        let mut state = self.state();
        state.probing = false;
        self.resize(state, rate);
    }

    fn resize(&self, mut state: std::sync::MutexGuard<'_, State>, rate: f64) {
        let sized = state.sized(rate, self.max);
        let wider = sized > state.allowed || sized > state.sized;
        state.allowed = sized;
        state.sized = sized;
        drop(state);
        if wider {
            self.changed.notify_waiters();
        }
    }

    /// A lookup answered well: open, if only a probe narrowed the window.
    pub fn looked_up(&self, rate: f64) {
        if self.state().probing {
            self.open(rate);
        }
    }

    /// A cold start: one at a time until the API is heard answering well.
    pub fn probe(&self) {
        let mut state = self.state();
        state.allowed = 1;
        state.probing = true;
    }

    /// Trouble: one at a time until a deletion is answered well again.
    pub fn narrow(&self) {
        let mut state = self.state();
        state.allowed = 1;
        state.probing = false;
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.state().in_flight -= 1;
        self.0.changed.notify_waiters();
    }
}

impl Drop for Room<'_> {
    fn drop(&mut self) {
        self.0.state().claims -= 1;
        self.0.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether one more place can be taken within a (paused) second.
    async fn room_for_one_more(window: &Window) -> bool {
        tokio::time::timeout(Duration::from_secs(1), window.enter())
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn one_until_an_answer_then_what_the_round_trips_need_then_one_after_trouble() {
        let window = Window::new(16, 5.0);
        let first = window.enter().await;
        assert!(
            !room_for_one_more(&window).await,
            "a second place before any answer"
        );
        // 5 a second, 1 s a request and the rate's window: 10 in flight keep the rate; 13
        // with headroom, and 2 spare.
        window.answered(Duration::from_secs(1), 5.0);
        let mut places = vec![first];
        for _ in 1..15 {
            places.push(window.enter().await);
        }
        assert!(
            !room_for_one_more(&window).await,
            "above what the round trips need"
        );
        window.narrow();
        drop(places);
        let only = window.enter().await;
        assert!(
            !room_for_one_more(&window).await,
            "two places after trouble"
        );
        drop(only);
    }

    #[test]
    fn the_places_follow_the_rate_times_the_round_trip_within_the_maximum() {
        let sized = |round_trip: Option<f64>, rate: f64, max: usize| {
            let state = State {
                allowed: 1,
                sized: 1,
                in_flight: 0,
                claims: 0,
                probing: false,
                round_trip: round_trip.map(Duration::from_secs_f64),
                seeded: false,
            };
            state.sized(rate, max)
        };
        // (round trip, rate, api.concurrency) → places: a place is held for the round
        // trip and the rate's window (1.01 s); at 1 s, 5 × 2.01 × 1.25 → 13, and 2 spare.
        let table = [
            (None, 5.0, 32, 9),
            (Some(0.0), 5.0, 32, 9),
            (Some(0.3), 5.0, 32, 11),
            (Some(1.0), 5.0, 32, 15),
            (Some(2.0), 5.0, 32, 21),
            (Some(3.0), 5.0, 32, 28),
            (Some(4.0), 5.0, 32, 32),
            (Some(1.0), 5.0, 8, 8),
            (Some(0.1), 1.0, 32, 4),
            (Some(4.0), 1.0, 32, 9),
            (Some(0.002), 1000.0, 16, 16),
            (Some(30.0), 1000.0, 64, 64),
            (Some(0.3), 5.0, 1, 1),
        ];
        for (round_trip, rate, max, places) in table {
            assert_eq!(
                sized(round_trip, rate, max),
                places,
                "round trip {round_trip:?} s, {rate} a second, at most {max}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_estimate_moves_a_fifth_of_the_way_to_each_round_trip() {
        let window = Window::new(64, 10.0);
        window.answered(Duration::from_secs(1), 10.0);
        window.answered(Duration::from_secs(6), 10.0);
        // 0.8 × 1 s + 0.2 × 6 s = 2 s, and the window: 10 × 3.01 × 1.25 → 38, and 2 spare.
        assert_eq!(window.state().allowed, 40);
        // A warm pass opens to what this process measured, not to another's last answer.
        window.narrow();
        window.warm(Duration::from_secs(9), 10.0);
        assert_eq!(window.state().allowed, 40);
    }

    #[tokio::test(start_paused = true)]
    async fn a_warm_start_is_sized_by_the_last_answer_until_one_is_measured() {
        let window = Window::new(32, 5.0);
        let sizes = || {
            let state = window.state();
            (state.allowed, state.sized)
        };
        // Before any answer, sized for the rate's window alone: 5 × 1.01 × 1.25 → 7, and 2.
        assert_eq!(sizes().1, 9);
        // Another process's last answer took 2 s: 5 × 3.01 × 1.25 → 19, and 2 spare.
        window.warm(Duration::from_secs(2), 5.0);
        assert_eq!(sizes(), (21, 21));
        // This process's first answer, 1 s, replaces it (not a fifth of the way): 15.
        window.answered(Duration::from_secs(1), 5.0);
        assert_eq!(sizes(), (15, 15));
        // The next moves the estimate a fifth of the way: 0.8 × 1 + 0.2 × 6 = 2 s → 21.
        window.answered(Duration::from_secs(6), 5.0);
        assert_eq!(sizes(), (21, 21));
        // A later warm pass keeps what this process measured.
        window.warm(Duration::from_secs(30), 5.0);
        assert_eq!(sizes(), (21, 21));
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_waits_for_room_as_a_request_waits_for_a_place() {
        let window = std::sync::Arc::new(Window::new(8, 1.0));
        // 1 × 1.11 × 1.25 → 2, and 2 spare: four claims held at once, also while the
        // window is narrowed to one request (they look up meanwhile).
        window.answered(Duration::from_millis(100), 1.0);
        window.narrow();
        let mut rooms = Vec::new();
        for _ in 0..4 {
            rooms.push(window.claim().await);
        }
        let waiter = tokio::spawn({
            let window = window.clone();
            async move {
                let _room = window.claim().await;
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "a fifth claim held");
        drop(rooms);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .expect("no panic");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_ends_a_probe_but_not_trouble() {
        let window = Window::new(2, 5.0);
        for (narrowed_by_trouble, opens) in [(false, true), (true, false)] {
            window.probe();
            if narrowed_by_trouble {
                window.narrow();
            }
            let first = window.enter().await;
            window.looked_up(5.0);
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
        let window = std::sync::Arc::new(Window::new(1, 5.0));
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
