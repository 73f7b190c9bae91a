//! Looking before deleting (`[verify] before`): the API answers `0000` for a video that
//! does not exist or lives in another namespace, so a batch is looked up in its namespace
//! first. Ids listed are sent; an id not listed is not sent, and what that means is
//! decided by [`on_miss`], pure and table-tested:
//! - this program sent it before in a request whose answer was lost (`in_doubt`): that
//!   request deleted it, and it is `deleted`;
//! - missed once: looked up again `verify.absent_after` later (a fresh upload may not be
//!   listed yet);
//! - missed again after that: `absent`, "nothing to delete".
//!
//! A lookup that cannot be trusted concludes nothing ([`Listing::Unavailable`]): the batch
//! is sent unverified (one warning per pass), or with `verify.required` the pass stops and
//! its rows wait.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{journal, Claimed, PassReport, Reaper};
use crate::api::Listing;
use crate::api::{DeleteApi, LookupApi};
use crate::config::VerifyConfig;
use crate::credentials::ApiKey;
use crate::queue::QueueError;
use crate::queue::{Check, Miss, Store};
use crate::video::{Namespace, VideoNo};
use crate::vocabulary::RowStatus;

/// The one place that decides what a lookup's miss means. A namespace the account does
/// not have holds nothing, and no request of ours deleted anything in it: doubt does not
/// count there.
pub fn on_miss(
    in_doubt: bool,
    namespace_exists: bool,
    first_missed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    absent_after: Duration,
) -> Miss {
    if in_doubt && namespace_exists {
        return Miss::Deleted;
    }
    match first_missed {
        Some(at) if (now - at).to_std().is_ok_and(|since| since >= absent_after) => {
            if namespace_exists {
                Miss::Absent
            } else {
                Miss::NoNamespace
            }
        }
        _ => Miss::LookAgain,
    }
}

/// What the rows of a claim need from a lookup: per id, whether a request of ours with a
/// lost answer may have deleted it, and when a lookup first missed it.
#[derive(Debug, Default)]
pub struct Known {
    pub in_doubt: HashSet<VideoNo>,
    pub first_missed: HashMap<VideoNo, DateTime<Utc>>,
}

/// How a look before sending ended.
pub enum Looked {
    /// Send these (all of them when the lookup was unavailable and not required), listed
    /// at `listed` (`None`: not looked up).
    Send {
        ids: Vec<VideoNo>,
        listed: Option<Instant>,
    },
    /// `verify.required` and the lookups unavailable: the pass stops, the rows wait.
    Stop(String),
    /// Shutdown (or a halted pass) came first: nothing settled, the rows go back.
    Interrupted,
}

/// Verification's settings and what it keeps for one pass: the account's namespaces
/// (looked up once a pass), and whether the pass has warned about unverified sends.
pub struct Verifier {
    config: VerifyConfig,
    namespaces: Mutex<Option<Result<Arc<HashSet<String>>, String>>>,
    warned: AtomicBool,
}

impl Verifier {
    pub fn new(config: &VerifyConfig) -> Self {
        Self {
            config: config.clone(),
            namespaces: Mutex::default(),
            warned: AtomicBool::new(false),
        }
    }

    pub fn before(&self) -> bool {
        self.config.before
    }

    /// Whether a pass looks anything up.
    pub fn looks(&self) -> bool {
        self.config.before || self.config.after
    }

    /// How long after a deletion its rows are looked up again; `None` when not.
    pub fn check_after(&self) -> Option<Duration> {
        self.config.after.then_some(self.config.after_delay)
    }

    /// Forgets what the last pass learnt.
    pub async fn begin_pass(&self) {
        *self.namespaces.lock().await = None;
        self.warned.store(false, Ordering::Relaxed);
    }
}

impl<A: DeleteApi + LookupApi, S: Store> Reaper<A, S> {
    /// Looks `ids` up in their namespace and settles those it does not list; returns what
    /// to send.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn look_before(
        &self,
        claimed: &Claimed<'_, S>,
        ids: Vec<VideoNo>,
        known: &Known,
        report: &mut PassReport,
    ) -> Result<Looked, QueueError> {
        let Claimed {
            guard,
            namespace,
            key,
            halt,
            ..
        } = *claimed;
        // A lookup waits for its turn on the lookups' own pace, which a squeezed quota can
        // make slow: shutdown must not wait for it.
        let listing = tokio::select! {
            biased;
            _ = halt.cancelled() => return Ok(Looked::Interrupted),
            listing = self.listing(key, namespace, &ids) => listing,
        };
        let listed_at = Instant::now();
        let (found, namespace_exists) = match listing {
            Looking::Listed(found) => {
                // The key and the API answer: no need for a deletion to probe them.
                self.window.looked_up(self.api.rate());
                (found, true)
            }
            Looking::NoNamespace => (HashSet::new(), false),
            Looking::Unavailable(why) => {
                let required = self.verify.config.required;
                if !self.verify.warned.swap(true, Ordering::Relaxed) {
                    let instead = if required {
                        journal::Unlooked::Hold
                    } else {
                        journal::Unlooked::Send
                    };
                    journal::unverified(namespace, &why, instead);
                }
                if required {
                    return Ok(Looked::Stop(format!(
                        "the lookups cannot be used ({why}); verify.required keeps the rows pending"
                    )));
                }
                return Ok(Looked::Send { ids, listed: None });
            }
        };
        let now = Utc::now();
        let absent_after = self.verify.config.absent_after;
        let (send, missing): (Vec<VideoNo>, Vec<VideoNo>) =
            ids.into_iter().partition(|id| found.contains(id.as_str()));
        let missing: Vec<(VideoNo, Miss)> = missing
            .into_iter()
            .map(|id| {
                let miss = on_miss(
                    known.in_doubt.contains(&id),
                    namespace_exists,
                    known.first_missed.get(&id).copied(),
                    now,
                    absent_after,
                );
                (id, miss)
            })
            .collect();
        // The request that sends a listed row records its listing (one transaction less a
        // lookup); only a row a lookup missed before is marked now, so that its miss no
        // longer counts even if it is not sent (a row listed and not sent is recorded as
        // not looked up: a later miss then proves less, never more).
        let missed_before: Vec<VideoNo> = send
            .iter()
            .filter(|id| known.first_missed.contains_key(*id))
            .cloned()
            .collect();
        let settled = self
            .store
            .record_lookup(
                guard.token(),
                namespace,
                &missed_before,
                &missing,
                absent_after,
            )
            .await?;
        report.settled(RowStatus::Deleted, settled.deleted);
        report.settled(RowStatus::Absent, settled.absent);
        journal::looked_up(namespace, send.len(), &missing, absent_after);
        self.liveness.beat();
        Ok(Looked::Send {
            ids: send,
            listed: Some(listed_at),
        })
    }

    /// Looks up again the deleted rows whose check is due (`[verify] after`): those no
    /// longer listed are verified; those still listed go back to be sent again, and fail
    /// after `verify.after_rounds` rounds. Runs at the start of a pass, before its claims.
    pub(super) async fn look_after(
        &self,
        key: &ApiKey,
        shutdown: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<(), QueueError> {
        let Some(delay) = self.verify.check_after() else {
            return Ok(());
        };
        let rounds = self.verify.config.after_rounds.get();
        // Shutdown stops it between batches too: a backlog of checks must not hold it.
        while !shutdown.is_cancelled() {
            let Some(batch) = self
                .store
                .claim_unchecked(self.batch_size, self.lease)
                .await?
            else {
                break;
            };
            // Rows that cannot be looked up (a namespace or an id that no longer parses,
            // under a changed config) keep their deletion unverified.
            let namespace = batch
                .namespace
                .as_deref()
                .map(Namespace::parse)
                .and_then(Result::ok);
            let mut ids = Vec::new();
            let mut unknowable = Vec::new();
            for (row, id) in &batch.rows {
                match (&namespace, id.as_deref().map(|id| self.rule.parse(id))) {
                    (Some(_), Some(Ok(id))) => ids.push((*row, id)),
                    _ => unknowable.push(*row),
                }
            }
            let namespace = namespace.unwrap_or_default();
            let distinct: Vec<VideoNo> = ids
                .iter()
                .map(|(_, id)| id.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            // Interrupted, the rows claimed come due again when their claim (`check_at`
            // pushed a lease ahead) runs out.
            let listing = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                listing = self.listing(key, &namespace, &distinct) => listing,
            };
            let found = match listing {
                Looking::Listed(found) => found,
                // Nothing of it is listed anywhere it could be: gone.
                Looking::NoNamespace => HashSet::new(),
                Looking::Unavailable(why) => {
                    if !self.verify.warned.swap(true, Ordering::Relaxed) {
                        journal::unverified(&namespace, &why, journal::Unlooked::CheckLater);
                    }
                    let rows: Vec<(i64, Check)> = batch
                        .rows
                        .iter()
                        .map(|(r, _)| (*r, Check::Later(delay)))
                        .collect();
                    let checked = self.store.record_check(&namespace, &rows, rounds).await?;
                    journal::checked(&namespace, &checked);
                    // Nothing more can be checked this pass.
                    return Ok(());
                }
            };
            let mut rows: Vec<(i64, Check)> = ids
                .iter()
                .map(|(row, id)| {
                    let check = if found.contains(id.as_str()) {
                        Check::Listed
                    } else {
                        Check::Gone
                    };
                    (*row, check)
                })
                .collect();
            rows.extend(unknowable.into_iter().map(|row| (row, Check::Unknowable)));
            let checked = self.store.record_check(&namespace, &rows, rounds).await?;
            journal::checked(&namespace, &checked);
            report.settled(RowStatus::Failed, checked.failed);
            self.liveness.beat();
        }
        Ok(())
    }

    /// What the namespace lists of `ids`; without asking, when the account has no such
    /// namespace (listing it might create it).
    async fn listing(&self, key: &ApiKey, namespace: &Namespace, ids: &[VideoNo]) -> Looking {
        match self.namespaces(key).await {
            Err(why) => Looking::Unavailable(why),
            Ok(all) if !all.contains(namespace.as_str()) => Looking::NoNamespace,
            Ok(_) => match self.api.list(key, namespace, ids).await {
                Listing::Listed(found) => Looking::Listed(found),
                Listing::Unavailable(why) => Looking::Unavailable(why),
            },
        }
    }

    /// The account's namespaces, looked up once a pass.
    async fn namespaces(&self, key: &ApiKey) -> Result<Arc<HashSet<String>>, String> {
        let mut cached = self.verify.namespaces.lock().await;
        if let Some(known) = &*cached {
            return known.clone();
        }
        let known = self.api.namespaces(key).await.map(Arc::new);
        *cached = Some(known.clone());
        known
    }
}

/// What a lookup found of a namespace.
enum Looking {
    /// These of the ids asked.
    Listed(HashSet<String>),
    /// The account has no such namespace: it lists nothing.
    NoNamespace,
    /// Nothing can be concluded.
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_miss_means() {
        let now = Utc::now();
        let after = Duration::from_secs(300);
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        for (in_doubt, exists, first_missed, expected) in [
            // A request of ours whose answer was lost: it deleted the video, or it was
            // never there.
            (true, true, None, Miss::Deleted),
            (true, true, ago(3600), Miss::Deleted),
            // First miss: look again later.
            (false, true, None, Miss::LookAgain),
            // Missed before, but not long enough ago (claimed again early).
            (false, true, ago(299), Miss::LookAgain),
            // A first miss in the future (a clock stepped back): look again.
            (false, true, ago(-600), Miss::LookAgain),
            // Missed twice, far enough apart.
            (false, true, ago(300), Miss::Absent),
            (false, true, ago(86_400), Miss::Absent),
            // No such namespace: doubt does not count, and it is absent only twice.
            (true, false, None, Miss::LookAgain),
            (false, false, ago(299), Miss::LookAgain),
            (true, false, ago(300), Miss::NoNamespace),
            (false, false, ago(300), Miss::NoNamespace),
        ] {
            assert_eq!(
                on_miss(in_doubt, exists, first_missed, now, after),
                expected,
                "in_doubt {in_doubt}, namespace exists {exists}, first missed {first_missed:?}"
            );
        }
    }
}
