//! One suite of the queue's behaviours, run in-process on every driver: `NAME::sqlite` on
//! a file of its own, `NAME::postgres` on a database of its own on the test server
//! (`postgres_server`: the one named, else a throwaway one where PostgreSQL is installed,
//! else skipped and counted). A third driver adds its arm to `conformance!` and passes the
//! same tests. It is the queue's unit tests (`queue::conformance`, crate-private items
//! and all), kept outside the drivers' folder as River keeps `riverdrivertest` apart.

use std::time::Duration;

use super::driver::{Access, Driver};
use super::report::Cell;
use super::{BatchId, ClaimToken, Lead, Queue, RequestRecord, RowsEffect, Started};
use super::{Check, Miss, Settled, Store, Unchecked};
use crate::config::Database;
use crate::video::{Namespace, VideoNo, VideoNoRule};
use crate::vocabulary::{Outcome, Proof};

// Its `ca` is for `tests/it`'s TLS test; the suite connects without TLS.
#[allow(dead_code)]
#[path = "../lib/postgres_server.rs"]
mod postgres_server;

const LEASE: Duration = Duration::from_secs(60);

/// A row as the tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: i64,
    video_no: String,
    namespace: String,
    status: String,
    proof: Option<String>,
    claimed: bool,
    checked: bool,
}

/// A queue on a driver, and what a test needs to set it up and read it.
struct Rig {
    queue: Queue,
    database: Database,
    _dir: Option<tempfile::TempDir>,
}

impl Rig {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database = Database::File(dir.path().join("queue.db"));
        let queue = Queue::open(&database, Duration::from_secs(5))
            .await
            .expect("open the queue");
        Self {
            queue,
            database,
            _dir: Some(dir),
        }
    }

    /// A queue in a new database of the test server, and the database's name.
    async fn postgres() -> Option<(Self, String)> {
        let admin = &postgres_server::server()?.url;
        let name = format!("mr_conf_{:016x}", rand::random::<u64>());
        let server = sqlx::PgPool::connect(admin).await.expect("the test server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&server)
            .await
            .expect("a test database");
        server.close().await;
        let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
        let url = crate::credentials::parse_url(&format!("{base}/{name}"), "test".into())
            .expect("a database URL");
        let database = Database::Server(Box::new(url));
        let queue = Queue::open(&database, Duration::from_secs(5))
            .await
            .expect("open the queue");
        let rig = Self {
            queue,
            database,
            _dir: None,
        };
        Some((rig, name))
    }

    async fn drop_database(name: &str) {
        let Some(server) = postgres_server::server() else {
            return;
        };
        let admin = sqlx::PgPool::connect(&server.url)
            .await
            .expect("the test server");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .expect("drop the test database");
        admin.close().await;
    }

    /// Runs statements with no parameters, as a producer (or a hand in the database) would.
    async fn exec(&self, sql: &str) {
        let done = match &self.queue {
            Queue::Sqlite(q) => sqlx::raw_sql(sql).execute(q.pool()).await.map(drop),
            Queue::Postgres(q) => sqlx::raw_sql(sql).execute(q.pool()).await.map(drop),
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn rows(&self) -> Vec<Row> {
        let sql = "SELECT id, video_no, unique_id, status, proof,
                          claimed_by IS NOT NULL AS claimed, checked_at IS NOT NULL AS checked
                     FROM deletion_queue ORDER BY id";
        type Raw = (i64, String, String, String, Option<String>, bool, bool);
        let raw: Vec<Raw> = match &self.queue {
            Queue::Sqlite(q) => sqlx::query_as(sql).fetch_all(q.pool()).await,
            Queue::Postgres(q) => sqlx::query_as(sql).fetch_all(q.pool()).await,
        }
        .expect("read the rows");
        raw.into_iter()
            .map(
                |(id, video_no, namespace, status, proof, claimed, checked)| Row {
                    id,
                    video_no,
                    namespace,
                    status,
                    proof,
                    claimed,
                    checked,
                },
            )
            .collect()
    }

    /// How long ago `video_no`'s row was listed (seconds, by the database's clock), and
    /// whether a miss or a re-lookup is still recorded on it.
    async fn listing(&self, video_no: &str) -> (Option<f64>, bool) {
        let sqlite = "SELECT (julianday('now') - julianday(listed_at)) * 86400.0,
                             missed_at IS NOT NULL OR recheck_at IS NOT NULL
                        FROM deletion_queue WHERE video_no = ?1";
        let postgres = "SELECT extract(epoch FROM now() - listed_at)::float8,
                               missed_at IS NOT NULL OR recheck_at IS NOT NULL
                          FROM deletion_queue WHERE video_no = $1";
        match &self.queue {
            Queue::Sqlite(q) => {
                sqlx::query_as(sqlite)
                    .bind(video_no)
                    .fetch_one(q.pool())
                    .await
            }
            Queue::Postgres(q) => {
                sqlx::query_as(postgres)
                    .bind(video_no)
                    .fetch_one(q.pool())
                    .await
            }
        }
        .expect("read the row's listing")
    }

    async fn row(&self, video_no: &str) -> Row {
        let rows = self.rows().await;
        rows.into_iter()
            .find(|r| r.video_no == video_no)
            .unwrap_or_else(|| panic!("no row of {video_no}"))
    }

    async fn insert(&self, namespace: &str, video_nos: &[&str]) {
        let ns = Namespace::parse(namespace).expect("a namespace");
        self.queue
            .insert(&ns, &ids(video_nos))
            .await
            .expect("insert");
    }

    /// A first request for `video_nos` of `default` on `token`'s claim.
    /// A lookup in `default` for `token`'s claim: `listed` there, `missing` not.
    async fn lookup(
        &self,
        token: &ClaimToken,
        listed: &[&str],
        missing: &[(&str, Miss)],
    ) -> Settled {
        let missing: Vec<(VideoNo, Miss)> = missing
            .iter()
            .map(|(video_no, miss)| (ids(&[video_no])[0].clone(), *miss))
            .collect();
        self.queue
            .record_lookup(token, &Namespace::default(), &ids(listed), &missing, LEASE)
            .await
            .expect("record the lookup")
    }

    /// The checks after deleting that are due, claimed (100 at most).
    async fn claim_checks(&self) -> Option<Unchecked> {
        let claimed = self.queue.claim_unchecked(100, LEASE).await;
        claimed.expect("claim the checks due")
    }

    async fn start(&self, token: &ClaimToken, video_nos: &[&str]) -> Started {
        let videos = ids(video_nos);
        let started = self
            .queue
            .start_request(token, &Namespace::default(), &videos, 1, None, LEASE)
            .await;
        started.expect("start a request")
    }

    /// Records `video_nos`' request of `batch` as answered `record`, the rows as `effect`:
    /// how many rows changed.
    async fn finish(
        &self,
        token: &ClaimToken,
        batch: BatchId,
        video_nos: &[&str],
        record: &RequestRecord,
        effect: &RowsEffect,
    ) -> u64 {
        let videos = ids(video_nos);
        let finished = self
            .queue
            .finish_request(token, batch, &videos, record, effect)
            .await;
        finished.expect("finish a request")
    }

    /// Each row's `lease_until`, as text, in row order.
    async fn leases(&self) -> Vec<Option<String>> {
        let sql = "SELECT CAST(lease_until AS TEXT) FROM deletion_queue ORDER BY id";
        match &self.queue {
            Queue::Sqlite(q) => sqlx::query_scalar(sql).fetch_all(q.pool()).await,
            Queue::Postgres(q) => sqlx::query_scalar(sql).fetch_all(q.pool()).await,
        }
        .expect("read the leases")
    }

    /// The SQL for now plus `seconds` (to the second), as the driver writes a time.
    fn now_plus(&self, seconds: i64) -> String {
        match &self.queue {
            Queue::Sqlite(_) => {
                format!("strftime('%Y-%m-%d %H:%M:%S', 'now', '{seconds} seconds')")
            }
            Queue::Postgres(_) => format!("now() + interval '{seconds} seconds'"),
        }
    }

    /// The chain verifies, with no mismatch.
    async fn chain_holds(&self) {
        let verdict = self.queue.verify_chain().await.expect("verify");
        assert_eq!(verdict.mismatches, 0, "{:?}", verdict.problems);
    }
}

fn ids(video_nos: &[&str]) -> Vec<VideoNo> {
    let rule = VideoNoRule::default();
    video_nos
        .iter()
        .map(|v| rule.parse(v).expect("a video number"))
        .collect()
}

fn answer(outcome: Outcome, code: Option<&str>) -> RequestRecord {
    RequestRecord {
        outcome,
        http_status: code.map(|_| 200),
        api_code: code.map(str::to_owned),
        api_msg: code.map(|_| "msg".to_owned()),
        error: None,
        duration: Duration::from_millis(5),
    }
}

const DELETED: RowsEffect = RowsEffect::Deleted { check_after: None };

/// Claims, records a request for every claimed video, and its answer.
async fn send(rig: &Rig, record: &RequestRecord, effect: &RowsEffect) -> (ClaimToken, BatchId) {
    let claim = rig.queue.claim(100, LEASE).await.expect("claim");
    let claim = claim.expect("something to claim");
    let namespace =
        Namespace::parse(claim.namespace.as_deref().expect("a namespace")).expect("a namespace");
    let mut videos: Vec<&str> = claim
        .rows
        .iter()
        .filter_map(|r| r.video_no.as_deref())
        .collect();
    videos.dedup();
    let videos = ids(&videos);
    let started = rig
        .queue
        .start_request(&claim.token, &namespace, &videos, 1, None, LEASE)
        .await
        .expect("start");
    let Started::Request(batch) = started else {
        panic!("not started: {started:?}")
    };
    rig.queue
        .finish_request(&claim.token, batch, &videos, record, effect)
        .await
        .expect("finish a request");
    (claim.token, batch)
}

/// Makes `NAME` (an `async fn(Rig)` beside it) a test per driver.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Rig::sqlite().await).await
            }
            #[tokio::test]
            async fn postgres() {
                if let Some((rig, name)) = super::Rig::postgres().await {
                    super::$name(rig).await;
                    // Passed: its database goes (a failure's stays, to be looked at).
                    super::Rig::drop_database(&name).await;
                }
            }
        }
    )*};
}

conformance!(
    a_claim_takes_the_oldest_namespace_and_its_duplicates,
    a_video_another_claim_holds_is_not_claimed,
    a_held_video_is_set_held_at_the_claim_and_at_the_request,
    an_answer_settles_with_its_proof_and_the_chain_holds,
    a_lost_answer_leaves_rows_in_flight_in_doubt_and_a_lookup_settles_them,
    history_settles_only_from_a_chained_deletion,
    a_video_refused_for_good_fails_its_other_rows,
    a_request_whose_rows_were_taken_back_does_not_go,
    expired_and_impossible_leases_are_taken_back,
    release_gives_rows_back,
    a_request_renews_only_leases_that_run_short,
    checks_after_deleting_verify_or_send_again,
    unsent_rows_fail_as_invalid,
    other_senders_requests_are_counted,
    the_oldest_due_age_counts_rows_in_flight_and_not_settled_ones,
    a_missed_row_is_not_due_until_its_next_lookup,
    a_request_records_the_lookup_that_listed_its_rows,
    the_lease_is_asked_for_without_waiting_behind_this_processs_writers,
    a_migration_applied_from_another_text_is_refused,
);

async fn a_claim_takes_the_oldest_namespace_and_its_duplicates(rig: Rig) {
    rig.insert("b", &["VI1", "VI2"]).await;
    rig.insert("a", &["VI3", "VI1"]).await;
    rig.insert("b", &["VI1"]).await;
    let claim = rig.queue.claim(1, LEASE).await.unwrap().expect("a claim");
    assert_eq!(
        claim.namespace.as_deref(),
        Some("b"),
        "the oldest row's namespace"
    );
    let claimed: Vec<(i64, Option<String>)> = claim
        .rows
        .iter()
        .map(|r| (r.id, r.video_no.clone()))
        .collect();
    // One video (limit 1), with its due duplicate in the namespace; not namespace a's.
    assert_eq!(
        claimed,
        vec![(1, Some("VI1".into())), (5, Some("VI1".into()))]
    );
    let rows = rig.rows().await;
    let in_flight: Vec<i64> = rows.iter().filter(|r| r.claimed).map(|r| r.id).collect();
    assert_eq!(in_flight, vec![1, 5]);
    assert!(rows.iter().all(|r| r.claimed == (r.status == "in_flight")));
    // Nothing due in the future is claimed.
    rig.exec("UPDATE deletion_queue SET due_at = '2999-01-01 00:00:00' WHERE status = 'pending'")
        .await;
    assert!(rig.queue.claim(100, LEASE).await.unwrap().is_none());
}

async fn a_video_another_claim_holds_is_not_claimed(rig: Rig) {
    rig.insert("default", &["VI1"]).await;
    let first = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    rig.insert("default", &["VI1", "VI2"]).await;
    let second = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    let videos: Vec<Option<String>> = second.rows.iter().map(|r| r.video_no.clone()).collect();
    assert_eq!(videos, vec![Some("VI2".into())], "VI1 is the first claim's");
    assert_ne!(first.token, second.token);
}

async fn a_held_video_is_set_held_at_the_claim_and_at_the_request(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    rig.exec("INSERT INTO legal_holds (video_no, reason) VALUES ('VI1', 'court')")
        .await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    assert_eq!(claim.held, 1);
    assert_eq!(rig.row("VI1").await.status, "held");
    // A hold placed after the claim stops the request where it is recorded.
    rig.exec(
        "INSERT INTO legal_holds (video_no, unique_id, reason) VALUES ('VI2', 'default', 'court')",
    )
    .await;
    let started = rig.start(&claim.token, &["VI2"]).await;
    assert_eq!(started, Started::Held(1));
    let row = rig.row("VI2").await;
    assert_eq!((row.status.as_str(), row.claimed), ("held", false));
    // Released by hand: take-back frees held rows no hold covers.
    rig.exec("DELETE FROM legal_holds").await;
    rig.queue.take_back_expired().await.unwrap();
    assert!(rig.rows().await.iter().all(|r| r.status == "pending"));
    rig.chain_holds().await;
}

async fn an_answer_settles_with_its_proof_and_the_chain_holds(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    send(&rig, &answer(Outcome::Deleted, Some("0000")), &DELETED).await;
    for row in rig.rows().await {
        assert_eq!(row.status, "deleted");
        assert_eq!(row.proof.as_deref(), Some(Proof::Answered.as_str()));
        assert!(!row.claimed);
    }
    let last = rig.queue.last_good_answer(Duration::from_secs(60)).await;
    assert_eq!(
        last.unwrap(),
        Some(Duration::from_millis(5)),
        "its round trip"
    );
    let (seq, _) = rig.queue.chain_head().await.unwrap();
    assert!(seq >= 2, "the request and its answer are chained");
    rig.chain_holds().await;
    // Edited by hand, the chain says so.
    rig.exec("UPDATE deletion_queue SET video_no = 'VI9' WHERE id = 1")
        .await;
    let verdict = rig.queue.verify_chain().await.unwrap();
    assert!(verdict.mismatches > 0);
}

async fn a_lost_answer_leaves_rows_in_flight_in_doubt_and_a_lookup_settles_them(rig: Rig) {
    rig.insert("default", &["VI1", "VI2", "VI3"]).await;
    let lost = answer(Outcome::Retry, None);
    let kept = RowsEffect::Kept {
        note: "timed out".into(),
        refused: false,
    };
    let (token, _) = send(&rig, &lost, &kept).await;
    assert!(rig.rows().await.iter().all(|r| r.status == "in_flight"));
    let last = rig.queue.last_good_answer(Duration::from_secs(60)).await;
    assert_eq!(last.unwrap(), None, "a lost answer is not a good one");
    // The lookup: VI1 listed, VI2 gone after our request, VI3 to look again.
    let missing = [("VI2", Miss::Deleted), ("VI3", Miss::LookAgain)];
    let settled = rig.lookup(&token, &["VI1"], &missing).await;
    assert_eq!((settled.deleted, settled.absent), (1, 0));
    let vi2 = rig.row("VI2").await;
    assert_eq!(
        (vi2.status.as_str(), vi2.proof.as_deref(), vi2.checked),
        ("deleted", Some(Proof::LostUnlisted.as_str()), false),
        "a miss after a lost answer, never listed before: not verified"
    );
    let vi3 = rig.row("VI3").await;
    assert_eq!((vi3.status.as_str(), vi3.claimed), ("pending", false));
    assert_eq!(rig.row("VI1").await.status, "in_flight");
    // Listed before our request whose answer was lost, and gone now: verified.
    rig.lookup(&token, &[], &[("VI1", Miss::Deleted)]).await;
    let vi1 = rig.row("VI1").await;
    assert_eq!(
        (vi1.status.as_str(), vi1.proof.as_deref(), vi1.checked),
        ("deleted", Some(Proof::ListedLostUnlisted.as_str()), true),
        "listed before our request, gone after it: verified"
    );
    // Listed, then sent and answered: proven by the lookup and the answer.
    rig.queue.release(&token, None).await.unwrap();
    rig.exec("UPDATE deletion_queue SET recheck_at = NULL")
        .await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    let videos = ids(&["VI3"]);
    rig.lookup(&claim.token, &["VI3"], &[]).await;
    let Started::Request(batch) = rig
        .queue
        .start_request(&claim.token, &Namespace::default(), &videos, 2, None, LEASE)
        .await
        .unwrap()
    else {
        panic!("not started")
    };
    let deleted = answer(Outcome::Deleted, Some("0000"));
    rig.finish(&claim.token, batch, &["VI3"], &deleted, &DELETED)
        .await;
    assert_eq!(
        rig.row("VI3").await.proof.as_deref(),
        Some(Proof::ListedAnswered.as_str())
    );
    rig.chain_holds().await;
}

async fn history_settles_only_from_a_chained_deletion(rig: Rig) {
    rig.insert("default", &["VI1"]).await;
    send(&rig, &answer(Outcome::Deleted, Some("0000")), &DELETED).await;
    // A row written deleted by hand proves nothing.
    rig.exec("INSERT INTO deletion_queue (video_no, status) VALUES ('VI2', 'deleted')")
        .await;
    rig.insert("default", &["VI1", "VI2"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    assert_eq!(
        claim.settled_before, 1,
        "VI1 again, from the chained deletion"
    );
    let videos: Vec<Option<String>> = claim.rows.iter().map(|r| r.video_no.clone()).collect();
    assert_eq!(videos, vec![Some("VI2".into())], "VI2 is sent");
    let rows = rig.rows().await;
    let again = rows.iter().rfind(|r| r.video_no == "VI1");
    assert_eq!(
        again.and_then(|r| r.proof.as_deref()),
        Some(Proof::History.as_str())
    );
    rig.queue.release(&claim.token, None).await.unwrap();
    rig.exec("DELETE FROM deletion_queue WHERE id = 2").await;
    rig.chain_holds().await;
}

async fn a_video_refused_for_good_fails_its_other_rows(rig: Rig) {
    rig.insert("default", &["VI1"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    // Queued again while its request was out: not claimed, failed with it.
    rig.insert("default", &["VI1"]).await;
    let Started::Request(batch) = rig.start(&claim.token, &["VI1"]).await else {
        panic!("not started")
    };
    let refused = RowsEffect::Failed("refused: 0409".into());
    let record = answer(Outcome::Rejected, Some("0409"));
    let changed = rig
        .finish(&claim.token, batch, &["VI1"], &record, &refused)
        .await;
    assert_eq!(changed, 2);
    let proofs: Vec<(String, Option<String>)> = rig
        .rows()
        .await
        .into_iter()
        .map(|r| (r.status, r.proof))
        .collect();
    assert_eq!(
        proofs,
        vec![
            ("failed".into(), Some(Proof::Refused.as_str().into())),
            ("failed".into(), Some(Proof::RefusedVideo.as_str().into())),
        ]
    );
    rig.chain_holds().await;
}

async fn a_request_whose_rows_were_taken_back_does_not_go(rig: Rig) {
    rig.insert("default", &["VI1"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    rig.exec("UPDATE deletion_queue SET claimed_by = 'another', status = 'in_flight'")
        .await;
    let started = rig.start(&claim.token, &["VI1"]).await;
    assert_eq!(started, Started::Lost);
    assert!(rig.queue.others_requests().await.unwrap().is_empty());
    rig.chain_holds().await;
}

async fn expired_and_impossible_leases_are_taken_back(rig: Rig) {
    rig.insert("default", &["VI1", "VI2", "VI3"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    let expired = rig.now_plus(-1);
    rig.exec(&format!(
        "UPDATE deletion_queue SET lease_until = {expired} WHERE id = 1"
    ))
    .await;
    rig.exec("UPDATE deletion_queue SET lease_until = '9999-01-01 00:00:00' WHERE id = 2")
        .await;
    assert_eq!(rig.queue.take_back_expired().await.unwrap(), 2);
    let statuses: Vec<String> = rig.rows().await.into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec!["pending", "pending", "in_flight"]);
    // Renewed, the claim's row stays; released, it is pending again.
    rig.queue.renew(&claim.token, LEASE).await.unwrap();
    assert_eq!(rig.queue.take_back_expired().await.unwrap(), 0);
}

async fn a_request_renews_only_leases_that_run_short(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    let soon = rig.now_plus(5);
    rig.exec(&format!(
        "UPDATE deletion_queue SET lease_until = {soon} WHERE id = 1"
    ))
    .await;
    let before = rig.leases().await;
    // The request carries VI2; the whole claim's short leases are renewed with it.
    let started = rig.start(&claim.token, &["VI2"]).await;
    assert!(matches!(started, Started::Request(_)), "{started:?}");
    let after = rig.leases().await;
    assert_ne!(after[0], before[0], "the lease that ran short is renewed");
    assert_eq!(after[1], before[1], "a fresh lease is not written again");
    // The claim's guard renews every lease.
    tokio::time::sleep(Duration::from_millis(20)).await;
    rig.queue.renew(&claim.token, LEASE).await.unwrap();
    assert_ne!(rig.leases().await[1], after[1]);
}

async fn release_gives_rows_back(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    assert_eq!(
        rig.queue
            .release(&claim.token, Some("stopping"))
            .await
            .unwrap(),
        2
    );
    assert!(rig
        .rows()
        .await
        .iter()
        .all(|r| r.status == "pending" && !r.claimed));
    assert!(rig.queue.claim(100, LEASE).await.unwrap().is_some());
}

async fn checks_after_deleting_verify_or_send_again(rig: Rig) {
    rig.insert("default", &["VI1", "VI2", "VI3"]).await;
    let soon = RowsEffect::Deleted {
        check_after: Some(Duration::from_secs(1)),
    };
    send(&rig, &answer(Outcome::Deleted, Some("0000")), &soon).await;
    assert!(rig.claim_checks().await.is_none(), "not yet");
    rig.exec("UPDATE deletion_queue SET check_at = '2000-01-01 00:00:00'")
        .await;
    let unchecked = rig.claim_checks().await.expect("checks due");
    assert_eq!(unchecked.namespace.as_deref(), Some("default"));
    assert_eq!(unchecked.rows.len(), 3);
    assert!(rig.claim_checks().await.is_none(), "claimed");
    let checks = [
        (1, Check::Gone),
        (2, Check::Listed),
        (3, Check::Later(LEASE)),
    ];
    let checked = rig
        .queue
        .record_check(&Namespace::default(), &checks, 2)
        .await
        .unwrap();
    assert_eq!(
        (
            checked.verified,
            checked.resent,
            checked.failed,
            checked.postponed
        ),
        (1, 1, 0, 1)
    );
    let rows = rig.rows().await;
    assert_eq!(rows[0].proof.as_deref(), Some(Proof::AnsweredGone.as_str()));
    assert_eq!(
        (rows[1].status.as_str(), rows[1].proof.as_deref()),
        ("pending", None)
    );
    assert_eq!(rows[2].status, "deleted");
    rig.chain_holds().await;
}

async fn unsent_rows_fail_as_invalid(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    rig.queue
        .fail_unsent(&claim.token, &[(1, "invalid video number".into())])
        .await
        .unwrap();
    let rows = rig.rows().await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].proof.as_deref()),
        ("failed", Some(Proof::Invalid.as_str()))
    );
    assert_eq!(rows[1].status, "in_flight");
    rig.chain_holds().await;
}

async fn other_senders_requests_are_counted(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    send(&rig, &answer(Outcome::Deleted, Some("0000")), &DELETED).await;
    assert!(
        rig.queue.others_requests().await.unwrap().is_empty(),
        "our own"
    );
    let other = rig.queue.under_new_sender();
    let recorded = other.others_requests().await.unwrap();
    assert_eq!(recorded.len(), 1, "another sender's, within two seconds");
    assert!(recorded[0].ago < Duration::from_secs(2));
}

/// The stall gauge counts a due row a pass holds: with the API down, rows are in flight
/// most of the time, and an age of pending rows alone kept falling to 0.
async fn the_oldest_due_age_counts_rows_in_flight_and_not_settled_ones(rig: Rig) {
    assert_eq!(rig.queue.gauges(None).await.unwrap().oldest_due, None);
    rig.insert("default", &["VI1", "VI2", "VI3"]).await;
    let (hour_ago, two_hours_ago, in_an_hour, lease) = (
        rig.now_plus(-3600),
        rig.now_plus(-7200),
        rig.now_plus(3600),
        rig.now_plus(60),
    );
    rig.exec(&format!(
        "UPDATE deletion_queue SET status = 'in_flight', claimed_by = 'someone',
                lease_until = {lease}, due_at = {hour_ago} WHERE id = 1;
         UPDATE deletion_queue SET status = 'deleted', due_at = {two_hours_ago} WHERE id = 2;
         UPDATE deletion_queue SET due_at = {in_an_hour} WHERE id = 3"
    ))
    .await;
    let age = rig.queue.gauges(None).await.unwrap().oldest_due;
    let seconds = age.expect("a due row in flight is counted").as_secs();
    assert!((3599..3700).contains(&seconds), "{seconds}");
}

/// "Due" is one thing in the report, the log and `run --once`: a row whose lookup missed
/// its video waits for the next one, counted apart.
async fn a_missed_row_is_not_due_until_its_next_lookup(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    rig.lookup(&claim.token, &["VI1"], &[("VI2", Miss::LookAgain)])
        .await;
    rig.queue.release(&claim.token, None).await.unwrap();
    let report = rig.queue.report(0).await.unwrap();
    assert_eq!((report.due, report.awaiting_lookup.rows), (1, 1));
    assert_ne!(report.awaiting_lookup.first, Cell::Null);
    assert_eq!(rig.queue.due_pending().await.unwrap(), 1);
    // Its time come, it is due again.
    rig.exec("UPDATE deletion_queue SET recheck_at = NULL")
        .await;
    let report = rig.queue.report(0).await.unwrap();
    assert_eq!((report.due, report.awaiting_lookup.rows), (2, 0));
    assert_eq!(report.awaiting_lookup.first, Cell::Null);
}

/// The sender's lease is renewed while this process's writers queue: behind them all, on
/// a loaded host, a renewal ran the lease out and stopped the pass that held them up.
/// PostgreSQL: every pooled connection in a transaction, the lease goes by its own.
/// SQLite (one writer): the lease comes next but one, ahead of writers still in line.
async fn the_lease_is_asked_for_without_waiting_behind_this_processs_writers(rig: Rig) {
    async fn ask(queue: &Queue) {
        // Bounded only so that a lease stuck behind the writers fails here instead of
        // hanging the suite.
        let asked = tokio::time::timeout(
            Duration::from_secs(30),
            queue.lead("this process", Duration::from_secs(15)),
        )
        .await;
        assert!(
            matches!(asked, Ok(Ok(Lead::Granted))),
            "the lease waited behind this process's writers: {asked:?}"
        );
    }
    match &rig.queue {
        Queue::Postgres(driver) => {
            let mut writing = Vec::new();
            for _ in 0..super::postgres::CONNECTIONS {
                writing.push(driver.begin(Access::Write).await.expect("a connection"));
            }
            ask(&rig.queue).await;
        }
        Queue::Sqlite(driver) => {
            // One writer holds the turn; three more wait, then the lease asks. (The test
            // runs on one thread: each task runs until it waits on a lock, in this order.)
            let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let holding = driver.begin(Access::Write).await.expect("the turn");
            let mut waiting = Vec::new();
            for name in ["first", "second", "third"] {
                let (driver, order) = (driver.clone(), order.clone());
                waiting.push(tokio::spawn(async move {
                    let turn = driver.begin(Access::Write).await.expect("a turn");
                    order.lock().expect("the order").push(name);
                    drop(turn);
                }));
                tokio::task::yield_now().await;
            }
            let (queue, lease_order) = (rig.queue.clone(), order.clone());
            let lease = tokio::spawn(async move {
                ask(&queue).await;
                lease_order.lock().expect("the order").push("lease");
            });
            tokio::task::yield_now().await;
            drop(holding);
            lease.await.expect("the lease's task");
            for writer in waiting {
                writer.await.expect("a writer's task");
            }
            let order = order.lock().expect("the order").clone();
            assert_eq!(order, ["first", "lease", "second", "third"]);
        }
    }
}

/// A migration recorded with another checksum than this binary's (another build migrated
/// the database, or a hand edited `_sqlx_migrations`) is refused when the queue is opened
/// to migrate, current or not.
async fn a_migration_applied_from_another_text_is_refused(rig: Rig) {
    let sum = match &rig.queue {
        Queue::Sqlite(_) => "X'00'",
        Queue::Postgres(_) => "'\\x00'::bytea",
    };
    rig.exec(&format!(
        "UPDATE _sqlx_migrations SET checksum = {sum} WHERE version = 5"
    ))
    .await;
    let refused = Queue::open(&rig.database, Duration::from_secs(5)).await;
    let error = refused
        .expect_err("a changed migration is refused")
        .to_string();
    assert!(error.contains("migration 0005"), "{error}");
    assert!(error.contains("another text"), "{error}");
}

/// The lookup before a request is recorded with the request (`listed` ago, by the
/// database's clock), clearing a miss recorded before it; a request not looked up
/// leaves the rows' listing as it was, and its answer proves only itself.
async fn a_request_records_the_lookup_that_listed_its_rows(rig: Rig) {
    rig.insert("default", &["VI1", "VI2"]).await;
    let claim = rig.queue.claim(100, LEASE).await.unwrap().expect("a claim");
    // A miss recorded on VI1 by an earlier lookup.
    rig.exec(
        "UPDATE deletion_queue SET missed_at = updated_at, recheck_at = updated_at
          WHERE video_no = 'VI1'",
    )
    .await;
    let start = |videos: Vec<VideoNo>, listed: Option<tokio::time::Instant>| {
        let (queue, token) = (&rig.queue, &claim.token);
        async move {
            let started = queue
                .start_request(token, &Namespace::default(), &videos, 1, listed, LEASE)
                .await;
            match started.expect("start a request") {
                Started::Request(batch) => batch,
                other => panic!("not started: {other:?}"),
            }
        }
    };
    let ninety_ago = tokio::time::Instant::now() - Duration::from_secs(90);
    let listed = start(ids(&["VI1"]), Some(ninety_ago)).await;
    let (ago, missed) = rig.listing("VI1").await;
    let ago = ago.expect("VI1 is recorded listed");
    assert!((89.0..120.0).contains(&ago), "listed {ago} s ago, not 90");
    assert!(!missed, "the listing clears the miss before it");
    let unlooked = start(ids(&["VI2"]), None).await;
    assert_eq!(rig.listing("VI2").await, (None, false), "not looked up");
    let deleted = answer(Outcome::Deleted, Some("0000"));
    rig.finish(&claim.token, listed, &["VI1"], &deleted, &DELETED)
        .await;
    rig.finish(&claim.token, unlooked, &["VI2"], &deleted, &DELETED)
        .await;
    assert_eq!(
        rig.row("VI1").await.proof.as_deref(),
        Some(Proof::ListedAnswered.as_str())
    );
    assert_eq!(
        rig.row("VI2").await.proof.as_deref(),
        Some(Proof::Answered.as_str())
    );
    rig.chain_holds().await;
}
