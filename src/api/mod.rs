//! The Delete Videos API: the only module that knows the wire format.
//!
//! [`Client::delete`] sends one request (after the rate limit lets it) and returns an
//! [`Answer`]; [`classify`] turns what came back into a [`Verdict`] that says what the pass
//! must do. Errors arrive as codes inside HTTP 200 answers, so status and body are read
//! together; anything not documented is treated as "not deleted, try again".

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tracing::info;

mod leaving;
mod lookup;

pub use lookup::{Catalogue, CataloguePage, ListedVideo, Listing, Lookups, CATALOGUE_PAGE};

use crate::config::{ApiConfig, V1_1_DELETE_PATH};
use crate::credentials::ApiKey;
use crate::printable;
use crate::rate::{RateLimit, Recorded, Slot};
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::Outcome;

/// More than any real answer to a deletion; a larger body is cut here rather than read
/// into memory.
const MAX_BODY: usize = 64 * 1024;
/// A lookup's answer lists up to 200 videos with all their fields (names and causes of
/// any length): 64 KiB could cut a real one, and a cut answer is no JSON. Longer than this
/// (20 KiB a video), it is not believed.
const MAX_LISTING_BODY: usize = 4 * 1024 * 1024;
/// How much of the API's `msg` is kept (in the database and logs).
const MAX_MSG: usize = 500;

/// What the pass must do with the ids of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `0000` with `success: true`: the videos are deleted.
    Deleted,
    /// Worth trying again after a wait: connection errors, timeouts, 5xx, 429, `0429`, a
    /// body that is not the documented JSON, an unknown code.
    Retry { retry_after: Option<Duration> },
    /// Authorization, account or configuration: no request can succeed until an operator
    /// acts, so the pass stops and the rows stay pending.
    Stop,
    /// A parameter error (`0001`, `0003`, HTTP 400): some id in the request is refused.
    Rejected,
    /// `0409`: a duplicate request, e.g. a video deleted before.
    Duplicate,
}

impl Verdict {
    /// The request's outcome, as recorded and logged.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Deleted => Outcome::Deleted,
            Self::Retry { .. } => Outcome::Retry,
            Self::Stop => Outcome::Stopped,
            Self::Rejected => Outcome::Rejected,
            Self::Duplicate => Outcome::Duplicate,
        }
    }
}

/// One request's answer: the verdict and what it was based on.
#[derive(Debug, Clone)]
pub struct Answer {
    pub verdict: Verdict,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub msg: Option<String>,
    /// Why, in words an operator can act on (no key in it).
    pub reason: String,
    pub duration: Duration,
}

/// Whether an answer refuses the key (HTTP 401 or 403, `0401` or `9009`): the one problem
/// only a new key fixes. Deletions and lookups both ask this.
fn refuses_key(status: u16, code: Option<&str>) -> bool {
    matches!(status, 401 | 403) || matches!(code, Some("0401" | "9009"))
}

impl Answer {
    /// Whether the API refused the key.
    pub fn refuses_key(&self) -> bool {
        self.verdict == Verdict::Stop
            && self
                .http_status
                .is_some_and(|s| refuses_key(s, self.code.as_deref()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// The rate limit's leave for one request: `delete` cannot be called without one.
pub struct Turn(Slot);

pub struct Client {
    http: reqwest::Client,
    url: Url,
    /// The v1.1 path knows no namespaces: only `default` may be sent through it.
    namespaces: bool,
    limit: Arc<RateLimit>,
    /// The lookup calls, on their own limiter: shared with the lifecycle rules, and kept
    /// by the daemon across reloads (`Lookups::carried`).
    lookups: Arc<Lookups>,
}

impl Client {
    pub fn new(api: &ApiConfig, lookups: Arc<Lookups>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(api.timeout)
            .connect_timeout(api.timeout)
            // A redirect could carry the key to another host; the API documents none.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("memories-reaper/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut url = api.base_url.url().clone();
        url.set_path(&api.delete_path);
        Ok(Self {
            http,
            url,
            namespaces: api.delete_path != V1_1_DELETE_PATH,
            limit: Arc::new(RateLimit::new(api.requests_per_second.get())),
            lookups,
        })
    }

    /// "Too many requests" (HTTP 429, code 0429) slows the pace; any other answer from
    /// the API raises it again, up to `api.requests_per_second`.
    fn pace(&self, answer: &Answer) {
        let too_many = answer.http_status == Some(429) || answer.code.as_deref() == Some("0429");
        if too_many {
            let rate = self.limit.slow_down();
            info!("the API said too many requests: pace now {rate:.2} requests a second");
        } else if !matches!(answer.verdict, Verdict::Retry { .. } | Verdict::Stop) {
            self.limit.speed_up();
        }
        crate::metrics::pace(self.limit.rate());
    }
}

/// The pass's side of the API (`DeleteApi`).
impl DeleteApi for Client {
    type Turn = Turn;

    /// Whether ids of this namespace can be sent to the configured path at all.
    fn can_address(&self, namespace: &Namespace) -> bool {
        self.namespaces || namespace.is_default()
    }

    /// Waits until the rate limit lets one more request out. Taken before the request is
    /// recorded, so that the record's start is usually within a commit (and `rate::LEAD`)
    /// of the send: a restarted process, or another daemon on the database, counts from
    /// those records (`count_others`). Not always: when another daemon's sends arrive
    /// between the turn and the send, the send waits for the window (up to a second) after
    /// its record, and that daemon counts it early. Sharing the rate through records is
    /// approximate for several daemons at once (see ARCHITECTURE.md).
    async fn wait_turn(&self) -> Turn {
        Turn(self.limit.acquire().await)
    }

    /// The first seconds of a cold pass spaced evenly (see `rate`).
    fn cold_start(&self) {
        self.limit.cold_start();
    }

    fn count_others(&self, recorded: Vec<Recorded>) -> bool {
        self.limit.count_others(recorded)
    }

    fn rate(&self) -> f64 {
        self.limit.rate()
    }

    /// Sends one Delete Videos request. Never fails: a transport error is an answer too.
    async fn delete(
        &self,
        turn: Turn,
        key: &ApiKey,
        namespace: &Namespace,
        ids: &[VideoNo],
    ) -> Answer {
        let mut url = self.url.clone();
        if self.namespaces {
            url.query_pairs_mut()
                .append_pair("unique_id", namespace.as_str());
        }
        let ids: Vec<&str> = ids.iter().map(VideoNo::as_str).collect();
        // A list of strings always serializes; the error is handled all the same.
        let Ok(json) = serde_json::to_vec(&ids) else {
            return answer(
                Verdict::Stop,
                Instant::now(),
                "cannot write the request's JSON",
            );
        };
        let (limit, place) = (self.limit.clone(), turn.0.place());
        let body = leaving::Leaving::new(json, move || {
            limit.left(place, tokio::time::Instant::now());
        });
        let request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(reqwest::Body::wrap(body));
        let Some(request) = authorize(request, key) else {
            // Unreachable with keys from `credentials::load`, which checks this.
            let reason = "the API key is not a valid header";
            return answer(Verdict::Stop, Instant::now(), reason);
        };
        self.limit.go(turn.0).await;
        // The request's duration counts from here: not the wait for the window.
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return transport_error(&e, started),
        };
        let status = response.status();
        let headers = response.headers().clone();
        match read_body(response, MAX_BODY).await {
            // Cut or not: a proxy's long page is judged by its first 64 KiB.
            Ok((body, _cut)) => {
                let answer = Answer {
                    duration: started.elapsed(),
                    ..classify(status, &headers, &body)
                };
                self.pace(&answer);
                answer
            }
            Err(e) => transport_error(&e, started),
        }
    }
}

/// The key in the `Authorization` header, marked sensitive; `None` if it cannot be a
/// header value.
fn authorize(request: reqwest::RequestBuilder, key: &ApiKey) -> Option<reqwest::RequestBuilder> {
    let mut value = HeaderValue::from_str(key.expose()).ok()?;
    // Keeps the value out of Debug output, and so out of reqwest/hyper traces.
    value.set_sensitive(true);
    Some(request.header(AUTHORIZATION, value))
}

/// The body, at most `limit` bytes of it, and whether there was more. Sized once from
/// the length the answer announces (within `limit`): grown by doubling as it came, a
/// body took up to twice its size, and eight lookups' bodies are in flight at once.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let announced = response.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(limit).min(limit));
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((body, true));
        }
    }
    Ok((body, false))
}

fn answer(verdict: Verdict, started: Instant, reason: &str) -> Answer {
    Answer {
        verdict,
        http_status: None,
        code: None,
        msg: None,
        reason: reason.to_owned(),
        duration: started.elapsed(),
    }
}

fn transport_error(e: &reqwest::Error, started: Instant) -> Answer {
    answer(
        Verdict::Retry { retry_after: None },
        started,
        &transport_reason(e),
    )
}

/// What went wrong on the wire, in words; names the URL, never a header.
fn transport_reason(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out (api.timeout)"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    // The whole chain of causes (name not resolved, refused, TLS), on one line: the outer
    // ones alone said only "client error (Connect)". reqwest's message names the URL,
    // never a header; a cause that repeats its predecessor is said once.
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let said = inner.to_string().replace('\n', " ");
        if !detail.ends_with(&said) {
            detail = format!("{detail}: {said}");
        }
        cause = inner.source();
    }
    format!("{what}: {}", printable::cut(&detail, 4 * printable::QUOTED))
}

/// The documented answer body. `success` may be absent from some answers.
#[derive(Debug, Deserialize)]
struct Body {
    code: String,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    success: Option<bool>,
}

/// Judges an answer by its HTTP status and its JSON `code`/`success` together.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Answer {
    let retry_after = retry_after(headers);
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().map(|b| b.code.clone());
    let msg = parsed
        .as_ref()
        .and_then(|b| b.msg.as_deref())
        .map(|m| m.chars().take(MAX_MSG).collect::<String>());
    let said = match (&code, &msg) {
        (Some(code), Some(msg)) => format!("API answered {code}: {msg}"),
        (Some(code), None) => format!("API answered {code}"),
        _ => format!("HTTP {status}"),
    };
    let key_refused = format!(
        "{said}: the API key was refused; check the key (MEMORIES_API_KEY, api.api_key_file \
         or the api_key credential)"
    );
    let (verdict, reason) = match status.as_u16() {
        s if refuses_key(s, None) => (Verdict::Stop, key_refused),
        400 => (Verdict::Rejected, said),
        429 => (
            Verdict::Retry { retry_after },
            format!("{said}: rate limited"),
        ),
        500..=599 => (
            Verdict::Retry { retry_after },
            format!("{said}: server error"),
        ),
        300..=399 => (
            Verdict::Stop,
            format!("{said}: the API redirected; check api.base_url and api.delete_path"),
        ),
        200..=299 => match (&parsed, code.as_deref()) {
            (None, _) => (
                Verdict::Retry { retry_after },
                format!("HTTP {status} with a body that is not the documented JSON"),
            ),
            (Some(body), Some("0000")) if body.success == Some(true) => (Verdict::Deleted, said),
            (Some(_), Some("0000")) => (
                Verdict::Retry { retry_after },
                format!("{said} but success is not true"),
            ),
            (_, Some("0001" | "0003")) => (Verdict::Rejected, said),
            (_, Some("0409")) => (Verdict::Duplicate, said),
            (_, Some("0429")) => (
                Verdict::Retry { retry_after },
                format!("{said}: rate limited"),
            ),
            (_, c) if refuses_key(200, c) => (Verdict::Stop, key_refused),
            (_, Some("0402")) => (
                Verdict::Stop,
                format!("{said}: the account has not enough credits; top it up"),
            ),
            (_, Some("0403")) => (
                Verdict::Stop,
                format!("{said}: the account is disabled; contact Memories.ai"),
            ),
            (_, _) => (
                Verdict::Retry { retry_after },
                format!("{said}: unknown code"),
            ),
        },
        _ => (
            Verdict::Stop,
            format!("{said}: unexpected status; check api.base_url and api.delete_path"),
        ),
    };
    Answer {
        verdict,
        http_status: Some(status.as_u16()),
        code,
        msg,
        reason,
        duration: Duration::ZERO,
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The Delete Videos API as the pass uses it.
pub trait DeleteApi: Send + Sync + 'static {
    /// The rate limit's leave for one request: `delete` cannot be called without one.
    type Turn: Send;

    /// Whether ids of this namespace can be sent at all (the v1.1 path knows only `default`).
    fn can_address(&self, namespace: &Namespace) -> bool;

    /// Waits until the rate limit lets one more request out.
    fn wait_turn(&self) -> impl Future<Output = Self::Turn> + Send;

    /// Sends one request; never fails (a transport error is an answer too).
    fn delete(
        &self,
        turn: Self::Turn,
        key: &ApiKey,
        namespace: &Namespace,
        ids: &[VideoNo],
    ) -> impl Future<Output = Answer> + Send;

    /// The API has not answered well lately: go gently at first (requests one at a time
    /// for a moment, even within the rate).
    fn cold_start(&self);

    /// Counts requests other processes (or a predecessor) sent against the rate limit;
    /// whether any of them was new.
    fn count_others(&self, recorded: Vec<Recorded>) -> bool;

    /// Requests a second the rate limit lets out now (slowed by a `0429`).
    fn rate(&self) -> f64;
}

/// The lookup calls as the pass uses them, to look before deleting (`pass::verify`).
pub trait LookupApi: Send + Sync + 'static {
    /// Every namespace of the account, or why it cannot be known.
    fn namespaces(
        &self,
        key: &ApiKey,
    ) -> impl Future<Output = Result<HashSet<String>, String>> + Send;

    /// The first seconds of lookups spaced evenly (at a pass's start).
    fn cold_start_lookups(&self);

    /// How many ids one lookup asks (`list` asks more in several): the pass claims as
    /// many batches as one lookup covers.
    fn ids_per_lookup(&self) -> usize;

    /// Which of `ids` the namespace lists (it must exist: listing may create it).
    fn list(
        &self,
        key: &ApiKey,
        namespace: &Namespace,
        ids: &[VideoNo],
    ) -> impl Future<Output = Listing> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(len: usize) -> reqwest::Response {
        axum::http::Response::new(vec![b'x'; len]).into()
    }

    #[tokio::test]
    async fn a_lookups_answer_longer_than_a_deletions_is_read_whole() {
        // 200 videos with long names: more than a deletion's 64 KiB, read to its end.
        let (body, cut) = read_body(response(300 * 1024), MAX_LISTING_BODY)
            .await
            .unwrap();
        assert_eq!((body.len(), cut), (300 * 1024, false));
        // Past the limit: cut there, and said to be.
        let (body, cut) = read_body(response(MAX_LISTING_BODY + 1), MAX_LISTING_BODY)
            .await
            .unwrap();
        assert_eq!((body.len(), cut), (MAX_LISTING_BODY, true));
        // Exactly the limit is whole.
        let (body, cut) = read_body(response(MAX_BODY), MAX_BODY).await.unwrap();
        assert_eq!((body.len(), cut), (MAX_BODY, false));
    }

    #[tokio::test]
    async fn a_failed_connection_names_its_cause() {
        // A port nothing listens on, and a name that cannot resolve.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        for (url, cause) in [
            (closed.as_str(), "Connection refused"),
            ("http://no-such-host.invalid/", "dns error"),
        ] {
            let e = reqwest::Client::new().get(url).send().await.unwrap_err();
            let reason = transport_reason(&e);
            assert!(reason.starts_with("connection failed: "), "{reason}");
            assert!(reason.contains(cause), "{reason}");
            assert!(!reason.contains('\n'), "one line: {reason}");
        }
    }

    fn judge(status: u16, body: &str) -> Verdict {
        classify(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
        .verdict
    }

    const RETRY: Verdict = Verdict::Retry { retry_after: None };

    #[test]
    fn success_needs_code_and_success_together() {
        let ok = r#"{"code":"0000","msg":"success","data":null,"success":true,"failed":false}"#;
        assert_eq!(judge(200, ok), Verdict::Deleted);
        assert_eq!(
            judge(
                200,
                r#"{"code":"0000","msg":"success","data":{},"success":true}"#
            ),
            Verdict::Deleted
        );
        assert_eq!(
            judge(200, r#"{"code":"0000","msg":"success","success":false}"#),
            RETRY
        );
        assert_eq!(judge(200, r#"{"code":"0000","msg":"success"}"#), RETRY);
        // A success body on an error status is not a success.
        assert_eq!(judge(503, ok), RETRY);
    }

    #[test]
    fn codes_inside_http_200() {
        assert_eq!(
            judge(200, r#"{"code":"0001","msg":"param"}"#),
            Verdict::Rejected
        );
        assert_eq!(
            judge(200, r#"{"code":"0003","msg":"param"}"#),
            Verdict::Rejected
        );
        assert_eq!(
            judge(200, r#"{"code":"0409","msg":"dup"}"#),
            Verdict::Duplicate
        );
        assert_eq!(
            judge(
                200,
                r#"{"code":"0429","msg":"Request has exceeded the limit."}"#
            ),
            RETRY
        );
        for code in ["0401", "0402", "0403", "9009"] {
            assert_eq!(
                judge(200, &format!(r#"{{"code":"{code}","msg":"x"}}"#)),
                Verdict::Stop,
                "{code}"
            );
        }
        assert_eq!(judge(200, r#"{"code":"7777","msg":"new"}"#), RETRY);
    }

    #[test]
    fn http_statuses() {
        assert_eq!(judge(401, ""), Verdict::Stop);
        assert_eq!(judge(403, "forbidden"), Verdict::Stop);
        assert_eq!(judge(400, ""), Verdict::Rejected);
        assert_eq!(judge(429, ""), RETRY);
        assert_eq!(judge(500, "<html>"), RETRY);
        assert_eq!(judge(502, ""), RETRY);
        assert_eq!(judge(404, ""), Verdict::Stop);
        assert_eq!(judge(302, ""), Verdict::Stop);
    }

    #[test]
    fn bodies_that_are_not_the_documented_json_are_retried() {
        assert_eq!(judge(200, ""), RETRY);
        assert_eq!(judge(200, "<html>gateway</html>"), RETRY);
        assert_eq!(judge(200, r#"{"msg":"no code"}"#), RETRY);
        assert_eq!(judge(200, r#"{"code":0}"#), RETRY);
        assert_eq!(judge(200, "\u{0}\u{ff}"), RETRY);
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let a = classify(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(
            a.verdict,
            Verdict::Retry {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        match classify(StatusCode::SERVICE_UNAVAILABLE, &headers, b"").verdict {
            Verdict::Retry {
                retry_after: Some(d),
            } => assert!(
                d > Duration::from_secs(25) && d <= Duration::from_secs(30),
                "{d:?}"
            ),
            other => panic!("{other:?}"),
        }
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers, b"").verdict,
            RETRY
        );
    }

    #[test]
    fn the_reason_says_what_to_fix() {
        let a = classify(
            StatusCode::OK,
            &HeaderMap::new(),
            br#"{"code":"0401","msg":"bad key"}"#,
        );
        assert!(a.reason.contains("check the key"), "{}", a.reason);
        let a = classify(
            StatusCode::OK,
            &HeaderMap::new(),
            br#"{"code":"0402","msg":"credits"}"#,
        );
        assert!(a.reason.contains("credits"), "{}", a.reason);
    }

    mod fuzz {
        //! No answer makes `classify` panic, and none is taken for a deletion unless it is
        //! the documented success: 2xx, `code` "0000" and `success` true.
        use super::*;
        use proptest::prelude::*;

        fn retry_after_headers(value: &str) -> HeaderMap {
            let mut headers = HeaderMap::new();
            if let Ok(value) = value.parse() {
                headers.insert(RETRY_AFTER, value);
            }
            headers
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes(status in 100u16..=599, body: Vec<u8>, retry_after in "\\PC{0,30}") {
                let status = StatusCode::from_u16(status).unwrap();
                let answer = classify(status, &retry_after_headers(&retry_after), &body);
                prop_assert!(!matches!(answer.verdict, Verdict::Deleted));
            }

            #[test]
            fn json_like(
                status in prop_oneof![Just(200u16), Just(201), 100u16..=599],
                code in prop_oneof![
                    Just("0000".to_owned()), Just("0001".to_owned()), Just("0409".to_owned()),
                    Just("0429".to_owned()), "[0-9]{4}", "\\PC{0,8}"
                ],
                success in prop_oneof![
                    Just("true"), Just("false"), Just("null"), Just("\"true\""), Just("1")
                ],
                msg in "\\PC{0,300}",
                extra in prop_oneof![Just(""), Just(r#","data":{}"#), Just(r#","data":[1,2]"#)],
                retry_after in prop_oneof![Just("1".to_owned()), Just("999999999999".to_owned()),
                    Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()), "\\PC{0,30}"],
            ) {
                let body = format!(
                    r#"{{"code":{},"msg":{},"success":{success}{extra}}}"#,
                    serde_json::json!(code),
                    serde_json::json!(msg),
                );
                let status = StatusCode::from_u16(status).unwrap();
                let answer = classify(status, &retry_after_headers(&retry_after), body.as_bytes());
                let documented_success =
                    status.is_success() && code == "0000" && success == "true";
                prop_assert_eq!(matches!(answer.verdict, Verdict::Deleted), documented_success);
                if let Verdict::Retry { retry_after: Some(asked) } = answer.verdict {
                    prop_assert!(asked <= Duration::from_secs(999_999_999_999));
                }
                prop_assert!(answer.reason.len() < 1000, "reason grows with the message");
            }
        }
    }
}
