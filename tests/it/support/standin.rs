//! A stand-in for the Memories.ai Delete Videos API, served on 127.0.0.1.
//!
//! It answers as `shared/memories-api.md` describes: both paths, `unique_id` on v1.2, the
//! raw key in `Authorization`, at most 100 ids, codes inside HTTP 200 answers, `0429` over
//! the account's requests-per-second, `0409` for a video deleted before. Tests script it to
//! misbehave (any status, body, `Retry-After`, hangs) and read back every request it got.
//! With `Faults` it misbehaves at random, from a seed: latency and jitter, 5xx, 429 with
//! and without `Retry-After`, `0429`, hangs, connections reset mid-response, bodies that
//! are not JSON, unknown codes, a refused key. With a log file it writes every request
//! there as a JSON line, for a checker to compare what was asked with what was sent.
//! `examples/standin.rs` serves it for people who want to watch the daemon work, and
//! `examples/soak.rs` runs the daemon against it with faults.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const V1_2_PATH: &str = "/serve/api/v1/delete_videos";
pub const V1_1_PATH: &str = "/serve/api/video/delete_videos";
pub const LIST_VIDEOS_PATH: &str = "/serve/api/v1/list_videos";
pub const LIST_UNIQUE_IDS_PATH: &str = "/serve/api/v1/list_unique_ids";

/// One lookup (`list_videos`, `list_unique_ids`) as it arrived.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// `list_videos`'s namespace.
    pub unique_id: Option<String>,
    /// A `list_videos` asking for some `video_nos` (verification, `locate`); not, a whole
    /// namespace's listing (the lifecycle rules) or `list_unique_ids`.
    pub filtered: bool,
    /// How many `video_nos` it asked for.
    pub asked: usize,
    pub at: Instant,
    pub answered: String,
}

/// How the lookups misbehave, beyond scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Listing {
    /// As documented: the videos asked for that exist.
    #[default]
    Honest,
    /// The `video_nos` filter ignored: every video of the namespace is listed.
    IgnoresFilter,
    /// `page` ignored: every request answers the first page.
    IgnoresPage,
}

/// What `list_videos` shows of a video besides its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Upload time, Unix milliseconds.
    pub create_ms: i64,
    pub status: String,
    pub tags: Vec<String>,
}

impl Default for Meta {
    fn default() -> Self {
        Self {
            create_ms: 1_764_000_000_000,
            status: "PARSE".into(),
            tags: Vec::new(),
        }
    }
}

impl Meta {
    /// As `list_videos` answers it: numbers as strings for ids ending in an even digit,
    /// as integers for the others (the two versions of the docs).
    fn shown(&self, id: &str) -> serde_json::Value {
        let as_text = id.bytes().last().is_some_and(|b| b % 2 == 0);
        let create_time = if as_text {
            serde_json::json!(self.create_ms.to_string())
        } else {
            serde_json::json!(self.create_ms)
        };
        serde_json::json!({
            "video_no": id, "video_name": id, "status": self.status, "duration": "12",
            "size": "1024", "create_time": create_time, "tags": self.tags,
        })
    }
}

/// A catalogue of `n` videos over `namespaces` (the k-th in namespace k mod their
/// number), numbered from `first`: ages spread over 0 to 399 days before `now_ms`, a tenth
/// `PARSE_ERROR` and a tenth `UNPARSE`, a seventh tagged `scratch`; the same at every call.
pub fn varied_catalogue(
    namespaces: &[String],
    n: usize,
    first: u64,
    now_ms: i64,
) -> Vec<((String, String), Meta)> {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    (0..n as u64)
        .map(|k| {
            let mix = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
            let status = match mix % 10 {
                0 => "PARSE_ERROR",
                1 => "UNPARSE",
                _ => "PARSE",
            };
            let tags = if mix.is_multiple_of(7) {
                vec!["scratch".to_owned()]
            } else {
                Vec::new()
            };
            let namespace = namespaces[(k % namespaces.len().max(1) as u64) as usize].clone();
            let meta = Meta {
                // An hour short of whole days: no video sits on a rule's boundary.
                create_ms: now_ms - ((mix >> 8) % 400) as i64 * DAY_MS - 3_600_000,
                status: status.into(),
                tags,
            };
            ((namespace, format!("VI{}", first + k)), meta)
        })
        .collect()
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub unique_id: Option<String>,
    pub authorized: bool,
    pub ids: Vec<String>,
    pub at: Instant,
    /// The `code` answered, or the HTTP status for scripted non-JSON answers.
    pub answered: String,
}

/// What the request log file holds, one JSON line per request.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch, when the request arrived.
    pub at_ms: u128,
    pub path: String,
    /// The namespace the ids were deleted in (`default` when none was given).
    pub namespace: String,
    pub authorized: bool,
    pub ids: Vec<String>,
    pub answered: String,
    /// The random fault this request got, if any.
    pub fault: Option<String>,
    /// Over the account's requests per second: answered `0429` by the limit itself.
    pub over_limit: bool,
    /// The deletion was carried out (answered `0000`, or carried out and then cut).
    pub applied: bool,
    /// The answer reached the client whole (false for resets and hangs).
    pub delivered: bool,
}

/// Random misbehaviour, from a seed.
#[derive(Debug, Clone)]
pub struct Faults {
    pub seed: u64,
    /// The share of requests, 0 to 1, that get a fault, drawn evenly among `Fault::ALL`.
    pub rate: f64,
    /// Added before every answer: `latency` plus up to `jitter`.
    pub latency: Duration,
    pub jitter: Duration,
    /// How long a hung request waits before answering (make it above the client timeout).
    pub hang: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    ServerError,
    TooMany,
    TooManyRetryAfter,
    Busy,
    Hang,
    Reset,
    NotJson,
    UnknownCode,
    KeyRefused,
}

impl Fault {
    const ALL: [Fault; 9] = [
        Fault::ServerError,
        Fault::TooMany,
        Fault::TooManyRetryAfter,
        Fault::Busy,
        Fault::Hang,
        Fault::Reset,
        Fault::NotJson,
        Fault::UnknownCode,
        Fault::KeyRefused,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::ServerError => "http-503",
            Fault::TooMany => "http-429",
            Fault::TooManyRetryAfter => "http-429-retry-after",
            Fault::Busy => "0429",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
            Fault::NotJson => "not-json",
            Fault::UnknownCode => "unknown-code",
            Fault::KeyRefused => "key-refused",
        }
    }
}

/// A scripted answer, used for the next request instead of the normal behaviour.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer with this status and body, and a `Retry-After` header when given.
    Reply {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// Answer nothing for this long (longer than the client's timeout: a hung request).
    Hang(Duration),
}

impl Script {
    pub fn code(code: &str) -> Self {
        Self::Reply {
            status: 200,
            body: format!(
                r#"{{"code":"{code}","msg":"scripted {code}","data":null,"success":false,"failed":true}}"#
            ),
            retry_after: None,
        }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self::Reply {
            status,
            body: body.to_owned(),
            retry_after: None,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Script>,
    /// Answered to every request while set, after the script runs out.
    always: Option<Script>,
    /// Ids answered `0001`.
    rejected: HashSet<String>,
    /// (namespace, id) deleted so far; deleting one again answers `0409`.
    deleted: HashSet<(String, String)>,
    /// When each was deleted: a lagging listing shows it for a while after.
    deleted_at: HashMap<(String, String), Instant>,
    /// Answers `0000` to deletions and deletes nothing.
    lying: bool,
    /// How long a deleted video stays listed.
    listing_lag: Duration,
    /// The most videos a `list_videos` page holds, whatever was asked; the answer then
    /// says its `page_size` (unless `cap_unsaid`) and no `total_count`.
    page_cap: Option<usize>,
    cap_unsaid: bool,
    /// Which videos exist: `None`, every id in every namespace the account has, until it
    /// is deleted (what the tests before lookups assume); `Some`, only these, with what
    /// `list_videos` shows of each.
    catalogue: Option<HashMap<(String, String), Meta>>,
    /// The account's namespaces, besides `default`.
    namespaces: HashSet<String>,
    /// Namespaces `list_videos` created because they did not exist.
    created: Vec<String>,
    listing: Listing,
    /// Lookups per second, counted apart from deletions.
    lookup_per_second: Option<usize>,
    lookups: Vec<Lookup>,
    /// Answered to every lookup while set.
    lookup_always: Option<Script>,
    /// Added before every answer.
    latency: Duration,
    faults: Option<(Faults, StdRng)>,
    /// Requests per second taken from now on, when changed after the start.
    per_second: Option<usize>,
    log: Option<std::fs::File>,
}

#[derive(Clone)]
pub struct Standin {
    pub addr: SocketAddr,
    key: Arc<String>,
    per_second: usize,
    inner: Arc<Mutex<Inner>>,
}

impl Standin {
    /// Serves on an ephemeral port of 127.0.0.1 until the process ends.
    pub async fn start(key: &str, per_second: usize) -> Self {
        Self::start_on(key, per_second, 0)
            .await
            .expect("bind the stand-in on 127.0.0.1")
    }

    /// On a thread and a runtime of its own: an arrival is stamped when it comes, not
    /// when the test's runtime, busy with the test, gets round to it (a request stamped
    /// late made the next one seem too soon, and the stand-in answered 0429).
    pub async fn start_on(key: &str, per_second: usize, port: u16) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let standin = Self {
            addr: listener.local_addr()?,
            key: Arc::new(key.to_owned()),
            per_second,
            inner: Arc::default(),
        };
        let app = Router::new()
            .route(V1_2_PATH, post(delete))
            .route(V1_1_PATH, post(delete))
            .route(LIST_VIDEOS_PATH, post(list_videos))
            .route(LIST_UNIQUE_IDS_PATH, get(list_unique_ids))
            .with_state(standin.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("standin".into())
            .spawn(move || {
                // The API's clock is not on this busy machine: ahead of the test's processes
                // (nice -20, as root; else as it is), the thread stamps arrivals when they
                // come. At the default nice, beside two busy cores, arrivals were stamped
                // 15 to 30 ms late, unevenly, and requests the daemon let out 1,010 ms
                // apart were counted six in a second (0429).
                // SAFETY: setpriority only reads its arguments.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, -20);
                }
                runtime.block_on(async move {
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let _ = axum::serve(listener, app).await;
                    }
                })
            })?;
        Ok(standin)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Script>) {
        self.lock().script.extend(answers);
    }

    pub fn always(&self, answer: Option<Script>) {
        self.lock().always = answer;
    }

    pub fn reject(&self, id: &str) {
        self.lock().rejected.insert(id.to_owned());
    }

    pub fn mark_deleted(&self, namespace: &str, id: &str) {
        self.lock()
            .deleted
            .insert((namespace.to_owned(), id.to_owned()));
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The account's requests per second from now on (someone else taking a share).
    pub fn set_per_second(&self, per_second: usize) {
        self.lock().per_second = Some(per_second);
    }

    /// Misbehave at random from now on; `None` to behave again.
    pub fn set_faults(&self, faults: Option<Faults>) {
        self.lock().faults = faults.map(|f| {
            let rng = StdRng::seed_from_u64(f.seed);
            (f, rng)
        });
    }

    /// Appends every request from now on to this file, as JSON lines (`LogLine`).
    pub fn log_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        self.lock().log = Some(file);
        Ok(())
    }

    /// Makes a namespace exist (`default` always does).
    pub fn add_namespace(&self, namespace: &str) {
        self.lock().namespaces.insert(namespace.to_owned());
    }

    /// From now on only these (namespace, id) exist; their namespaces are added.
    pub fn set_catalogue(&self, videos: impl IntoIterator<Item = (String, String)>) {
        self.set_catalogue_with(videos.into_iter().map(|v| (v, Meta::default())));
    }

    /// The same, each video with its upload time, state and tags.
    pub fn set_catalogue_with(&self, videos: impl IntoIterator<Item = ((String, String), Meta)>) {
        let mut inner = self.lock();
        let videos: HashMap<(String, String), Meta> = videos.into_iter().collect();
        for (namespace, _) in videos.keys() {
            inner.namespaces.insert(namespace.clone());
        }
        inner.catalogue = Some(videos);
    }

    pub fn set_listing(&self, listing: Listing) {
        self.lock().listing = listing;
    }

    /// Answer `0000` to deletions and delete nothing (`false` to behave again).
    pub fn set_lying(&self, lying: bool) {
        self.lock().lying = lying;
    }

    /// A deleted video stays listed this long.
    pub fn set_listing_lag(&self, lag: Duration) {
        self.lock().listing_lag = lag;
    }

    /// Pages of at most `cap` videos, without a `total_count`.
    pub fn set_page_cap(&self, cap: usize) {
        self.lock().page_cap = Some(cap);
    }

    /// Pages of at most `cap` videos, saying neither `page_size` nor `total_count`.
    pub fn set_page_cap_unsaid(&self, cap: usize) {
        let mut inner = self.lock();
        inner.page_cap = Some(cap);
        inner.cap_unsaid = true;
    }

    pub fn set_lookup_per_second(&self, per_second: usize) {
        self.lock().lookup_per_second = Some(per_second);
    }

    pub fn always_for_lookups(&self, answer: Option<Script>) {
        self.lock().lookup_always = answer;
    }

    pub fn lookups(&self) -> Vec<Lookup> {
        self.lock().lookups.clone()
    }

    /// Namespaces `list_videos` created because they did not exist.
    pub fn created_namespaces(&self) -> Vec<String> {
        self.lock().created.clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub fn deleted(&self) -> HashSet<(String, String)> {
        self.lock().deleted.clone()
    }
}

#[derive(serde::Deserialize)]
struct Params {
    unique_id: Option<String>,
}

fn api(code: &str, msg: &str) -> Response {
    let success = code == "0000";
    let body = serde_json::json!({
        "code": code, "msg": msg, "data": null, "success": success, "failed": !success,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn delete(
    State(standin): State<Standin>,
    uri: axum::http::Uri,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let namespace = match path.as_str() {
        V1_2_PATH => params.unique_id.clone().unwrap_or_else(|| "default".into()),
        _ => "default".into(),
    };
    let authorized = authorized(&standin, &headers);
    let ids: Option<Vec<String>> = serde_json::from_slice(&body).ok();
    let now = Instant::now();

    // Decide under the lock, answer after it (latency and hangs must not block others).
    let (script, fault, latency, code, msg) = {
        let mut inner = standin.lock();
        let per_second = inner.per_second.unwrap_or(standin.per_second);
        // The most recent arrivals are at the end; a few more than the limit are enough
        // to tell whether the limit is reached.
        let in_last_second = inner
            .received
            .iter()
            .rev()
            .take(per_second.saturating_add(8))
            .filter(|r| now.duration_since(r.at) < Duration::from_secs(1))
            .count();
        let over_limit = in_last_second >= per_second;
        let script = inner.script.pop_front().or_else(|| inner.always.clone());
        let mut latency = inner.latency;
        let mut fault = None;
        if let Some((faults, rng)) = &mut inner.faults {
            latency += faults.latency + faults.jitter.mul_f64(rng.random::<f64>());
            if rng.random_bool(faults.rate.clamp(0.0, 1.0)) {
                fault = Some(Fault::ALL[rng.random_range(0..Fault::ALL.len())]);
            }
        }
        // Faults that come before the API looks at the request; `Reset` comes after.
        let early_fault = fault.filter(|f| *f != Fault::Reset);
        let (code, msg) = match (&script, &ids) {
            (Some(_), _) => ("scripted", String::new()),
            (None, _) if !authorized => ("0401", "authorization invalid".into()),
            (None, _) if over_limit => ("0429", "Request has exceeded the limit.".into()),
            (None, _) if early_fault.is_some() => ("fault", String::new()),
            (None, None) => ("0001", "body must be a JSON array of video numbers".into()),
            (None, Some(ids)) if ids.is_empty() || ids.len() > 100 => {
                ("0001", "between 1 and 100 video numbers per request".into())
            }
            (None, Some(ids)) if ids.iter().any(|id| inner.rejected.contains(id)) => {
                ("0001", "parameter error: invalid video number".into())
            }
            (None, Some(ids))
                if ids
                    .iter()
                    .any(|id| inner.deleted.contains(&(namespace.clone(), id.clone()))) =>
            {
                ("0409", "duplicate request not allowed".into())
            }
            (None, Some(ids)) => {
                // Unknown ids, and ids of another namespace, are answered 0000 too; a
                // lying API deletes nothing.
                for id in ids {
                    let video = (namespace.clone(), id.clone());
                    if !inner.lying && inner.exists(&video) {
                        inner.deleted_at.insert(video.clone(), now);
                        inner.deleted.insert(video);
                    }
                }
                ("0000", "success".into())
            }
        };
        // Only what the API would have done, and only a fault it answers through.
        let fault = match code {
            "fault" => early_fault,
            "0000" if fault == Some(Fault::Reset) => fault,
            _ => None,
        };
        let answered = match (&script, fault) {
            (Some(Script::Reply { status, body, .. }), _) => {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {status}"))
            }
            (Some(Script::Hang(_)), _) => "hang".into(),
            (None, Some(fault)) => fault.name().into(),
            (None, None) => code.to_owned(),
        };
        let received = Received {
            path,
            unique_id: params.unique_id,
            authorized,
            ids: ids.unwrap_or_default(),
            at: now,
            answered,
        };
        if let Some(file) = &mut inner.log {
            let line = LogLine {
                at_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
                path: received.path.clone(),
                namespace: namespace.clone(),
                authorized,
                ids: received.ids.clone(),
                answered: received.answered.clone(),
                fault: fault.map(|f| f.name().to_owned()),
                over_limit: script.is_none() && authorized && over_limit,
                applied: script.is_none() && code == "0000",
                delivered: !matches!(fault, Some(Fault::Reset | Fault::Hang))
                    && !matches!(script, Some(Script::Hang(_))),
            };
            if let Ok(mut text) = serde_json::to_string(&line) {
                text.push('\n');
                // A log that cannot be written is a checker's problem, not the API's.
                let _ = file.write_all(text.as_bytes());
            }
        }
        inner.received.push(received);
        (script, fault, latency, code, msg)
    };
    tokio::time::sleep(latency).await;
    if let Some(fault) = fault {
        return misbehave(fault, hang_for(&standin)).await;
    }
    match script {
        Some(Script::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            api("0000", "too late")
        }
        Some(Script::Reply {
            status,
            body,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            if let Some(value) = retry_after.and_then(|v| v.parse().ok()) {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        None => api(code, &msg),
    }
}

impl Inner {
    fn has_namespace(&self, namespace: &str) -> bool {
        namespace == "default" || self.namespaces.contains(namespace)
    }

    /// Whether a video exists now (deleted ones do not).
    fn exists(&self, video: &(String, String)) -> bool {
        let known = match &self.catalogue {
            None => self.has_namespace(&video.0),
            Some(catalogue) => catalogue.contains_key(video),
        };
        known && !self.deleted.contains(video)
    }

    /// Whether `list_videos` shows it: it exists, or was deleted within the lag.
    fn listed(&self, video: &(String, String), now: Instant) -> bool {
        self.exists(video)
            || self
                .deleted_at
                .get(video)
                .is_some_and(|at| now.duration_since(*at) < self.listing_lag)
    }

    /// Records a lookup; the script or the lookups' own rate limit may answer it.
    /// Counts a listing call against the lookups' quota, and logs it (`path`: which).
    fn lookup(&mut self, path: &str, lookup: Lookup) -> Result<(), Script> {
        // The lookups' own quota: 5 a second, whatever is left of the deletions'.
        let per_second = self.lookup_per_second.unwrap_or(5);
        let recent = self
            .lookups
            .iter()
            .rev()
            .take(per_second.saturating_add(8))
            .filter(|l| lookup.at.duration_since(l.at) < Duration::from_secs(1))
            .count();
        let answer = match self.lookup_always.clone() {
            Some(script) => Err(script),
            None if recent >= per_second => Err(Script::code("0429")),
            None => Ok(()),
        };
        let answered = match &answer {
            Ok(()) => "0000".to_owned(),
            Err(Script::Reply { status, body, .. }) => {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {status}"))
            }
            Err(Script::Hang(_)) => "hang".into(),
        };
        if let Some(file) = &mut self.log {
            let line = LogLine {
                at_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
                path: path.to_owned(),
                namespace: lookup.unique_id.clone().unwrap_or_default(),
                authorized: true,
                ids: Vec::new(),
                answered: answered.clone(),
                fault: None,
                over_limit: answered == "0429",
                applied: false,
                delivered: true,
            };
            if let Ok(mut text) = serde_json::to_string(&line) {
                text.push('\n');
                let _ = file.write_all(text.as_bytes());
            }
        }
        self.lookups.push(Lookup { answered, ..lookup });
        answer
    }
}

fn authorized(standin: &Standin, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == standin.key.as_str())
}

async fn scripted(script: Script) -> Response {
    match script {
        Script::Hang(duration) => {
            tokio::time::sleep(duration).await;
            api("0000", "too late")
        }
        Script::Reply { status, body, .. } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, body).into_response()
        }
    }
}

/// Listed by a `list_videos` that ignores its filter.
const STRANGERS: [&str; 2] = ["VI100000000000000001", "VI100000000000000002"];

#[derive(serde::Deserialize)]
struct ListVideos {
    #[serde(default)]
    unique_id: Option<String>,
    #[serde(default)]
    video_nos: Option<Vec<String>>,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

/// `POST /list_videos`: the asked videos that exist in the namespace, paged. A namespace
/// that does not exist is created (as one version of the docs says).
async fn list_videos(State(standin): State<Standin>, headers: HeaderMap, body: Bytes) -> Response {
    let asked: Option<ListVideos> = serde_json::from_slice(&body).ok();
    let now = Instant::now();
    let (answer, latency) =
        {
            let mut inner = standin.lock();
            let lookup = Lookup {
                unique_id: asked.as_ref().and_then(|a| a.unique_id.clone()),
                filtered: asked.as_ref().is_some_and(|a| a.video_nos.is_some()),
                asked: asked
                    .as_ref()
                    .and_then(|a| a.video_nos.as_ref())
                    .map_or(0, Vec::len),
                at: now,
                answered: String::new(),
            };
            let latency = inner.latency;
            let answer = if !authorized(&standin, &headers) {
                Err(Script::code("0401"))
            } else {
                inner.lookup(LIST_VIDEOS_PATH, lookup)
            };
            let answer = answer.map(|()| {
            let Some(asked) = asked else {
                return api("0001", "body must be JSON");
            };
            let namespace = asked.unique_id.unwrap_or_else(|| "default".into());
            if !inner.has_namespace(&namespace) {
                inner.created.push(namespace.clone());
                inner.namespaces.insert(namespace.clone());
            }
            // With `video_nos`, those asked that exist; an ignored filter lists videos
            // nobody asked for. Without, every video of the namespace, newest first (the
            // docs state no order: pages shift as videos come and go), by status and tag.
            let listed: Vec<String> = match asked.video_nos {
                Some(mut ids) => {
                    if inner.listing == Listing::IgnoresFilter {
                        ids.extend(STRANGERS.map(str::to_owned));
                    }
                    ids.sort();
                    ids.dedup();
                    ids.into_iter()
                        .filter(|id| {
                            STRANGERS.contains(&id.as_str())
                                || inner.listed(&(namespace.clone(), id.clone()), now)
                        })
                        .collect()
                }
                None => {
                    let mut all: Vec<(i64, &String)> = inner
                        .catalogue
                        .iter()
                        .flatten()
                        .filter(|((ns, _), meta)| {
                            *ns == namespace
                                && asked.status.as_ref().is_none_or(|s| *s == meta.status)
                                && asked.tag.as_ref().is_none_or(|t| meta.tags.contains(t))
                        })
                        .filter(|(video, _)| inner.listed(video, now))
                        .map(|((_, id), meta)| (meta.create_ms, id))
                        .collect();
                    all.sort_by(|a, b| b.cmp(a));
                    all.into_iter().map(|(_, id)| id.clone()).collect()
                }
            };
            let size = asked.size.unwrap_or(20).max(1).min(inner.page_cap.unwrap_or(usize::MAX));
            let page = match inner.listing {
                Listing::IgnoresPage => 1,
                _ => asked.page.unwrap_or(1).max(1),
            };
            let videos: Vec<serde_json::Value> = listed
                .iter()
                .skip((page - 1).saturating_mul(size))
                .take(size)
                .map(|id| {
                    let meta = inner
                        .catalogue
                        .as_ref()
                        .and_then(|c| c.get(&(namespace.clone(), id.clone())))
                        .cloned()
                        .unwrap_or_default();
                    meta.shown(id)
                })
                .collect();
            let mut data = serde_json::json!({
                "videos": videos, "current_page": page, "page_size": size,
                "total_count": listed.len().to_string(),
            });
            if let (Some(_), Some(data)) = (inner.page_cap, data.as_object_mut()) {
                data.remove("total_count");
                if inner.cap_unsaid {
                    data.remove("page_size");
                }
            }
            let body = serde_json::json!({
                "code": "0000", "msg": "success", "data": data, "success": true, "failed": false,
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        });
            (answer, latency)
        };
    tokio::time::sleep(latency).await;
    match answer {
        Ok(response) => response,
        Err(script) => scripted(script).await,
    }
}

/// `GET /list_unique_ids`: every namespace of the account.
async fn list_unique_ids(State(standin): State<Standin>, headers: HeaderMap) -> Response {
    let answer = {
        let mut inner = standin.lock();
        let lookup = Lookup {
            unique_id: None,
            filtered: false,
            asked: 0,
            at: Instant::now(),
            answered: String::new(),
        };
        let answer = if !authorized(&standin, &headers) {
            Err(Script::code("0401"))
        } else {
            inner.lookup(LIST_UNIQUE_IDS_PATH, lookup)
        };
        answer.map(|()| {
            let mut all: Vec<&String> = inner.namespaces.iter().collect();
            let default = "default".to_owned();
            if !inner.namespaces.contains(&default) {
                all.push(&default);
            }
            all.sort();
            let body = serde_json::json!({
                "code": "0000", "msg": "success", "success": true, "failed": false,
                "data": {"unique_ids": all},
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        })
    };
    match answer {
        Ok(response) => response,
        Err(script) => scripted(script).await,
    }
}

fn hang_for(standin: &Standin) -> Duration {
    let inner = standin.lock();
    inner
        .faults
        .as_ref()
        .map_or(Duration::from_secs(60), |(f, _)| f.hang)
}

async fn misbehave(fault: Fault, hang: Duration) -> Response {
    match fault {
        Fault::ServerError => {
            (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response()
        }
        Fault::TooMany => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
        Fault::TooManyRetryAfter => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        }
        Fault::Busy => api("0429", "request too busy"),
        Fault::Hang => {
            // Nothing was deleted: a client patient enough to wait learns that too.
            tokio::time::sleep(hang).await;
            (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response()
        }
        Fault::Reset => {
            // Half a body, then an error: hyper drops the connection mid-response.
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(br#"{"code":"0000","msg":"succ"#)),
                Err(std::io::Error::other("connection reset by the stand-in")),
            ];
            let body = Body::from_stream(futures_util::stream::iter(chunks));
            (StatusCode::OK, body).into_response()
        }
        Fault::NotJson => (StatusCode::OK, "<html><body>Bad gateway</body></html>").into_response(),
        Fault::UnknownCode => api("0500", "something new"),
        Fault::KeyRefused => api("0401", "authorization invalid"),
    }
}
