//! The pass driven in-process: a scripted API through [`DeleteApi`], a real SQLite queue in
//! a temporary directory. No HTTP, no rate limit, backoffs of a millisecond: each test
//! says what the API answers and checks what was sent and what the rows became.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::api::Verdict;

/// Answers from a script, then `otherwise`; refuses any request holding `refused`;
/// remembers every request.
struct Scripted {
    script: Mutex<VecDeque<Verdict>>,
    otherwise: Verdict,
    refused: Option<String>,
    sent: Mutex<Vec<Vec<String>>>,
    /// Ids the lookups do not list.
    missing: Mutex<HashSet<String>>,
    /// Lookups never answer (a pace slowed to a crawl, a hung call).
    stalled: bool,
    /// Lookups refuse the key, as the deletions do.
    key_refused: bool,
    /// The round trip every answer says it took (none is waited for).
    round_trip: Duration,
    /// Deletions held until this many are in flight at once (or a while has passed).
    gate: Option<Gate>,
}

/// Holds deletions after the first until `at` are in flight at once and a second more has
/// passed (for one more to arrive, if the pass would send it), or a minute without, then
/// lets every one through; counts the most in flight at once, and the most claims held in
/// the queue (`queue`) while one was.
#[derive(Default)]
struct Gate {
    at: usize,
    queue: Option<sqlx::SqlitePool>,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    most_claims: AtomicUsize,
    open: AtomicBool,
    opened: tokio::sync::Notify,
}

impl Gate {
    async fn pass(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        if let Some(queue) = &self.queue {
            let claims: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT claimed_by) FROM deletion_queue WHERE status = 'in_flight'",
            )
            .fetch_one(queue)
            .await
            .unwrap();
            self.most_claims
                .fetch_max(usize::try_from(claims).unwrap(), Ordering::SeqCst);
        }
        let first = self.calls.fetch_add(1, Ordering::SeqCst) == 0;
        let opened = self.opened.notified();
        tokio::pin!(opened);
        opened.as_mut().enable();
        if !first && !self.open.load(Ordering::SeqCst) {
            if now >= self.at {
                tokio::time::sleep(Duration::from_secs(1)).await;
            } else {
                let _ = tokio::time::timeout(Duration::from_secs(60), opened).await;
            }
            self.open.store(true, Ordering::SeqCst);
            self.opened.notify_waiters();
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Verdict>, otherwise: Verdict) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            otherwise,
            refused: None,
            sent: Mutex::default(),
            missing: Mutex::default(),
            stalled: false,
            key_refused: false,
            round_trip: Duration::ZERO,
            gate: None,
        }
    }

    fn refusing(id: &str) -> Self {
        Self {
            refused: Some(id.to_owned()),
            ..Self::new([], Verdict::Deleted)
        }
    }

    fn sent(&self) -> Vec<Vec<String>> {
        self.sent.lock().unwrap().clone()
    }
}

impl DeleteApi for Scripted {
    type Turn = ();

    fn can_address(&self, _: &Namespace) -> bool {
        true
    }

    async fn wait_turn(&self) {}

    async fn delete(&self, _: (), _: &ApiKey, _: &Namespace, ids: &[VideoNo]) -> Answer {
        if let Some(gate) = &self.gate {
            gate.pass().await;
        }
        let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        let verdict = if self.refused.as_ref().is_some_and(|r| ids.contains(r)) {
            Verdict::Rejected
        } else {
            self.script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| self.otherwise.clone())
        };
        self.sent.lock().unwrap().push(ids);
        Answer {
            reason: format!("scripted {}", verdict.outcome()),
            verdict,
            http_status: Some(200),
            code: None,
            msg: None,
            duration: self.round_trip,
        }
    }

    fn cold_start(&self) {}

    fn count_others(&self, _: Vec<crate::rate::Recorded>) -> bool {
        false
    }

    fn rate(&self) -> f64 {
        5.0
    }
}

/// Every asked id is listed, in the `default` namespace, unless the test says otherwise.
impl LookupApi for Scripted {
    fn cold_start_lookups(&self) {}

    /// A batch a lookup, a claim a batch: the pass's steps one by one, as the tests count
    /// them (tests/it covers claims of two batches).
    fn ids_per_lookup(&self) -> usize {
        crate::config::API_MAX_BATCH
    }

    async fn namespaces(&self, _: &ApiKey) -> Result<HashSet<String>, String> {
        if self.key_refused {
            return Err("list_unique_ids: the API key was refused".into());
        }
        Ok(HashSet::from(["default".to_owned()]))
    }

    async fn list(&self, _: &ApiKey, _: &Namespace, ids: &[VideoNo]) -> crate::api::Listing {
        if self.stalled {
            std::future::pending::<()>().await;
        }
        let missing = self.missing.lock().unwrap();
        crate::api::Listing::Listed(
            ids.iter()
                .map(|id| id.as_str().to_owned())
                .filter(|id| !missing.contains(id))
                .collect(),
        )
    }
}

struct Setup {
    dir: tempfile::TempDir,
    config: Config,
    queue: Queue,
}

async fn setup(ids: std::ops::Range<u64>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "scripted-key").unwrap();
    let mut config = Config::default();
    config.api.api_key_file = Some(key);
    config.retry.initial_backoff = Duration::from_millis(1);
    config.retry.max_backoff = Duration::from_millis(2);
    let queue = Queue::open(
        &crate::config::Database::File(dir.path().join("queue.db")),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let rule = VideoNoRule::default();
    let ids: Vec<VideoNo> = ids
        .map(|n| rule.parse(&format!("VI{n}")).unwrap())
        .collect();
    queue.insert(&Namespace::default(), &ids).await.unwrap();
    Setup { dir, config, queue }
}

impl Setup {
    /// A pool of the setup's queue file, for looking at it as a test.
    async fn pool(&self) -> sqlx::SqlitePool {
        let url = format!("sqlite://{}", self.dir.path().join("queue.db").display());
        sqlx::SqlitePool::connect(&url).await.unwrap()
    }

    /// (video_no, status, refusals) of every row, in queue order.
    async fn rows(&self) -> Vec<(String, String, i64)> {
        let pool = self.pool().await;
        // (Refusals of another type, which a test may store, read as -1.)
        sqlx::query_as(
            "SELECT video_no, status, iif(typeof(refusals) = 'integer', refusals, -1)
               FROM deletion_queue ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    }

    /// As if `by` had passed: the times the queue waits on (a re-lookup, a check) moved
    /// back by hand, so that a test neither sleeps nor depends on how fast a pass runs.
    async fn pass_time(&self, by: Duration) {
        let pool = self.pool().await;
        let back = format!("-{} seconds", by.as_secs());
        sqlx::query(
            "UPDATE deletion_queue
                SET missed_at = strftime('%Y-%m-%d %H:%M:%f', missed_at, ?1),
                    recheck_at = strftime('%Y-%m-%d %H:%M:%f', recheck_at, ?1),
                    check_at = strftime('%Y-%m-%d %H:%M:%f', check_at, ?1)",
        )
        .bind(back)
        .execute(&pool)
        .await
        .unwrap();
    }

    /// Whether every row has this status.
    async fn all(&self, status: &str) -> bool {
        self.rows().await.iter().all(|(_, s, _)| s == status)
    }
}

/// A reaper over the setup's queue and an API that deletes whatever it is sent.
fn honest(s: &Setup) -> Reaper<Scripted, Queue> {
    Reaper::with(
        &s.config,
        Scripted::new([], Verdict::Deleted),
        s.queue.clone(),
    )
}

async fn drain<A: DeleteApi + LookupApi>(reaper: &Reaper<A, Queue>) -> (PassEnd, PassReport) {
    reaper
        .run_pass(&Halt::on_shutdown(&CancellationToken::new()))
        .await
}

#[tokio::test]
async fn a_batch_the_api_accepts_is_one_request() {
    let s = setup(0..100).await;
    let api = Scripted::new([], Verdict::Deleted);
    let reaper = Reaper::with(&s.config, api, s.queue.clone());
    let (end, report) = drain(&reaper).await;
    assert_eq!(end, PassEnd::Drained);
    assert_eq!((report.requests, report.deleted), (1, 100));
    assert_eq!(reaper.api.sent().len(), 1);
}

#[tokio::test]
async fn one_refused_id_is_confirmed_isolated_and_failed_after_three_refusals() {
    let s = setup(0..100).await;
    let api = Scripted::refusing("VI99");
    let reaper = Reaper::with(&s.config, api, s.queue.clone());
    let (end, report) = drain(&reaper).await;
    assert_eq!(end, PassEnd::Drained);
    let sizes: Vec<usize> = reaper.api.sent().iter().map(Vec::len).collect();
    // The whole, confirmed whole; one request a level down to the lone id, which is
    // refused three times.
    assert_eq!(sizes, [100, 100, 50, 25, 12, 6, 3, 2, 1, 1, 1, 1]);
    assert_eq!((report.deleted, report.failed), (99, 1));
    for (video_no, status, refusals) in s.rows().await {
        if video_no == "VI99" {
            assert_eq!((status.as_str(), refusals), ("failed", 3));
        } else {
            assert_eq!(status, "deleted", "{video_no}");
        }
    }
}

#[tokio::test]
async fn a_transient_refusal_costs_a_request_not_a_row() {
    let s = setup(0..1).await;
    let api = Scripted::new([Verdict::Rejected], Verdict::Deleted);
    let reaper = Reaper::with(&s.config, api, s.queue.clone());
    let (end, report) = drain(&reaper).await;
    assert_eq!(end, PassEnd::Drained);
    assert_eq!((report.requests, report.deleted, report.failed), (2, 1, 0));
    assert_eq!(s.rows().await[0].1, "deleted");
}

#[tokio::test]
async fn requests_in_flight_follow_the_round_trips_within_api_concurrency() {
    // At 5 requests a second, a place is held for the round trip and the rate's window
    // (1.01 s): 0.1 s a request needs 6 in flight, 9 with headroom and spare; 2 s needs
    // 16, 21 (more than the fixed 8 of before); 5 s needs 31, bounded by
    // api.concurrency (here 24). Claims held follow: rows are not leased long before
    // their turn.
    for (round_trip, most) in [(0.1, 9), (2.0, 21), (5.0, 24)] {
        let mut s = setup(0..3000).await;
        // One batch a claim, and the probe's answer sizes the window (a lookup's would
        // open it fully before any deletion's round trip is known).
        s.config.verify.before = false;
        s.config.api.concurrency = 24.try_into().unwrap();
        let api = Scripted {
            round_trip: Duration::from_secs_f64(round_trip),
            gate: Some(Gate {
                at: most,
                queue: Some(s.pool().await),
                ..Gate::default()
            }),
            ..Scripted::new([], Verdict::Deleted)
        };
        let reaper = Reaper::with(&s.config, api, s.queue.clone());
        let (end, _) = drain(&reaper).await;
        assert_eq!(end, PassEnd::Drained);
        let gate = reaper.api.gate.as_ref().unwrap();
        assert_eq!(
            gate.most.load(Ordering::SeqCst),
            most,
            "in flight at once at {round_trip} s a request"
        );
        // A claim a batch here: no more claims held than an open window's places.
        assert_eq!(
            gate.most_claims.load(Ordering::SeqCst),
            most,
            "claims held at once at {round_trip} s a request"
        );
        assert!(s.all("deleted").await);
    }
}

#[tokio::test]
async fn a_refused_key_stops_the_pass_after_one_request_and_keeps_the_rows() {
    let s = setup(0..300).await;
    // The lookups refuse the key too (one key for both): none of them ends the probe.
    let api = Scripted {
        key_refused: true,
        ..Scripted::new([], Verdict::Stop)
    };
    let reaper = Reaper::with(&s.config, api, s.queue.clone());
    let (end, report) = drain(&reaper).await;
    assert!(matches!(end, PassEnd::Stopped(_)), "{end:?}");
    assert_eq!(report.requests, 1, "one request, the probe");
    assert!(s.all("pending").await);
}

#[tokio::test]
async fn an_outage_past_the_retry_budget_keeps_the_rows_pending() {
    let s = setup(0..10).await;
    let api = Scripted::new([], Verdict::Retry { retry_after: None });
    let reaper = Reaper::with(&s.config, api, s.queue.clone());
    let (end, report) = drain(&reaper).await;
    assert!(matches!(end, PassEnd::Stopped(_)), "{end:?}");
    assert_eq!(report.requests, u64::from(s.config.retry.max_attempts));
    assert_eq!(report.failed, 0);
    assert!(s.all("pending").await);
}

#[tokio::test]
async fn a_lone_duplicate_counts_as_deleted_and_a_batch_of_them_is_split() {
    let s = setup(0..2).await;
    // The pair answered 0409: split; each alone answered 0409: deleted before.
    let api = Scripted::new([], Verdict::Duplicate);
    let reaper = Reaper::with(&s.config, api, s.queue.clone());
    let (end, report) = drain(&reaper).await;
    assert_eq!(end, PassEnd::Drained);
    let sizes: Vec<usize> = reaper.api.sent().iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 1, 1]);
    assert_eq!(report.deleted, 2);
}

#[tokio::test]
async fn a_held_claim_outlives_its_lease_and_is_given_back_when_dropped() {
    let s = setup(0..10).await;
    let lease = Duration::from_millis(300);
    let claim = s.queue.claim(100, lease).await.unwrap().expect("rows");
    let held = ClaimGuard::new(s.queue.clone(), claim.token.clone(), lease);
    // Three leases later, renewed all the while: nobody can take the rows back.
    tokio::time::sleep(lease * 3).await;
    assert_eq!(s.queue.take_back_expired().await.unwrap(), 0);
    assert!(s
        .rows()
        .await
        .iter()
        .all(|(_, status, _)| status == "in_flight"));
    // Dropped without a release (an error, a panic): the rows go back at once.
    drop(held);
    for _ in 0..50 {
        if s.rows()
            .await
            .iter()
            .all(|(_, status, _)| status == "pending")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the rows were not given back: {:?}", s.rows().await);
}

#[tokio::test]
async fn a_held_video_is_never_sent_until_its_hold_is_released() {
    let s = setup(0..10).await;
    let rule = VideoNoRule::default();
    let id = |n: u32| rule.parse(&format!("VI{n}")).unwrap();
    let ids: Vec<VideoNo> = (0..10).map(id).collect();
    // Placed while a claimed batch waits for its turn: the request is not recorded.
    let claim = s
        .queue
        .claim(100, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("rows");
    let placed = s
        .queue
        .place_holds(None, &[id(3)], "case 17")
        .await
        .unwrap();
    assert_eq!((placed.holds, placed.in_flight), (1, 1));
    let started = s
        .queue
        .start_request(
            &claim.token,
            &Namespace::default(),
            &ids,
            1,
            None,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(started, Started::Held(1));
    s.queue.release(&claim.token, None).await.unwrap();
    // Placed before the claim (on a row given back pending, in one namespace): held there,
    // and a row queued after it is held as it is written.
    let placed = s
        .queue
        .place_holds(Some(&Namespace::default()), &[id(5)], "case 18")
        .await
        .unwrap();
    assert_eq!((placed.holds, placed.rows), (1, 1));
    s.queue
        .insert(&Namespace::default(), &[id(5)])
        .await
        .unwrap();
    // A hold written by another hand, past the pending row: the claim holds it back.
    let pool = s.pool().await;
    sqlx::query("INSERT INTO legal_holds (video_no, reason) VALUES ('VI7', 'by hand')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let claim = s
        .queue
        .claim(100, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("rows");
    assert_eq!(claim.held, 1);
    assert!(!claim
        .rows
        .iter()
        .any(|r| r.video_no.as_deref() == Some("VI7")));
    s.queue.release(&claim.token, None).await.unwrap();

    let reaper = honest(&s);
    let (end, report) = drain(&reaper).await;
    assert_eq!(end, PassEnd::Drained);
    assert_eq!(report.deleted, 7);
    let sent: Vec<String> = reaper.api.sent().concat();
    assert!(
        !sent.iter().any(|v| v == "VI3" || v == "VI5" || v == "VI7"),
        "a held video was sent: {sent:?}"
    );
    let held: Vec<String> = s
        .rows()
        .await
        .into_iter()
        .filter(|r| r.1 == "held")
        .map(|r| r.0)
        .collect();
    assert_eq!(held, ["VI3", "VI5", "VI7", "VI5"]);

    // Released (each where it was placed): pending again, and sent by the next pass.
    let released = s
        .queue
        .release_holds(None, &[id(3), id(5), id(7)])
        .await
        .unwrap();
    assert_eq!(
        (released.holds, released.rows),
        (2, 2),
        "VI5's hold is in one namespace"
    );
    let released = s
        .queue
        .release_holds(Some(&Namespace::default()), &[id(5)])
        .await
        .unwrap();
    assert_eq!((released.holds, released.rows), (1, 2));
    let (_, report) = drain(&reaper).await;
    assert_eq!(report.deleted, 4);
    assert!(s.all("deleted").await);
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_sends_nothing() {
    let s = setup(0..10).await;
    let lease = Duration::from_millis(100);
    // No guard renews it: the lease runs out and another worker takes the rows back.
    let claim = s.queue.claim(100, lease).await.unwrap().expect("rows");
    tokio::time::sleep(lease * 3).await;
    assert_eq!(s.queue.take_back_expired().await.unwrap(), 10);
    let rule = VideoNoRule::default();
    let ids: Vec<VideoNo> = (0..10)
        .map(|n| rule.parse(&format!("VI{n}")).unwrap())
        .collect();
    let batch = s
        .queue
        .start_request(&claim.token, &Namespace::default(), &ids, 1, None, lease)
        .await
        .unwrap();
    assert_eq!(
        batch,
        Started::Lost,
        "a request recorded for rows the claim lost"
    );
    let recorded: i64 = {
        let pool = s.pool().await;
        sqlx::query_scalar("SELECT count(*) FROM deletion_batches")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(recorded, 0, "the lost request's record was rolled back");
}

mod any_type {
    //! Whatever SQLite type a producer (or a careless hand) stores in the columns the
    //! schema does not check, `status` reads it and the pass works around it: no panic,
    //! the due row deleted, and a row in flight kept only under a lease this program could
    //! have granted.
    use super::*;
    use proptest::prelude::*;

    /// SQL literals of every storage class, and values near the edges of each.
    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("NULL".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("9223372036854775807".to_owned()),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(|x| format!("{x:e}")),
            Just("1e308".to_owned()),
            "\\PC{0,12}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
            Just("'a' || char(10) || char(0) || char(8238) || 'b'".to_owned()),
            Just("strftime('%Y-%m-%d %H:%M:%f', 'now', '+10 minutes')".to_owned()),
            Just("strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 year')".to_owned()),
            Just("'9999-12-31 23:59:59'".to_owned()),
            Just("x'00ff10'".to_owned()),
            Just("zeroblob(100)".to_owned()),
            Just("printf('%.*c', 100000, 'x')".to_owned()),
        ]
    }

    const QUEUE_COLUMNS: [&str; 8] = [
        "attempts",
        "last_error",
        "refusals",
        "enqueued_at",
        "updated_at",
        "settled_at",
        "claimed_by",
        "batch_id",
    ];
    const BATCH_COLUMNS: [&str; 12] = [
        "unique_id",
        "ids_count",
        "attempt",
        "outcome",
        "http_status",
        "api_code",
        "api_msg",
        "error",
        "started_at",
        "finished_at",
        "duration_ms",
        "sender",
    ];

    async fn case(queue_values: Vec<String>, batch_values: Vec<String>, lease: String) {
        let s = setup(0..2).await;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(s.dir.path().join("queue.db"))
            .foreign_keys(false);
        let rogue = sqlx::SqlitePool::connect_with(options).await.unwrap();
        // Row 1 pending (odd columns), row 2 in flight under an odd lease; each value
        // alone, and what the schema refuses (NULL in a NOT NULL column) is left out.
        for (column, value) in QUEUE_COLUMNS.iter().zip(&queue_values) {
            let sql = format!("UPDATE deletion_queue SET {column} = {value} WHERE id = 1");
            let _ = sqlx::query(&sql).execute(&rogue).await;
        }
        let sql = format!(
            "UPDATE deletion_queue SET status = 'in_flight', claimed_by = 'gone', \
             lease_until = {lease} WHERE id = 2"
        );
        sqlx::query(&sql).execute(&rogue).await.unwrap();
        sqlx::query("INSERT INTO deletion_batches (id, unique_id, ids_count, attempt) VALUES (7, 'default', 1, 1)")
            .execute(&rogue)
            .await
            .unwrap();
        for (column, value) in BATCH_COLUMNS.iter().zip(&batch_values) {
            let sql = format!("UPDATE deletion_batches SET {column} = {value} WHERE id = 7");
            let _ = sqlx::query(&sql).execute(&rogue).await;
        }
        let granted: bool = sqlx::query_scalar(&format!(
            "SELECT coalesce(julianday(lease_until) BETWEEN julianday('now', '+5 seconds')
                    AND julianday('now', '+{} seconds'), 0) FROM deletion_queue WHERE id = 2",
            crate::config::LONGEST_LEASE.as_secs() - 5
        ))
        .fetch_one(&rogue)
        .await
        .unwrap();
        rogue.close().await;

        let report = s.queue.report(10).await.expect("status reads any type");
        let _ = crate::cmd::status::text(&report);
        let _ = crate::cmd::status::json(&report, &[]);

        let reaper = honest(&s);
        let (end, _) = drain(&reaper).await;
        assert_eq!(end, PassEnd::Drained);
        let rows = s.rows().await;
        assert_eq!(rows[0].1, "deleted", "the due row");
        let expected = if granted { "in_flight" } else { "deleted" };
        assert_eq!(rows[1].1, expected, "the row in flight under {lease}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn status_and_the_pass_read_any_type(
            queue_values in prop::collection::vec(literal(), QUEUE_COLUMNS.len()),
            batch_values in prop::collection::vec(literal(), BATCH_COLUMNS.len()),
            lease in literal(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(case(queue_values, batch_values, lease));
        }
    }
}

mod looking_first {
    //! `[verify] before`: what a lookup's miss does to the rows (see `pass::verify`).
    use super::*;

    fn missing(api: &Scripted, ids: &[&str]) {
        api.missing
            .lock()
            .unwrap()
            .extend(ids.iter().map(|id| id.to_string()));
    }

    #[tokio::test]
    async fn an_id_not_listed_is_not_sent_and_is_absent_after_a_second_miss() {
        let mut s = setup(0..3).await;
        let hour = Duration::from_secs(3600);
        s.config.verify.absent_after = hour;
        let reaper = honest(&s);
        missing(&reaper.api, &["VI1"]);
        let (end, report) = drain(&reaper).await;
        assert_eq!(end, PassEnd::Drained);
        assert_eq!(
            reaper.api.sent(),
            [vec!["VI0".to_owned(), "VI2".to_owned()]]
        );
        assert_eq!((report.deleted, report.absent), (2, 0));
        assert_eq!(s.rows().await[1].1, "pending", "one miss is not proof");
        // Not looked up again before absent_after: nothing due.
        let (_, report) = drain(&reaper).await;
        assert_eq!(report.absent, 0);
        s.pass_time(hour * 2).await;
        let (end, report) = drain(&reaper).await;
        assert_eq!(end, PassEnd::Drained);
        assert_eq!(report.absent, 1);
        assert_eq!(reaper.api.sent().len(), 1, "an absent id is never sent");
        assert_eq!(s.rows().await[1].1, "absent");
    }

    #[tokio::test]
    async fn an_id_a_lost_answer_may_have_deleted_is_deleted_when_no_longer_listed() {
        let s = setup(0..1).await;
        // No API code in the answer (as after a timeout): the request may have deleted it.
        let reaper = Reaper::with(
            &s.config,
            Scripted::new([Verdict::Stop], Verdict::Deleted),
            s.queue.clone(),
        );
        let (end, _) = drain(&reaper).await;
        assert!(matches!(end, PassEnd::Stopped(_)), "{end:?}");
        missing(&reaper.api, &["VI0"]);
        let (_, report) = drain(&reaper).await;
        assert_eq!((report.deleted, report.absent), (1, 0));
        assert_eq!(reaper.api.sent().len(), 1, "not sent again");
        assert!(s.all("deleted").await);
    }

    #[tokio::test]
    async fn a_halt_does_not_wait_for_a_lookup_and_says_why() {
        for why in [Interruption::Shutdown, Interruption::LeaseLost] {
            let s = setup(0..3).await;
            let api = Scripted {
                stalled: true,
                ..Scripted::new([], Verdict::Deleted)
            };
            let reaper = Reaper::with(&s.config, api, s.queue.clone());
            let shutdown = CancellationToken::new();
            let lease = shutdown.child_token();
            let halt = Halt::while_leading(lease.clone(), &shutdown);
            let stop = match why {
                Interruption::Shutdown => shutdown,
                Interruption::LeaseLost => lease,
            };
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stop.cancel();
            });
            // The guard only turns a hang into a failure; it measures nothing.
            let ran = tokio::time::timeout(Duration::from_secs(30), reaper.run_pass(&halt)).await;
            let (end, _) = ran.expect("the pass waited for the lookup past its halt");
            assert_eq!(end, PassEnd::Interrupted(why));
            assert!(reaper.api.sent().is_empty());
            assert!(s.all("pending").await);
        }
    }

    #[tokio::test]
    async fn without_looking_first_every_id_is_sent() {
        let mut s = setup(0..2).await;
        s.config.verify.before = false;
        let reaper = honest(&s);
        missing(&reaper.api, &["VI1"]);
        let (_, report) = drain(&reaper).await;
        assert_eq!(report.deleted, 2);
        assert_eq!(
            reaper.api.sent(),
            [vec!["VI0".to_owned(), "VI1".to_owned()]]
        );
    }
}

mod looking_after {
    //! `[verify] after`: deleted rows looked up again; the scripted API lists every id not
    //! marked missing, so without marking it "keeps" what it deleted (a lying API).
    use super::*;

    async fn checked_at(s: &Setup) -> Vec<Option<String>> {
        let pool = s.pool().await;
        sqlx::query_scalar("SELECT checked_at FROM deletion_queue ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap()
    }

    fn after(s: &mut Setup) {
        s.config.verify.after = true;
        s.config.verify.after_delay = Duration::from_millis(50);
        s.config.verify.after_rounds = 2.try_into().unwrap();
    }

    #[tokio::test]
    async fn a_deletion_no_longer_listed_is_verified() {
        let mut s = setup(0..2).await;
        after(&mut s);
        let reaper = honest(&s);
        drain(&reaper).await;
        assert_eq!(checked_at(&s).await, [None, None], "not before after_delay");
        tokio::time::sleep(Duration::from_millis(80)).await;
        reaper
            .api
            .missing
            .lock()
            .unwrap()
            .extend(["VI0".to_owned(), "VI1".to_owned()]);
        drain(&reaper).await;
        assert!(checked_at(&s).await.iter().all(Option::is_some));
        assert!(s.all("deleted").await);
        assert_eq!(reaper.api.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_prune_between_a_deletion_and_its_check_keeps_the_chain_verifiable() {
        let mut s = setup(0..2).await;
        after(&mut s);
        let reaper = honest(&s);
        drain(&reaper).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        let between = chrono::Utc::now();
        reaper
            .api
            .missing
            .lock()
            .unwrap()
            .extend(["VI0".to_owned(), "VI1".to_owned()]);
        drain(&reaper).await;
        assert!(checked_at(&s).await.iter().all(Option::is_some));
        // The deletions' entries are older than the cutoff, the checks' are not: the rows
        // stay with the checks' entries.
        s.queue.prune(between).await.unwrap();
        let verdict = s.queue.verify_chain().await.unwrap();
        assert_eq!(verdict.mismatches, 0, "{:?}", verdict.problems);
        assert!(s.all("deleted").await);
    }

    #[tokio::test]
    async fn a_video_still_listed_after_its_deletion_is_sent_again_then_failed() {
        let mut s = setup(0..1).await;
        after(&mut s);
        let delay = Duration::from_secs(3600);
        s.config.verify.after_delay = delay;
        let reaper = honest(&s);
        drain(&reaper).await;
        s.pass_time(delay * 3 / 2).await;
        // Round 1: still listed: pending again, and sent again in the same pass.
        drain(&reaper).await;
        assert_eq!(reaper.api.sent().len(), 2);
        assert!(s.all("deleted").await);
        // The second check backs off: four times after_delay (a listing may lag).
        s.pass_time(delay * 3 / 2).await;
        let (_, report) = drain(&reaper).await;
        assert_eq!(report.failed, 0, "checked again before its backoff");
        s.pass_time(delay * 3).await;
        // Round 2 of 2: failed, not sent again, and said so: still listed.
        let (_, report) = drain(&reaper).await;
        assert_eq!(report.failed, 1);
        assert_eq!(reaper.api.sent().len(), 2);
        assert!(s.all("failed").await);
        let pool = s.pool().await;
        let proof: Option<String> = sqlx::query_scalar("SELECT proof FROM deletion_queue")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(proof.as_deref(), Some("still_listed"));
    }
}

#[tokio::test]
async fn the_settlement_chain_survives_pruning_through_its_anchor() {
    let s = setup(0..5).await;
    let reaper = Reaper::with(
        &s.config,
        Scripted::new([], Verdict::Deleted),
        s.queue.clone(),
    );
    drain(&reaper).await;
    let before = s.queue.verify_chain().await.unwrap();
    // The anchor as the migration found it, the request, then its answer.
    assert_eq!(
        (before.entries, before.mismatches),
        (3, 0),
        "{:?}",
        before.problems
    );
    // Everything settled so far goes; the last entry removed becomes the anchor. (A
    // cutoff in the future would be no prune's: `--verify` says so.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    let moved = s.queue.prune(chrono::Utc::now()).await.unwrap();
    assert_eq!(
        moved.anchor,
        Some((3, before.head.clone())),
        "prune says where the chain now starts"
    );
    let pruned = s.queue.verify_chain().await.unwrap();
    // What is left: the entry recording the anchor.
    assert_eq!(
        (pruned.entries, pruned.mismatches),
        (1, 0),
        "{:?}",
        pruned.problems
    );
    assert_eq!(
        pruned.anchor,
        (3, before.head.clone()),
        "the anchor is the last entry removed"
    );
    assert_ne!(
        pruned.head, before.head,
        "the anchor's entry is the new head"
    );
    let rule = VideoNoRule::default();
    let more: Vec<VideoNo> = (10..13)
        .map(|n| rule.parse(&format!("VI{n}")).unwrap())
        .collect();
    s.queue.insert(&Namespace::default(), &more).await.unwrap();
    drain(&reaper).await;
    let after = s.queue.verify_chain().await.unwrap();
    assert_eq!(
        (after.entries, after.mismatches),
        (3, 0),
        "{:?}",
        after.problems
    );

    // A prefix removed by hand, the anchor moved onto what is left (as a prune would move
    // it, its since included): found, since no entry records a prune to it.
    let pool = s.pool().await;
    for sql in [
        "UPDATE settlement_anchor SET (seq, hash) = (SELECT seq, hash FROM settlement_chain
                                                      ORDER BY seq LIMIT 1)",
        "DELETE FROM settlement_chain WHERE seq <= (SELECT seq FROM settlement_anchor)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let forged = s.queue.verify_chain().await.unwrap();
    assert_eq!(forged.head, after.head, "the same head");
    assert!(
        forged
            .problems
            .iter()
            .any(|p| p.contains("no chain entry records a prune to it")),
        "{:?}",
        forged.problems
    );
}

#[tokio::test]
async fn every_answer_is_chained_and_prune_carries_what_it_keeps() {
    let s = setup(0..20).await;
    let clean = |what: &'static str| {
        let queue = s.queue.clone();
        async move {
            let verdict = queue.verify_chain().await.unwrap();
            assert_eq!(verdict.mismatches, 0, "{what}: {:?}", verdict.problems);
        }
    };
    // Answers that settle nothing (a retry, then a refused key) still change the
    // requests' records: each is chained.
    let reaper = Reaper::with(
        &s.config,
        Scripted::new([Verdict::Retry { retry_after: None }], Verdict::Stop),
        s.queue.clone(),
    );
    let (end, _) = drain(&reaper).await;
    assert!(matches!(end, PassEnd::Stopped(_)), "{end:?}");
    clean("a retry and a stop").await;
    // A refused id, isolated and confirmed over passes: splits and held rows.
    let reaper = Reaper::with(&s.config, Scripted::refusing("VI3"), s.queue.clone());
    for _ in 0..s.config.isolation.confirmations.get() {
        drain(&reaper).await;
    }
    assert!(s
        .rows()
        .await
        .iter()
        .any(|(v, status, _)| v == "VI3" && status == "failed"));
    clean("a refusal isolated and confirmed").await;

    // A request whose answer was never recorded: prune keeps its record (what it did is
    // unknown), and with it an entry that vouches for it.
    let rule = VideoNoRule::default();
    let lone = rule.parse("VI99").unwrap();
    s.queue
        .insert(&Namespace::default(), std::slice::from_ref(&lone))
        .await
        .unwrap();
    let claim = s
        .queue
        .claim(1, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let started = s
        .queue
        .start_request(
            &claim.token,
            &Namespace::default(),
            &[lone],
            1,
            None,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(matches!(started, Started::Request(_)), "{started:?}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let moved = s.queue.prune(chrono::Utc::now()).await.unwrap();
    assert!(moved.anchor.is_some());
    clean("after prune").await;
    let verdict = s.queue.verify_chain().await.unwrap();
    assert_eq!(
        verdict.entries, 2,
        "the carried record's entry, and the anchor's"
    );

    // A record nobody sent, added by hand, is found (dated after the last prune's cutoff,
    // just now here: one dated before it, that no row points at, looks like a record
    // that prune is still removing, and the next prune removes it).
    let pool = s.pool().await;
    sqlx::query(
        "INSERT INTO deletion_batches (unique_id, ids_count, attempt, outcome, api_code, started_at)
         VALUES ('default', 1, 1, 'deleted', '0000', strftime('%Y-%m-%d %H:%M:%f', 'now', '+2 hours'))",
    )
    .execute(&pool)
    .await
    .unwrap();
    let verdict = s.queue.verify_chain().await.unwrap();
    assert_eq!(verdict.mismatches, 1, "{:?}", verdict.problems);
    assert!(verdict.problems[0].contains("has no chain entry"));
}
