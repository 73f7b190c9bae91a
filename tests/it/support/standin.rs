//! A stand-in for the Memories.ai Delete Videos API, served on 127.0.0.1.
//!
//! It answers as `shared/memories-api.md` describes: both paths, `unique_id` on v1.2, the
//! raw key in `Authorization`, at most 100 ids, codes inside HTTP 200 answers, `0429` over
//! the account's requests-per-second, `0409` for a video deleted before. Tests script it to
//! misbehave (any status, body, `Retry-After`, hangs) and read back every request it got.
//! `examples/standin.rs` serves it for people who want to watch the daemon work.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub const V1_2_PATH: &str = "/serve/api/v1/delete_videos";
pub const V1_1_PATH: &str = "/serve/api/video/delete_videos";

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
    /// Added before every answer.
    latency: Duration,
}

#[derive(Clone)]
pub struct Standin {
    pub addr: SocketAddr,
    key: Arc<String>,
    per_second: usize,
    inner: Arc<Mutex<Inner>>,
}

impl Standin {
    /// Serves on an ephemeral port of 127.0.0.1 until the runtime ends.
    pub async fn start(key: &str, per_second: usize) -> Self {
        Self::start_on(key, per_second, 0).await
    }

    pub async fn start_on(key: &str, per_second: usize, port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the stand-in on 127.0.0.1");
        let standin = Self {
            addr: listener.local_addr().expect("a bound address"),
            key: Arc::new(key.to_owned()),
            per_second,
            inner: Arc::default(),
        };
        let app = Router::new()
            .route(V1_2_PATH, post(delete))
            .route(V1_1_PATH, post(delete))
            .with_state(standin.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        standin
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
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == standin.key.as_str());
    let ids: Option<Vec<String>> = serde_json::from_slice(&body).ok();
    let now = Instant::now();

    // Decide under the lock, answer after it (latency and hangs must not block others).
    let (script, latency, code, msg) = {
        let mut inner = standin.lock();
        let in_last_second = inner
            .received
            .iter()
            .filter(|r| now.duration_since(r.at) < Duration::from_secs(1))
            .count();
        let script = inner.script.pop_front().or_else(|| inner.always.clone());
        let (code, msg) = match (&script, &ids) {
            (Some(_), _) => ("scripted", String::new()),
            (None, _) if !authorized => ("0401", "authorization invalid".into()),
            (None, _) if in_last_second >= standin.per_second => {
                ("0429", "Request has exceeded the limit.".into())
            }
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
                for id in ids {
                    inner.deleted.insert((namespace.clone(), id.clone()));
                }
                ("0000", "success".into())
            }
        };
        let answered = match &script {
            Some(Script::Reply { status, body, .. }) => {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {status}"))
            }
            Some(Script::Hang(_)) => "hang".into(),
            None => code.to_owned(),
        };
        inner.received.push(Received {
            path,
            unique_id: params.unique_id,
            authorized,
            ids: ids.unwrap_or_default(),
            at: now,
            answered,
        });
        (script, inner.latency, code, msg)
    };
    tokio::time::sleep(latency).await;
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
