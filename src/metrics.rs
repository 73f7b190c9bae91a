//! Prometheus metrics: what an operator is paged on, served at `[metrics] listen`.
//!
//! The counters are fed where the events are logged (`pass::journal`, the API client's
//! pace), so a metric and its log line cannot disagree; the queue's gauges (rows by
//! status, the age of the oldest due row) are read from the database at each scrape, so
//! they are true even while no pass runs. Names follow Prometheus's conventions
//! (`memories_reaper_…_total`, `_seconds`); `tests/monitoring.sh` holds them to
//! `promtool check metrics`, and `monitoring/` alerts on them.
//!
//! The recorder is process-wide, like the log, and installed only when metrics are served;
//! without it every update is a no-op.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::schedule::{self, CronRule};
use crate::vocabulary::{Outcome, Proof, RowStatus};

const ROWS: &str = "memories_reaper_rows";
const NAMESPACE_ROWS: &str = "memories_reaper_namespace_rows";
const SETTLED_ROWS: &str = "memories_reaper_settled_rows";
const OLDEST_DUE: &str = "memories_reaper_oldest_due_age_seconds";
const LEGAL_HOLDS: &str = "memories_reaper_legal_holds";
const REQUESTS: &str = "memories_reaper_requests_total";
const REQUEST_DURATION: &str = "memories_reaper_request_duration_seconds";
const SETTLED: &str = "memories_reaper_rows_settled_total";
const PASSES: &str = "memories_reaper_passes_total";
const PASS_DURATION: &str = "memories_reaper_pass_duration_seconds";
const LAST_PASS_END: &str = "memories_reaper_last_pass_end_timestamp_seconds";
const LAST_PASS: &str = "memories_reaper_last_pass";
const PACE: &str = "memories_reaper_pace_requests_per_second";
const KEY_REFUSED: &str = "memories_reaper_api_key_refused";
const LOOKUPS_UNAVAILABLE: &str = "memories_reaper_lookups_unavailable_total";
const BUILD_INFO: &str = "memories_reaper_build_info";
const SCHEDULE_INTERVAL: &str = "memories_reaper_schedule_interval_seconds";
const RULE_TRIPPED: &str = "memories_reaper_rule_tripped";
const RULE_ENQUEUED: &str = "memories_reaper_rule_enqueued_total";

/// The codes the API documents; any other is counted as `other`, so that an unknown code
/// cannot mint a new series with every answer.
const CODES: [&str; 9] = [
    "0000", "0001", "0003", "0401", "0402", "0403", "0409", "0429", "9009",
];

/// How a pass ended, as the `end` label says it.
pub const ENDS: [&str; 3] = ["drained", "interrupted", "stopped"];

/// Installs the process's recorder, describes every metric, and returns what renders them.
/// Without it (no `metrics.listen`) the updates below cost nothing and go nowhere.
fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_DURATION.into()),
            &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(PASS_DURATION.into()),
            &[1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0],
        )?
        .install_recorder()?;
    describe_gauge!(ROWS, "Rows of the queue by status, read at each scrape");
    describe_gauge!(
        SETTLED_ROWS,
        "Settled rows by status and by what proves it (a proof of vocabulary::Proof; \
         unrecorded: settled before proofs were recorded), read at each scrape"
    );
    describe_gauge!(
        OLDEST_DUE,
        "How long the oldest due row not yet settled (pending or in flight) has been due, 0 \
         when none is: deletions stall when this grows"
    );
    describe_gauge!(
        LEGAL_HOLDS,
        "Legal holds in force (`memories-reaper hold list`); their rows count as status held"
    );
    describe_counter!(REQUESTS, "Delete Videos requests by outcome and API code");
    describe_histogram!(
        REQUEST_DURATION,
        "Delete Videos requests, from the send to the answer"
    );
    describe_counter!(
        SETTLED,
        "Rows settled by final status (deleted, failed, absent), counted as they settle"
    );
    describe_counter!(PASSES, "Passes by how they ended");
    describe_histogram!(PASS_DURATION, "Passes, from the first claim to the end");
    describe_gauge!(LAST_PASS_END, "When the last pass ended, Unix time");
    describe_gauge!(
        LAST_PASS,
        "How the last pass ended: 1 for its end, 0 for the others"
    );
    describe_gauge!(
        PACE,
        "The pace the rate limit allows Delete Videos requests now: below the configured \
         rate after the API answered too many requests"
    );
    describe_gauge!(
        KEY_REFUSED,
        "1 when the API's last answer refused the key (0401, 9009, HTTP 401 or 403), until a \
         request is accepted"
    );
    describe_counter!(
        LOOKUPS_UNAVAILABLE,
        "Passes that could not look before deleting (lookups failing or untrustworthy): what \
         they deleted is recorded unverified"
    );
    describe_gauge!(BUILD_INFO, "The running version, as a label");
    describe_gauge!(
        SCHEDULE_INTERVAL,
        "The time between the cron rule's next two wake times: a pass should end at least \
         this often"
    );
    describe_gauge!(
        RULE_TRIPPED,
        "1 while a lifecycle rule's listing waits on a trip-wire (`memories-reaper rules \
         confirm RULE`, or change the rule); 0 otherwise"
    );
    describe_counter!(RULE_ENQUEUED, "Videos a lifecycle rule put in the queue");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // Every series an alert reads exists from the start, at 0.
    gauge!(KEY_REFUSED).set(0.0);
    counter!(LOOKUPS_UNAVAILABLE).absolute(0);
    for status in RowStatus::SETTLED {
        counter!(SETTLED, "status" => status.as_str()).absolute(0);
    }
    for end in ENDS {
        counter!(PASSES, "end" => end).absolute(0);
    }
    Ok(handle)
}

/// A request's answer (`pass::journal::request`): its outcome, the API's code (`None`:
/// no answer to read one from), how long it took, and whether the API refused the key.
pub fn request(outcome: Outcome, code: Option<&str>, took: Duration, refuses_key: bool) {
    let code = match code {
        None => "none",
        Some(code) => CODES
            .iter()
            .find(|c| **c == code)
            .copied()
            .unwrap_or("other"),
    };
    counter!(REQUESTS, "outcome" => outcome.as_str(), "code" => code).increment(1);
    histogram!(REQUEST_DURATION).record(took.as_secs_f64());
    if refuses_key {
        key_refused(true);
    } else if outcome == Outcome::Deleted {
        key_refused(false);
    }
}

/// The API refused the key (a deletion or a lookup), or accepted it again.
pub fn key_refused(refused: bool) {
    gauge!(KEY_REFUSED).set(f64::from(u8::from(refused)));
}

/// A pass's end (`pass::journal::pass_end`): `end` is one of [`ENDS`] (another is counted
/// as stopped).
pub fn pass_end(end: &str, took: Duration) {
    let end = ENDS.iter().copied().find(|e| *e == end).unwrap_or(ENDS[2]);
    counter!(PASSES, "end" => end).increment(1);
    for other in ENDS {
        gauge!(LAST_PASS, "end" => other).set(f64::from(u8::from(other == end)));
    }
    histogram!(PASS_DURATION).record(took.as_secs_f64());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    gauge!(LAST_PASS_END).set(now.as_secs_f64());
}

/// Rows settled with a final status, as they settle (`pass::PassReport::settled`).
pub fn rows_settled(status: RowStatus, rows: u64) {
    counter!(SETTLED, "status" => status.as_str()).increment(rows);
}

/// A pass that could not look before deleting (`pass::journal::unverified`).
pub fn lookups_unavailable() {
    counter!(LOOKUPS_UNAVAILABLE).increment(1);
}

/// The schedule armed: how far apart its next two wake times are.
pub fn schedule(rule: &CronRule, zone: chrono_tz::Tz) {
    if let [first, second] = schedule::next_times(rule, chrono::Utc::now(), zone, 2)[..] {
        let apart = (second - first).num_milliseconds() as f64 / 1000.0;
        gauge!(SCHEDULE_INTERVAL).set(apart);
    }
}

/// A lifecycle rule armed: its series exist from the start, at 0.
pub fn rule_armed(rule: &str) {
    gauge!(RULE_TRIPPED, "rule" => rule.to_owned()).set(0.0);
    counter!(RULE_ENQUEUED, "rule" => rule.to_owned()).absolute(0);
}

/// A rule's run ended: its listing held by a trip-wire, or not.
pub fn rule_tripped(rule: &str, tripped: bool) {
    gauge!(RULE_TRIPPED, "rule" => rule.to_owned()).set(f64::from(u8::from(tripped)));
}

/// Videos a rule's run put in the queue.
pub fn rule_enqueued(rule: &str, videos: u64) {
    counter!(RULE_ENQUEUED, "rule" => rule.to_owned()).increment(videos);
}

/// The pace the rate limit now allows, requests a second.
pub fn pace(per_second: f64) {
    gauge!(PACE).set(per_second);
}

/// At most this many connections are open at once. The daemon's file descriptors and
/// database connections are its deletions': a flood of connections to the metrics port
/// must not starve them. A connection over the limit takes the place of the oldest one
/// still sending its request (a slow or idle client), so trickling clients cannot keep a
/// scrape out; only when every place is answering a scrape is it closed at once.
const CONNECTIONS: usize = 16;
/// A connection is closed after this long, whatever it is doing...
const CONNECTION_TIME: Duration = Duration::from_secs(10);
/// ...and after this long without a whole request: an idle one gives its place back soon.
const HEADER_TIME: Duration = Duration::from_secs(1);
/// The queue's gauges are read at most this often: concurrent scrapes share one reading.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// A reading that takes longer is given up; the gauges keep their last values.
const READING_TIME: Duration = Duration::from_secs(3);
/// With `metrics.by_namespace`, the namespaces shown by name: those with the most rows.
/// The others are summed under `namespace=""`, which no namespace can be: a scrape stays
/// small (and the daemon's memory flat) at any number of namespaces.
pub const NAMESPACES_SHOWN: usize = 100;

/// The queue's gauges for the metrics, read at each scrape (`queue::report::gauges`).
pub struct Gauges {
    /// (status, proof, rows); the proof `None` for rows not settled, or settled before
    /// proofs were recorded.
    pub counts: Vec<(String, Option<String>, i64)>,
    /// With `metrics.by_namespace`: (namespace, status, rows) of the largest namespaces by
    /// rows, at most the number asked; `None` for the others, summed.
    pub namespaces: Vec<(Option<String>, String, i64)>,
    /// How long the oldest due row not yet settled (pending, or in flight) has been due;
    /// `None` when no such row is.
    pub oldest_due: Option<Duration>,
    /// Legal holds in force.
    pub holds: i64,
}

/// Where a scrape reads the gauges from (the queue): given as a value, so that the metrics
/// know nothing of the queue.
pub trait GaugeSource: Send + Sync + 'static {
    /// The gauges, with the `namespaces` largest namespaces when asked; an error in words.
    fn read(
        &self,
        namespaces: Option<usize>,
    ) -> impl Future<Output = Result<Gauges, String>> + Send;
}

/// What a scrape reads and renders: the queue's gauges (read at most once a second, by one
/// scrape at a time), then every metric in Prometheus's text format.
struct Scraper<S> {
    handle: PrometheusHandle,
    source: S,
    by_namespace: bool,
    last: tokio::sync::Mutex<Reading>,
}

/// When the gauges were last read; the settled rows' (status, proof) series set so far
/// (one that has no rows any more reads 0, not its last count: a bounded set); and the
/// namespaces' lines as rendered, which hold only the namespaces of the last reading.
#[derive(Default)]
struct Reading {
    at: Option<tokio::time::Instant>,
    proofs: HashSet<(String, String)>,
    namespaces: String,
}

impl<S: GaugeSource> Scraper<S> {
    async fn scrape(&self) -> String {
        let mut last = self.last.lock().await;
        let stale = last.at.is_none_or(|at| at.elapsed() >= FRESH_FOR);
        if stale {
            let shown = self.by_namespace.then_some(NAMESPACES_SHOWN);
            match tokio::time::timeout(READING_TIME, self.source.read(shown)).await {
                Ok(Ok(gauges)) => {
                    last.at = Some(tokio::time::Instant::now());
                    last.namespaces = namespace_lines(self.by_namespace, &gauges.namespaces);
                    last.proofs = set(gauges, std::mem::take(&mut last.proofs));
                }
                Ok(Err(e)) => debug!("metrics: cannot read the queue's gauges: {e}"),
                Err(_) => debug!("metrics: reading the queue's gauges took too long"),
            }
        }
        let namespaces = last.namespaces.clone();
        drop(last);
        self.handle.run_upkeep();
        self.handle.render() + &namespaces
    }
}

/// Sets the queue's gauges; returns the (status, proof) series set.
fn set(gauges: Gauges, before: HashSet<(String, String)>) -> HashSet<(String, String)> {
    let mut rows: Vec<(String, f64)> = RowStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0.0))
        .collect();
    let mut settled: HashMap<(String, String), f64> = HashMap::new();
    for (status, proof, n) in gauges.counts {
        let n = n as f64;
        match rows.iter_mut().find(|(s, _)| *s == status) {
            Some((_, total)) => *total += n,
            None => rows.push((status.clone(), n)),
        }
        if RowStatus::SETTLED.iter().any(|s| s.as_str() == status) {
            // A bounded set of labels, whatever a hand wrote into the column.
            let proof = match proof.as_deref() {
                None => Proof::UNRECORDED,
                Some(p) => Proof::parse(p).map_or("other", Proof::as_str),
            };
            *settled.entry((status, proof.to_owned())).or_default() += n;
        }
    }
    let now: HashSet<(String, String)> = settled.keys().cloned().collect();
    for ((status, proof), n) in settled {
        gauge!(SETTLED_ROWS, "status" => status, "proof" => proof).set(n);
    }
    for (status, proof) in before.difference(&now) {
        gauge!(SETTLED_ROWS, "status" => status.clone(), "proof" => proof.clone()).set(0.0);
    }
    for (status, n) in rows {
        gauge!(ROWS, "status" => status).set(n);
    }
    gauge!(OLDEST_DUE).set(gauges.oldest_due.map_or(0.0, |age| age.as_secs_f64()));
    gauge!(LEGAL_HOLDS).set(gauges.holds as f64);
    now.union(&before).cloned().collect()
}

/// The namespaces' rows in Prometheus's text format, written here rather than through the
/// recorder: only the namespaces of this reading appear (a namespace that left the queue
/// leaves the scrape), and at most [`NAMESPACES_SHOWN`] of them by name.
fn namespace_lines(by_namespace: bool, rows: &[(Option<String>, String, i64)]) -> String {
    if !by_namespace {
        return String::new();
    }
    let mut text = format!(
        "# HELP {NAMESPACE_ROWS} Rows of the queue by namespace and status, for the \
         {NAMESPACES_SHOWN} namespaces with the most rows; the others summed under \
         namespace=\"\" (metrics.by_namespace = true only)\n# TYPE {NAMESPACE_ROWS} gauge\n"
    );
    for (namespace, status, n) in rows {
        let namespace = namespace.as_deref().unwrap_or("");
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "{NAMESPACE_ROWS}{{namespace=\"{}\",status=\"{}\"}} {n}",
            label(namespace),
            label(status)
        );
    }
    text
}

/// A label's value as Prometheus's text format writes it (cut: a producer's namespace may
/// be long).
fn label(value: &str) -> String {
    crate::printable::cut(value, 128)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub struct Server {
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
}

impl Server {
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!(
                "metrics.listen {addr}: cannot listen ({e}); choose a free port, or leave \
                 metrics.listen out"
            )
        })?;
        let handle =
            install().map_err(|e| anyhow::anyhow!("metrics: cannot start the recorder: {e}"))?;
        Ok(Self { listener, handle })
    }

    /// The address bound (the port the system chose, for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` until `shutdown`: one request a connection, `CONNECTIONS` at
    /// once, each closed after `CONNECTION_TIME`.
    pub fn serve(self, source: impl GaugeSource, by_namespace: bool, shutdown: CancellationToken) {
        let scraper = Arc::new(Scraper {
            handle: self.handle,
            source,
            by_namespace,
            last: Default::default(),
        });
        let places = Places::default();
        let listener = self.listener;
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        debug!("metrics: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Every place answering a scrape: closed at once (dropped).
                let Some(place) = places.take() else {
                    continue;
                };
                let scraper = scraper.clone();
                tokio::spawn(async move {
                    let asked = place.asked.clone();
                    let service = hyper::service::service_fn(move |request| {
                        let scraper = scraper.clone();
                        asked.store(true, Ordering::Relaxed);
                        async move { Ok::<_, std::convert::Infallible>(answer(&scraper, request).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIME)
                        .keep_alive(false)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::select! {
                        _ = place.evicted.cancelled() => {}
                        _ = tokio::time::timeout(CONNECTION_TIME, connection) => {}
                    }
                    place.evicted.cancel();
                });
            }
        });
    }
}

/// The metrics port's connections, oldest first (see [`CONNECTIONS`]).
#[derive(Default)]
struct Places(std::sync::Mutex<std::collections::VecDeque<Place>>);

/// One connection's place: whether its request has arrived, and how it is closed (by its
/// end, or by a newer connection taking its place).
#[derive(Clone, Default)]
struct Place {
    asked: Arc<AtomicBool>,
    evicted: CancellationToken,
}

impl Places {
    /// A place for a new connection: a free one, or that of the oldest connection still
    /// waiting for its request; `None` when every place is answering one.
    fn take(&self) -> Option<Place> {
        let mut places = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        places.retain(|p| !p.evicted.is_cancelled());
        if places.len() >= CONNECTIONS {
            let waiting = places
                .iter()
                .position(|p| !p.asked.load(Ordering::Relaxed))?;
            if let Some(old) = places.remove(waiting) {
                old.evicted.cancel();
            }
        }
        let place = Place::default();
        places.push_back(place.clone());
        Some(place)
    }
}

async fn answer<S: GaugeSource>(
    scraper: &Scraper<S>,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (status, content_type, body) =
        if request.method() == hyper::Method::GET && request.uri().path() == "/metrics" {
            let text = scraper.scrape().await;
            (
                hyper::StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            )
        } else {
            let text = "not found: GET /metrics\n".to_owned();
            (
                hyper::StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                text,
            )
        };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
