//! The pass driven in-process: a scripted API through [`DeleteApi`], a real SQLite queue in
//! a temporary directory. No HTTP, no rate limit, backoffs of a millisecond: each test
//! says what the API answers and checks what was sent and what the rows became.

use std::collections::VecDeque;
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
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Verdict>, otherwise: Verdict) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            otherwise,
            refused: None,
            sent: Mutex::default(),
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
            duration: Duration::ZERO,
        }
    }

    fn cold_start(&self) {}

    fn count_others(&self, _: Vec<crate::queue::Recorded>) -> bool {
        false
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
    let queue = Queue::open(&dir.path().join("queue.db"), Duration::from_secs(5))
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
    /// (video_no, status, refusals) of every row, in queue order.
    async fn rows(&self) -> Vec<(String, String, i64)> {
        let url = format!("sqlite://{}", self.dir.path().join("queue.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query_as("SELECT video_no, status, refusals FROM deletion_queue ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap()
    }

    /// Whether every row has this status.
    async fn all(&self, status: &str) -> bool {
        self.rows().await.iter().all(|(_, s, _)| s == status)
    }
}

async fn drain<A: DeleteApi>(reaper: &Reaper<A, Queue>) -> (PassEnd, PassReport) {
    reaper.run_pass(&CancellationToken::new()).await
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
async fn a_refused_key_stops_the_pass_after_one_request_and_keeps_the_rows() {
    let s = setup(0..300).await;
    let api = Scripted::new([], Verdict::Stop);
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
    let held = Held::new(s.queue.clone(), claim.token.clone(), lease);
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
        .start_request(&claim.token, &Namespace::default(), &ids, 1, lease)
        .await
        .unwrap();
    assert_eq!(batch, None, "a request recorded for rows the claim lost");
    let recorded: i64 = {
        let url = format!("sqlite://{}", s.dir.path().join("queue.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM deletion_batches")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(recorded, 0, "the lost request's record was rolled back");
}
