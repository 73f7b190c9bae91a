//! The lookup calls: which namespaces the account has (`list_unique_ids`) and which of some
//! video numbers a namespace holds (`list_videos` with a `video_nos` filter). They have a
//! quota of their own, so they are paced by a limiter of their own (`[lookup]
//! requests_per_second`), shared by every caller.
//!
//! A lookup is trusted only when its answer is exactly what was asked for: the documented
//! envelope, a `videos` list of objects with a `video_no`, and no video that was not asked
//! for (a filter the API ignored would make everything else look absent). Anything else,
//! or lookups still failing after a few tries, is [`Listing::Unavailable`]: never proof
//! that a video is not there. What an answer means is decided by [`read_videos`] and
//! [`read_namespaces`], pure and table-tested.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;
use tracing::info;

use super::{authorize, read_body, Client};
use crate::credentials::ApiKey;
use crate::pass::LookupApi;
use crate::rate::{RateLimit, Slot};
use crate::video::{Namespace, VideoNo};

pub const LIST_VIDEOS_PATH: &str = "/serve/api/v1/list_videos";
pub const LIST_UNIQUE_IDS_PATH: &str = "/serve/api/v1/list_unique_ids";

/// Tries per lookup, the first included, when the answer says "again later".
const ATTEMPTS: u32 = 3;
/// The wait before the second try; doubled before each next.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Pages read for one lookup at most: a lookup asks at most [`MOST_IDS`] ids, and an
/// API that pages them one at a time still answers within this.
const MAX_PAGES: u32 = 200;
/// Ids asked in one lookup at first: two batches' (the docs' examples ask `size` 200; no
/// maximum is stated), so that verification at the ceiling takes half the lookup quota.
pub const MOST_IDS: usize = 200;
/// Ids asked once an API answered a lookup of more with fewer than asked, or without
/// saying its page size: the most a batch holds, which every lookup so far was.
const FEWER_IDS: usize = crate::config::API_MAX_BATCH;

/// How often a rule's lookup looks whether the pass's lookups are done waiting.
const SPARE_POLL: Duration = Duration::from_millis(20);
/// Videos asked per page of a rule's listing (the docs' examples ask 200).
pub const CATALOGUE_PAGE: u64 = 200;

/// What a lookup of some video numbers in a namespace found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// These of the asked video numbers are listed; the others are not.
    Listed(HashSet<String>),
    /// The lookup cannot be trusted, or did not succeed: nothing may be concluded.
    Unavailable(String),
}

/// One answer, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read<T> {
    Got(T),
    /// Worth asking again after a wait (`0429`, 429, 5xx, a connection error).
    Again(String),
    /// Not to be trusted, or not to be asked again: the lookup is unavailable.
    Unusable(String),
    /// The key was refused: unavailable too, and the operator must hear of it.
    KeyRefused,
}

/// One page of `list_videos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub listed: Vec<String>,
    /// `total_count`, when the answer gives it.
    pub total: Option<u64>,
    /// `page_size`, when the answer gives it: the size it used, maybe less than asked.
    pub page_size: Option<u64>,
}

/// The lookup calls, with their limiter: one for every caller in the process
/// (verification, `locate`, the lifecycle rules), so that together they keep to the quota.
pub struct Lookups {
    list_videos: Url,
    list_unique_ids: Url,
    limit: RateLimit,
    per_second: u32,
    /// Lookups of the pass waiting for a turn: a rule's listing goes only when none does.
    pass_waiting: AtomicUsize,
    /// Ids one lookup asks: [`MOST_IDS`], or [`FEWER_IDS`] once the API showed it pages
    /// them (for the life of the process).
    ids_per_lookup: AtomicUsize,
    /// How long the last lookup took to answer, from the moment it went out.
    round_trip: std::sync::Mutex<Option<Duration>>,
}

impl Lookups {
    pub fn new(base: &Url, per_second: u32) -> Arc<Self> {
        let at = |path: &str| {
            let mut url = base.clone();
            url.set_path(path);
            url
        };
        Arc::new(Self {
            list_videos: at(LIST_VIDEOS_PATH),
            list_unique_ids: at(LIST_UNIQUE_IDS_PATH),
            limit: RateLimit::new(per_second),
            per_second,
            pass_waiting: AtomicUsize::new(0),
            ids_per_lookup: AtomicUsize::new(MOST_IDS),
            round_trip: std::sync::Mutex::new(None),
        })
    }

    /// For a reloaded configuration: these lookups again when they still reach the same
    /// API at the same rate (a fresh limiter would forget the last second's lookups).
    pub fn carried(this: &Arc<Self>, base: &Url, per_second: u32) -> Arc<Self> {
        let same = this.per_second == per_second && {
            let mut url = base.clone();
            url.set_path(LIST_VIDEOS_PATH);
            url == this.list_videos
        };
        if same {
            this.clone()
        } else {
            Self::new(base, per_second)
        }
    }
}

/// Whose turn a lookup takes: its priority.
#[derive(Clone, Copy)]
enum Priority<'a> {
    /// The pass's: in line with every other.
    Pass,
    /// A lifecycle rule's: at most this limiter's rate, and only while no lookup of the
    /// pass waits.
    Spare(&'a RateLimit),
}

/// How one lookup of some ids ended.
enum Looked {
    /// These of the ids asked; `said`: the last page said its size or the total, so a
    /// short page was the end.
    Listed {
        found: HashSet<String>,
        said: bool,
    },
    Unavailable(String),
    /// More than [`FEWER_IDS`] were asked, and the answer did not say its page size: it
    /// may have cut the page short; ask fewer.
    AskFewer,
}

/// The pass's side of the lookups (`LookupApi`).
impl LookupApi for Client {
    fn cold_start_lookups(&self) {
        self.lookups.limit.cold_start();
    }

    fn ids_per_lookup(&self) -> usize {
        self.lookups.ids_per_lookup.load(Ordering::Relaxed)
    }

    /// Every namespace of the account, or why it cannot be known.
    async fn namespaces(&self, key: &ApiKey) -> Result<HashSet<String>, String> {
        let url = self.lookups.list_unique_ids.clone();
        self.ask(
            key,
            "list_unique_ids",
            |http| http.get(url.clone()),
            read_namespaces,
        )
        .await
    }

    /// Which of `ids` the namespace holds, [`LookupApi::ids_per_lookup`] at a time. The
    /// caller checks first that the namespace exists: one version of the docs says
    /// `list_videos` creates one that does not.
    async fn list(&self, key: &ApiKey, namespace: &Namespace, ids: &[VideoNo]) -> Listing {
        let mut listed = HashSet::new();
        let mut todo: Vec<VideoNo> = ids.to_vec();
        while !todo.is_empty() {
            let n = self.ids_per_lookup().min(todo.len());
            let some: Vec<VideoNo> = todo.drain(..n).collect();
            match self.look(key, namespace, &some).await {
                Looked::Listed { found, said } => {
                    // A page shorter than asked that says neither its size nor the total
                    // may have been cut short by the API: what it did not list is asked
                    // again, until a lookup lists none of it (each round asks fewer).
                    if !said && !found.is_empty() && found.len() < some.len() {
                        todo.extend(some.into_iter().filter(|id| !found.contains(id.as_str())));
                    }
                    listed.extend(found);
                }
                Looked::Unavailable(why) => return Listing::Unavailable(why),
                Looked::AskFewer => {
                    self.fewer_per_lookup();
                    todo.splice(0..0, some);
                }
            }
        }
        Listing::Listed(listed)
    }
}

impl Client {
    /// From now on, [`FEWER_IDS`] a lookup (said once).
    fn fewer_per_lookup(&self) {
        if self
            .lookups
            .ids_per_lookup
            .swap(FEWER_IDS, Ordering::Relaxed)
            > FEWER_IDS
        {
            info!(
                "lookups: list_videos answered {MOST_IDS} ids asked with a shorter page or \
                 without its page size; asking {FEWER_IDS} at a time from now on"
            );
        }
    }

    /// One lookup of `ids`, page after page until the answer is whole.
    async fn look(&self, key: &ApiKey, namespace: &Namespace, ids: &[VideoNo]) -> Looked {
        let asked: HashSet<&str> = ids.iter().map(VideoNo::as_str).collect();
        let mut listed = HashSet::new();
        for page in 1..=MAX_PAGES {
            let body = serde_json::json!({
                "unique_id": namespace.as_str(),
                "video_nos": ids.iter().map(VideoNo::as_str).collect::<Vec<_>>(),
                "page": page,
                "size": ids.len().max(1),
            });
            let url = self.lookups.list_videos.clone();
            let read = self
                .ask(
                    key,
                    "list_videos",
                    |http| http.post(url.clone()).json(&body),
                    |status, bytes| read_videos(&asked, status, bytes),
                )
                .await;
            let found = match read {
                Ok(found) => found,
                Err(why) => return Looked::Unavailable(why),
            };
            // Asked more than a batch: trusted only with the page size said, and asked
            // fewer from now on when it was less than asked (paging the rest costs more).
            if ids.len() > FEWER_IDS {
                match found.page_size {
                    None if found.total.is_none() => return Looked::AskFewer,
                    Some(size) if size < ids.len() as u64 => self.fewer_per_lookup(),
                    _ => {}
                }
            }
            // Done when every id asked for is listed, or the total says so; without a total,
            // when a page was not full (an API may cap a page below what was asked, and say
            // so only in `page_size`): a short listing must never pass for a complete one.
            let said = found.page_size.is_some() || found.total.is_some();
            let page_size = found.page_size.unwrap_or(ids.len() as u64).max(1);
            let full = found.listed.len() as u64 >= page_size;
            let empty = found.listed.is_empty();
            listed.extend(found.listed);
            let complete = empty
                || listed.len() >= asked.len()
                || match found.total {
                    Some(total) => listed.len() as u64 >= total,
                    None => !full,
                };
            if complete {
                return Looked::Listed {
                    found: listed,
                    said,
                };
            }
        }
        Looked::Unavailable(format!(
            "list_videos said more videos matched than {MAX_PAGES} pages held"
        ))
    }

    /// One lookup of the pass's, paced and tried again while its answer says so.
    async fn ask<T>(
        &self,
        key: &ApiKey,
        call: &str,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        read: impl Fn(StatusCode, &[u8]) -> Read<T>,
    ) -> Result<T, String> {
        let asked = self
            .lookups
            .ask(&self.http, Priority::Pass, key, call, request, read)
            .await;
        // The deletions' cold start spaces them only while an answer can come back in time.
        let round_trip = self.lookups.round_trip.lock().ok().and_then(|last| *last);
        if let (Ok(_), Some(took)) = (&asked, round_trip) {
            self.limit.round_trip(took);
        }
        asked
    }

    /// The listing calls for the lifecycle rules, on this client's lookups.
    pub fn catalogue(&self) -> Catalogue {
        Catalogue {
            http: self.http.clone(),
            lookups: self.lookups.clone(),
        }
    }
}

impl Lookups {
    /// Waits for a lookup's turn: the pass's in line; a rule's at its own pace, then
    /// only while no lookup of the pass waits (verification keeps what it needs). The
    /// places held in each limiter, for `go` just before the request leaves.
    async fn turn<'a>(&self, priority: Priority<'a>) -> (Slot, Option<(&'a RateLimit, Slot)>) {
        match priority {
            Priority::Pass => {
                self.pass_waiting.fetch_add(1, Ordering::SeqCst);
                let slot = self.limit.acquire().await;
                self.pass_waiting.fetch_sub(1, Ordering::SeqCst);
                (slot, None)
            }
            Priority::Spare(share) => {
                let own = share.acquire().await;
                while self.pass_waiting.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(SPARE_POLL).await;
                }
                (self.limit.acquire().await, Some((share, own)))
            }
        }
    }

    /// Counts the request out in the limiters whose places it holds, by the time it
    /// really leaves (the share's first: the lookups' count is the closer to the send).
    async fn go(&self, (slot, spare): (Slot, Option<(&RateLimit, Slot)>)) {
        if let Some((share, own)) = spare {
            share.go(own).await;
        }
        self.limit.go(slot).await;
    }

    /// One lookup, paced and tried again while its answer says so.
    async fn ask<T>(
        &self,
        http: &reqwest::Client,
        priority: Priority<'_>,
        key: &ApiKey,
        call: &str,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        read: impl Fn(StatusCode, &[u8]) -> Read<T>,
    ) -> Result<T, String> {
        let mut wait = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            let places = self.turn(priority).await;
            let Some(request) = authorize(request(http), key) else {
                return Err("the API key is not a valid header".into());
            };
            self.go(places).await;
            let sent = tokio::time::Instant::now();
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match read_body(response, super::MAX_LISTING_BODY).await {
                        // A cut page of an error (a proxy's) is still judged by its status.
                        Ok((_, true)) if status.is_success() => Read::Unusable(format!(
                            "the answer is longer than {} MiB: not believable",
                            super::MAX_LISTING_BODY / (1024 * 1024)
                        )),
                        Ok((body, _)) => read(status, &body),
                        Err(e) => Read::Again(format!("{call}: the answer was cut: {e}")),
                    }
                }
                Err(e) => Read::Again(format!("{call}: {}", super::transport_reason(&e))),
            };
            if let Ok(mut last) = self.round_trip.lock() {
                *last = Some(sent.elapsed());
            }
            match answer {
                Read::Got(found) => {
                    self.limit.speed_up();
                    crate::metrics::key_refused(false);
                    return Ok(found);
                }
                Read::KeyRefused => {
                    crate::metrics::key_refused(true);
                    return Err(format!("{call}: the API key was refused"));
                }
                Read::Again(why) => {
                    if why.contains("0429") || why.contains("HTTP 429") {
                        let rate = self.limit.slow_down();
                        info!("lookups: too many requests, pace now {rate:.2} a second");
                    }
                    last = why;
                }
                Read::Unusable(why) => return Err(format!("{call}: {why}")),
            }
        }
        Err(format!("{last} (after {ATTEMPTS} tries)"))
    }
}

/// The listing calls as the lifecycle rules use them: whole pages of a namespace, on the
/// process's lookup limiter, in the turns the pass leaves free.
#[derive(Clone)]
pub struct Catalogue {
    http: reqwest::Client,
    lookups: Arc<Lookups>,
}

/// One video as a listing showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVideo {
    pub video_no: String,
    /// Upload time, Unix milliseconds; `None` when absent or unreadable.
    pub create_ms: Option<i64>,
    pub status: Option<String>,
    /// `None`: the listing showed no tags.
    pub tags: Option<Vec<String>>,
}

/// One page of a namespace's listing, every video with what the rules read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CataloguePage {
    pub videos: Vec<ListedVideo>,
    pub total: Option<u64>,
    /// The size the API used (maybe less than asked), when it says.
    pub page_size: Option<u64>,
}

impl Catalogue {
    /// Every namespace of the account.
    pub async fn namespaces(
        &self,
        key: &ApiKey,
        share: &RateLimit,
    ) -> Result<HashSet<String>, String> {
        let url = self.lookups.list_unique_ids.clone();
        self.lookups
            .ask(
                &self.http,
                Priority::Spare(share),
                key,
                "list_unique_ids",
                |http| http.get(url.clone()),
                read_namespaces,
            )
            .await
    }

    /// Page `page` of the namespace's videos, unfiltered ([`CATALOGUE_PAGE`] asked). The
    /// caller checks first that the namespace exists: listing may create it.
    pub async fn page(
        &self,
        key: &ApiKey,
        share: &RateLimit,
        namespace: &Namespace,
        page: u64,
    ) -> Result<CataloguePage, String> {
        let body = serde_json::json!({
            "unique_id": namespace.as_str(),
            "page": page,
            "size": CATALOGUE_PAGE,
        });
        let url = self.lookups.list_videos.clone();
        self.lookups
            .ask(
                &self.http,
                Priority::Spare(share),
                key,
                "list_videos",
                |http| http.post(url.clone()).json(&body),
                read_catalogue,
            )
            .await
    }
}

/// The documented envelope: `data` when the answer is a success, else what to do.
fn envelope(status: StatusCode, body: &[u8]) -> Read<Value> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (status.as_u16(), code.as_deref()) {
        (429, _) | (_, Some("0429")) => Read::Again("HTTP 429 / 0429: rate limited".into()),
        (500..=599, _) => Read::Again(format!("HTTP {status}: server error")),
        (status, code) if super::refuses_key(status, code) => Read::KeyRefused,
        (200..=299, Some("0000")) => {
            let success = parsed.as_ref().and_then(|v| v.get("success"));
            if success.is_some_and(|s| s != &Value::Bool(true)) {
                return Read::Unusable("answered 0000 but success is not true".into());
            }
            match parsed.and_then(|mut v| v.get_mut("data").map(Value::take)) {
                Some(data) => Read::Got(data),
                None => Read::Unusable("answered 0000 without data".into()),
            }
        }
        (200..=299, Some(code)) => Read::Unusable(format!("answered {code}")),
        (200..=299, None) => Read::Unusable("a body that is not the documented JSON".into()),
        _ => Read::Unusable(format!("HTTP {status}")),
    }
}

/// Reads one `list_videos` page: the listed video numbers, every one of which must have
/// been asked for.
pub fn read_videos(asked: &HashSet<&str>, status: StatusCode, body: &[u8]) -> Read<Page> {
    let data = match envelope(status, body) {
        Read::Got(data) => data,
        Read::Again(why) => return Read::Again(why),
        Read::Unusable(why) => return Read::Unusable(why),
        Read::KeyRefused => return Read::KeyRefused,
    };
    let Some(videos) = data.get("videos").and_then(Value::as_array) else {
        return Read::Unusable("data.videos is not a list: not the documented answer".into());
    };
    let mut listed = Vec::with_capacity(videos.len());
    for video in videos {
        let Some(no) = video.get("video_no").and_then(Value::as_str) else {
            return Read::Unusable(
                "a listed video has no video_no: not the documented answer".into(),
            );
        };
        if !asked.contains(no) {
            return Read::Unusable(format!(
                "listed {} which was not asked for: the video_nos filter was ignored",
                crate::printable::quoted(no, 40)
            ));
        }
        listed.push(no.to_owned());
    }
    let (total, page_size) = match counts(&data) {
        Ok(counts) => counts,
        Err(why) => return Read::Unusable(why),
    };
    Read::Got(Page {
        listed,
        total,
        page_size,
    })
}

/// Reads `list_unique_ids`: every namespace of the account.
pub fn read_namespaces(status: StatusCode, body: &[u8]) -> Read<HashSet<String>> {
    let data = match envelope(status, body) {
        Read::Got(data) => data,
        Read::Again(why) => return Read::Again(why),
        Read::Unusable(why) => return Read::Unusable(why),
        Read::KeyRefused => return Read::KeyRefused,
    };
    let Some(list) = data.get("unique_ids").and_then(Value::as_array) else {
        return Read::Unusable("data.unique_ids is not a list: not the documented answer".into());
    };
    let mut namespaces = HashSet::with_capacity(list.len());
    for namespace in list {
        match namespace.as_str() {
            Some(ns) => namespaces.insert(ns.to_owned()),
            None => return Read::Unusable("a namespace that is not a string".into()),
        };
    }
    // An account always has the namespace requests without one go to: a list without it
    // (an empty one, say) would make every row of it absent without a lookup.
    if !namespaces.contains("default") {
        return Read::Unusable("the list of namespaces lacks \"default\": not believable".into());
    }
    Read::Got(namespaces)
}

/// Reads one page of a namespace's listing for the rules: each video's number, upload
/// time, state and tags. A video without a number, or a count that is not one, makes the
/// page unusable; a field the rules may need but cannot read is kept as unknown (such a
/// video matches no rule that needs it).
pub fn read_catalogue(status: StatusCode, body: &[u8]) -> Read<CataloguePage> {
    let data = match envelope(status, body) {
        Read::Got(data) => data,
        Read::Again(why) => return Read::Again(why),
        Read::Unusable(why) => return Read::Unusable(why),
        Read::KeyRefused => return Read::KeyRefused,
    };
    let Some(list) = data.get("videos").and_then(Value::as_array) else {
        return Read::Unusable("data.videos is not a list: not the documented answer".into());
    };
    let mut videos = Vec::with_capacity(list.len());
    for video in list {
        let Some(no) = video.get("video_no").and_then(Value::as_str) else {
            return Read::Unusable(
                "a listed video has no video_no: not the documented answer".into(),
            );
        };
        let tags = video.get("tags").and_then(Value::as_array).map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
        videos.push(ListedVideo {
            video_no: no.to_owned(),
            create_ms: video
                .get("create_time")
                .and_then(number)
                .and_then(|ms| i64::try_from(ms).ok()),
            status: video
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tags,
        });
    }
    let (total, page_size) = match counts(&data) {
        Ok(counts) => counts,
        Err(why) => return Read::Unusable(why),
    };
    Read::Got(CataloguePage {
        videos,
        total,
        page_size,
    })
}

/// A page's `total_count` and `page_size`, each when given.
fn counts(data: &Value) -> Result<(Option<u64>, Option<u64>), String> {
    let mut counts = [None, None];
    for (slot, name) in counts.iter_mut().zip(["total_count", "page_size"]) {
        *slot = match data.get(name) {
            None | Some(Value::Null) => None,
            Some(count) => Some(number(count).ok_or_else(|| format!("{name} is not a number"))?),
        };
    }
    let [total, page_size] = counts;
    Ok((total, page_size))
}

/// A count as the docs show it: an integer, or a string of digits.
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: u16, body: &str) -> Read<Page> {
        let asked: HashSet<&str> = ["VI1", "VI2", "VI3"].into_iter().collect();
        read_videos(
            &asked,
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
        )
    }

    fn ok(data: &str) -> String {
        format!(r#"{{"code":"0000","msg":"success","success":true,"failed":false,"data":{data}}}"#)
    }

    #[test]
    fn a_listing_is_trusted_only_when_it_is_what_was_asked() {
        let got = |listed: &[&str], total: Option<u64>| {
            Read::Got(Page {
                listed: listed.iter().map(|s| s.to_string()).collect(),
                total,
                page_size: None,
            })
        };
        let unusable = |r: &Read<Page>| matches!(r, Read::Unusable(_));
        let again = |r: &Read<Page>| matches!(r, Read::Again(_));
        let key_refused = |r: &Read<Page>| matches!(r, Read::KeyRefused);
        // Numbers as strings or integers, as the two versions of the docs show them.
        assert_eq!(
            page(
                200,
                &ok(r#"{"videos":[{"video_no":"VI1","duration":"12"}],"total_count":"1"}"#)
            ),
            got(&["VI1"], Some(1))
        );
        assert_eq!(
            page(
                200,
                &ok(r#"{"videos":[{"video_no":"VI2"},{"video_no":"VI3"}],"total_count":2}"#)
            ),
            got(&["VI2", "VI3"], Some(2))
        );
        assert_eq!(page(200, &ok(r#"{"videos":[]}"#)), got(&[], None));
        // The size the API used, which may be less than asked: the pager reads on.
        assert_eq!(
            page(
                200,
                &ok(r#"{"videos":[{"video_no":"VI1"}],"page_size":"1"}"#)
            ),
            Read::Got(Page {
                listed: vec!["VI1".into()],
                total: None,
                page_size: Some(1),
            })
        );
        for (status, body, judged) in [
            // The filter ignored: a video nobody asked for.
            (
                200,
                ok(r#"{"videos":[{"video_no":"VI9"}]}"#),
                unusable as fn(&Read<Page>) -> bool,
            ),
            (200, ok(r#"{"videos":[{"name":"VI1"}]}"#), unusable),
            (200, ok(r#"{"videos":[{"video_no":1}]}"#), unusable),
            (200, ok(r#"{"videos":{"video_no":"VI1"}}"#), unusable),
            (200, ok("null"), unusable),
            (200, ok(r#"{"videos":[],"total_count":"many"}"#), unusable),
            (
                200,
                r#"{"code":"0000","success":false,"data":{"videos":[]}}"#.into(),
                unusable,
            ),
            (200, r#"{"code":"0000","success":true}"#.into(), unusable),
            (200, "<html>proxy</html>".into(), unusable),
            (200, r#"{"code":"0001","msg":"bad"}"#.into(), unusable),
            (200, r#"{"code":"0401","msg":"no"}"#.into(), key_refused),
            (200, r#"{"code":"9009","msg":"no"}"#.into(), key_refused),
            (401, String::new(), key_refused),
            (403, String::new(), key_refused),
            (404, String::new(), unusable),
            (200, r#"{"code":"0429","msg":"busy"}"#.into(), again),
            (429, String::new(), again),
            (503, "down".into(), again),
        ] {
            let read = page(status, &body);
            assert!(judged(&read), "{status} {body}: {read:?}");
        }
    }

    #[test]
    fn a_catalogue_page_keeps_what_it_can_read_of_each_video() {
        let read = |body: &str| read_catalogue(StatusCode::OK, body.as_bytes());
        let listed =
            |no: &str, ms: Option<i64>, status: Option<&str>, tags: Option<&[&str]>| ListedVideo {
                video_no: no.into(),
                create_ms: ms,
                status: status.map(str::to_owned),
                tags: tags.map(|t| t.iter().map(|s| s.to_string()).collect()),
            };
        let body = ok(r#"{"videos":[
            {"video_no":"VI1","create_time":1764000000000,"status":"PARSE","tags":["a","b"]},
            {"video_no":"VI2","create_time":"1764000000001","status":"PARSE_ERROR"},
            {"video_no":"VI3","create_time":"yesterday","tags":"a"},
            {"video_no":"VI4","create_time":-5,"status":7},
            {"video_no":"VI5","create_time":1.5e12}
        ],"total_count":"5","page_size":200}"#);
        assert_eq!(
            read(&body),
            Read::Got(CataloguePage {
                videos: vec![
                    listed(
                        "VI1",
                        Some(1_764_000_000_000),
                        Some("PARSE"),
                        Some(&["a", "b"])
                    ),
                    listed("VI2", Some(1_764_000_000_001), Some("PARSE_ERROR"), None),
                    listed("VI3", None, None, None),
                    listed("VI4", None, None, None),
                    listed("VI5", None, None, None),
                ],
                total: Some(5),
                page_size: Some(200),
            })
        );
        for body in [
            ok(r#"{"videos":[{"create_time":1}]}"#),
            ok(r#"{"videos":[{"video_no":5}]}"#),
            ok(r#"{"videos":null}"#),
            ok(r#"{"videos":[],"total_count":"a few"}"#),
        ] {
            assert!(matches!(read(&body), Read::Unusable(_)), "{body}");
        }
        assert_eq!(
            read(r#"{"code":"0429"}"#),
            Read::Again("HTTP 429 / 0429: rate limited".into())
        );
    }

    #[test]
    fn namespaces_are_read_as_a_list_of_strings() {
        let read = |body: &str| read_namespaces(StatusCode::OK, body.as_bytes());
        assert_eq!(
            read(&ok(r#"{"unique_ids":["default","Tenant A"]}"#)),
            Read::Got(
                ["default", "Tenant A"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        assert!(matches!(
            read(&ok(r#"{"unique_ids":"default"}"#)),
            Read::Unusable(_)
        ));
        assert!(matches!(
            read(&ok(r#"{"unique_ids":[1]}"#)),
            Read::Unusable(_)
        ));
        assert!(matches!(read(r#"{"code":"0429"}"#), Read::Again(_)));
        // Without `default`, no list of the account's namespaces is believable.
        assert!(matches!(
            read(&ok(r#"{"unique_ids":[]}"#)),
            Read::Unusable(_)
        ));
        assert!(matches!(
            read(&ok(r#"{"unique_ids":["tenant"]}"#)),
            Read::Unusable(_)
        ));
    }
}
