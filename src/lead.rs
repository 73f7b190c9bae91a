//! One sender per database, so one rate for the account whatever the number of daemons.
//!
//! Daemons sharing a queue (several hosts on one PostgreSQL, or a second process on one
//! SQLite file) share the account, and the account's rate is counted at the API. Each
//! daemon asks for the sender's lease (`sender_lease`, one row, times on the database's
//! clock) every third of the lease (`database.sender_lease`, 15 s by default): the one that holds it runs passes, the others stand by
//! and take it over once it runs out. The leader's own rate limit is then the account's.
//!
//! A leader counts its lease from *before* it asked (its own monotonic clock), so its idea
//! of the end comes no later than the database's; it stops starting requests a fifth of
//! the lease before that end, by cancelling the token its passes run under. A standby can take the
//! lease only after the database's end: by then the old leader has started nothing for
//! that long, and the requests it recorded just before are counted by the new leader's rate
//! limit (`Store::others_requests`). What each failure costs (ARCHITECTURE.md, "One sender
//! per database"):
//! - the leader killed: its lease runs out; a standby leads within the lease and a third;
//! - the leader cut off from the database: it cannot record a request, so it sends none;
//!   it stops a fifth of the lease before its end, and a standby leads as above (a request
//!   its kernel still holds when the link comes back is delivered then, late: the one
//!   case the account's rate can be exceeded, by that request);
//! - the database restarted: nobody can record a request meanwhile; the lease row is
//!   durable, so the leader renews it when the database is back (or a standby takes it);
//! - the leader stopped (SIGTERM): it resigns after its last request: a standby leads at
//!   its next ask, within a third of the lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::queue::{Lead, Queue};

/// How long a stopping daemon waits to give its lease up.
const RESIGN_WITHIN: Duration = Duration::from_secs(5);

/// A leader stops starting requests this part of its lease before the lease could end.
fn margin(lease: Duration) -> Duration {
    lease / 5
}

/// What this daemon is, as last found.
#[derive(Debug, Clone)]
pub enum Role {
    /// Not known yet: the first ask has not been answered.
    Asking,
    /// This daemon sends; passes run under the token, cancelled when the lease is lost.
    Leading(CancellationToken),
    /// Another daemon sends.
    Standby { holder: String, remaining: Duration },
    /// The last ask failed (the database away, or this role may not write the lease):
    /// this daemon does not send, and says why.
    Unknown(String),
}

/// The lease's token while this daemon leads, if it does now.
fn leading(role: &watch::Receiver<Role>) -> Option<CancellationToken> {
    match &*role.borrow() {
        Role::Leading(token) if !token.is_cancelled() => Some(token.clone()),
        _ => None,
    }
}

/// Whether this daemon sends, as seen from another task.
#[derive(Clone)]
pub struct LeadWatch(watch::Receiver<Role>);

impl LeadWatch {
    /// The lease's token while this daemon leads (cancelled when the lease is lost).
    pub fn token(&self) -> Option<CancellationToken> {
        leading(&self.0)
    }

    /// Waits until this daemon leads; never, once the lease's task has ended.
    pub async fn leading(&mut self) {
        let led = self
            .0
            .wait_for(|r| matches!(r, Role::Leading(t) if !t.is_cancelled()))
            .await
            .is_ok();
        if !led {
            std::future::pending::<()>().await;
        }
    }
}

/// This daemon's side of the lease, kept by a task of its own.
pub struct Leadership {
    holder: Arc<str>,
    role: watch::Receiver<Role>,
    queue: Queue,
    /// Stops the task (a child of the shutdown's token).
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// This process, as the lease names it: host, pid, and a random part (pids are reused).
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".into());
    format!(
        "{} pid {} ({:08x})",
        crate::printable::cut(&host, 64),
        std::process::id(),
        rand::random::<u32>()
    )
}

impl Leadership {
    /// Starts asking for the lease; stops when `shutdown` is cancelled.
    pub fn start(queue: Queue, lease: Duration, shutdown: CancellationToken) -> Self {
        let holder: Arc<str> = holder_name().into();
        let (tx, role) = watch::channel(Role::Asking);
        let stop = shutdown.child_token();
        let task = tokio::spawn(keep(queue.clone(), holder.clone(), lease, tx, stop.clone()));
        Self {
            holder,
            role,
            queue,
            stop,
            task,
        }
    }

    /// The role once the first ask is answered (at once, later).
    pub async fn settled(&mut self) -> Role {
        let role = self
            .role
            .wait_for(|r| !matches!(r, Role::Asking))
            .await
            .map(|r| r.clone());
        // The task only ends at shutdown.
        role.unwrap_or_else(|_| Role::Unknown("shutting down".into()))
    }

    /// The token to run a pass under, if this daemon leads now.
    pub fn token(&self) -> Option<CancellationToken> {
        leading(&self.role)
    }

    /// For other tasks that work only while this daemon sends (the lifecycle rules).
    pub fn watch(&self) -> LeadWatch {
        LeadWatch(self.role.clone())
    }

    /// Waits until the role changes; the new one.
    pub async fn changed(&mut self) -> Role {
        match self.role.changed().await {
            Ok(()) => self.role.borrow_and_update().clone(),
            // The task ended (shutdown): never again.
            Err(_) => std::future::pending().await,
        }
    }

    /// Gives the lease up after the last pass, so that a standby leads at once. The task
    /// is stopped first: a renewal after the resignation would hold the lease for a
    /// process about to end.
    pub async fn resign(self) {
        self.stop.cancel();
        let _ = self.task.await;
        // Bounded: a daemon stopping with its database away must still stop in time.
        match tokio::time::timeout(RESIGN_WITHIN, self.queue.resign(&self.holder)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(
                "cannot give up the sender's lease ({e}); a standby takes over when it runs out"
            ),
            Err(_) => warn!(
                "giving up the sender's lease took longer than {}; a standby takes over when \
                 it runs out",
                humantime::format_duration(RESIGN_WITHIN)
            ),
        }
    }
}

/// The task: asks every third of the lease, and gives up leading when the lease could
/// end within its margin.
async fn keep(
    queue: Queue,
    holder: Arc<str>,
    lease: Duration,
    role: watch::Sender<Role>,
    shutdown: CancellationToken,
) {
    let mut leading: Option<(CancellationToken, Instant)> = None;
    let mut standby_of: Option<String> = None;
    loop {
        let asked = Instant::now();
        let answer = tokio::time::timeout(lease / 3, queue.lead(&holder, lease)).await;
        match answer {
            Ok(Ok(Lead::Granted)) => {
                let until = asked + lease;
                match &mut leading {
                    Some((_, end)) => *end = until,
                    None => {
                        // The predecessor's last lookups are recorded nowhere: a second
                        // passes before the first request, so that they have left the
                        // window whatever they were. (Its deletions are counted from
                        // their records.)
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(crate::rate::WINDOW) => {}
                        }
                        let token = shutdown.child_token();
                        info!("this daemon now sends for the database ({holder} holds the sender's lease)");
                        role.send_replace(Role::Leading(token.clone()));
                        leading = Some((token, until));
                        standby_of = None;
                    }
                }
            }
            Ok(Ok(Lead::HeldBy {
                holder: other,
                remaining,
            })) => {
                if let Some((token, _)) = leading.take() {
                    token.cancel();
                    warn!("{other} took the sender's lease: this daemon stops sending");
                }
                if standby_of.as_deref() != Some(other.as_str()) {
                    info!(
                        "standing by: {} sends for this database (its lease runs {} more)",
                        crate::printable::cut(&other, 200),
                        humantime::format_duration(Duration::from_secs(remaining.as_secs()))
                    );
                    standby_of = Some(other.clone());
                }
                role.send_replace(Role::Standby {
                    holder: other,
                    remaining,
                });
            }
            Ok(Err(e)) => {
                warn!("cannot ask for the sender's lease: {e}");
                // A leader goes on until its margin; anyone else learns it cannot know.
                if leading.is_none() {
                    role.send_replace(Role::Unknown(e.to_string()));
                }
            }
            Err(_) => {
                let why = format!(
                    "asking for the sender's lease took longer than {}",
                    humantime::format_duration(lease / 3)
                );
                warn!("{why}");
                if leading.is_none() {
                    role.send_replace(Role::Unknown(why));
                }
            }
        }
        let mut wake = asked + lease / 3;
        if let Some((_, end)) = &leading {
            wake = wake.min(*end - margin(lease));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
        if let Some((token, end)) = &leading {
            if Instant::now() + margin(lease) >= *end {
                token.cancel();
                leading = None;
                role.send_replace(Role::Asking);
                warn!(
                    "the sender's lease could not be renewed in time: this daemon stops \
                     sending; a standby takes over when it runs out"
                );
            }
        }
    }
}
