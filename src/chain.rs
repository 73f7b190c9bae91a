//! The settlement chain's vocabulary and audit, the same on every backend and free of SQL:
//! the kinds of entry, an entry before it is chained, its hash, and the [`Auditor`] that
//! each backend feeds as it reads its tables (`receipts --verify`). How entries are
//! appended and read is `queue::chain`'s. ARCHITECTURE.md, "The settlement chain", says
//! what an entry holds.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::vocabulary::{Proof, RowStatus};

/// What settled the rows of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request recorded just before it is sent (`batch_id`): its rows are in flight.
    Request,
    /// The API's answer to a request (`batch_id`).
    Answer,
    /// Duplicate rows of a video the API refused for good (`batch_id`).
    Duplicates,
    /// Failed without being sent (an invalid id or namespace).
    Unsent,
    /// Settled from an earlier deletion of the video, without being sent.
    History,
    /// A lookup before sending: absent, or deleted by a request whose answer was lost.
    Lookup,
    /// A lookup after deleting found the video still listed: pending again, or failed.
    Check,
    /// `retry-failed` put failed rows back to pending.
    Reopen,
    /// A request record prune keeps (an answer never recorded, a row still points at it)
    /// while it removes the entries that named it: vouched for again.
    Carry,
    /// Where the chain starts, as a prune moved it (or as migration 0012 found it): the
    /// anchor row must say what the latest such entry says, so a prefix of the chain
    /// removed by hand, with the anchor moved onto what is left, is found.
    Anchor,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Answer => "answer",
            Self::Duplicates => "duplicates",
            Self::Unsent => "unsent",
            Self::History => "history",
            Self::Lookup => "lookup",
            Self::Check => "check",
            Self::Reopen => "reopen",
            Self::Carry => "carry",
            Self::Anchor => "anchor",
        }
    }
}

/// A row as an entry holds it: id, video number, new status, and what proves it (`None`
/// for a row not settled by the entry: in flight, put back). Stored as a JSON array;
/// entries written before proofs were recorded hold the first three only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ChainRow(pub i64, pub String, pub String, pub Option<String>);

impl ChainRow {
    pub fn status(&self) -> &str {
        &self.2
    }
}

/// One settlement, before it is chained.
pub struct Entry<'a> {
    pub kind: Kind,
    pub batch_id: Option<i64>,
    pub namespace: &'a str,
    pub rows: Vec<ChainRow>,
    pub code: Option<&'a str>,
    pub msg: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An entry that names request `batch` (and so vouches for its record), without the
    /// API's answer: the request recorded (its rows in flight), or carried by prune.
    pub fn naming(kind: Kind, batch: i64, namespace: &'a str, rows: Vec<ChainRow>) -> Self {
        Self {
            batch_id: Some(batch),
            ..Self::without_request(kind, namespace, rows)
        }
    }

    /// The anchor as it now stands ([`anchor_text`]).
    pub fn anchor(text: &'a str) -> Self {
        Self {
            msg: Some(text),
            ..Self::without_request(Kind::Anchor, "*", Vec::new())
        }
    }

    /// Rows of one namespace settled without a request (a lookup's findings).
    pub fn without_request(kind: Kind, namespace: &'a str, rows: Vec<ChainRow>) -> Self {
        Self {
            kind,
            batch_id: None,
            namespace,
            rows,
            code: None,
            msg: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn digest(
    prev: &str,
    seq: i64,
    settled_at: &str,
    kind: &str,
    batch_id: Option<i64>,
    namespace: &str,
    rows: &str,
    code: Option<&str>,
    msg: Option<&str>,
    request: Option<&str>,
) -> String {
    let mut fields =
        serde_json::json!([prev, seq, settled_at, kind, batch_id, namespace, rows, code, msg]);
    if let (Some(request), Some(fields)) = (request, fields.as_array_mut()) {
        fields.push(request.into());
    }
    let hash = Sha256::digest(fields.to_string().as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

impl Entry<'_> {
    /// Whether there is nothing to chain: a settlement of no row. A request and its answer
    /// always are chained (the entry vouches for the request's record).
    pub fn is_idle(&self) -> bool {
        self.rows.is_empty()
            && !matches!(
                self.kind,
                Kind::Request | Kind::Answer | Kind::Carry | Kind::Anchor
            )
    }

    /// The entry as stored, following `head` (the last entry's, or the anchor's, sequence
    /// number and hash), `request` being the named request's record, if any.
    pub fn seal(mut self, head: (i64, String), request: Option<String>) -> Sealed {
        self.rows.sort();
        let (last, prev) = head;
        let seq = last + 1;
        let settled_at = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string();
        let rows = serde_json::to_string(&self.rows).unwrap_or_default();
        let hash = digest(
            &prev,
            seq,
            &settled_at,
            self.kind.as_str(),
            self.batch_id,
            self.namespace,
            &rows,
            self.code,
            self.msg,
            request.as_deref(),
        );
        Sealed {
            seq,
            settled_at,
            kind: self.kind.as_str(),
            batch_id: self.batch_id,
            namespace: self.namespace.to_owned(),
            rows,
            code: self.code.map(str::to_owned),
            msg: self.msg.map(str::to_owned),
            prev,
            hash,
            request,
        }
    }
}

/// A time as the chain (and SQLite's tables) write it: UTC, text, to the millisecond.
pub fn chain_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// The anchor row (`settlement_anchor`: `seq`, `hash`, `since`, `rows_from` as stored) in
/// words: the
/// `msg` of an `anchor` entry, which the row must match.
pub fn anchor_text(seq: i64, hash: &str, since: &str, rows_from: i64) -> String {
    format!("entry {seq}, hash {hash}, since {since}, rows from {rows_from}")
}

/// An entry as `settlement_chain` stores it (the columns, in the order both backends'
/// INSERT binds them).
pub struct Sealed {
    pub seq: i64,
    pub settled_at: String,
    pub kind: &'static str,
    pub batch_id: Option<i64>,
    pub namespace: String,
    pub rows: String,
    pub code: Option<String>,
    pub msg: Option<String>,
    pub prev: String,
    pub hash: String,
    pub request: Option<String>,
}

/// A row's video number and namespace, as 8 bytes of their SHA-256.
fn fingerprint(video_no: &str, namespace: &str) -> u64 {
    let hash = Sha256::digest(format!("{video_no}\n{namespace}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(bytes)
}

/// What `receipts --verify` found.
#[derive(Debug, Default)]
pub struct Audit {
    /// Where the chain starts: the last entry pruned (0 and zeros before any prune).
    pub anchor: (i64, String),
    pub entries: u64,
    /// The last entry's hash (the anchor's when the chain is empty).
    pub head: String,
    /// Each mismatch, in words; the first few only.
    pub problems: Vec<String>,
    /// Mismatches found in all.
    pub mismatches: u64,
}

impl Audit {
    fn problem(&mut self, what: String) {
        self.mismatches += 1;
        if self.problems.len() < DESCRIBED {
            self.problems.push(what);
        }
    }
}

/// How many mismatches are described; the rest are counted.
const DESCRIBED: usize = 20;

/// A chain entry as stored.
pub struct ChainEntry {
    pub seq: i64,
    pub settled_at: String,
    pub kind: String,
    pub batch_id: Option<i64>,
    pub namespace: String,
    pub rows: String,
    pub code: Option<String>,
    pub msg: Option<String>,
    pub prev: String,
    pub hash: String,
    pub request: Option<String>,
}

/// A request's record, as the backend reads it for verification.
pub struct ChainedRequest {
    pub id: i64,
    /// The whole record, written as entries hold it (each backend's own form).
    pub record: Option<String>,
    pub api_code: Option<String>,
    pub api_msg: Option<String>,
    /// Whether it must have an entry: written since the chain held requests, and not one
    /// the last prune is still removing.
    pub must: bool,
}

/// A queue row, as the backend reads it for verification.
pub struct QueueRow {
    pub id: i64,
    pub status: String,
    pub video_no: String,
    pub unique_id: String,
    pub proof: Option<String>,
    /// Settled, and not provably before the anchor's `since` (a settlement time that can
    /// be read, after the row was queued and after its request, before `since`): it must
    /// have an entry.
    pub covered: bool,
    /// Why its settlement time cannot be true, if it cannot: unreadable, before the row
    /// was queued, before the request that settled it.
    pub impossible: Option<&'static str>,
}

/// What the chain last said of a row.
#[derive(Clone, Copy)]
struct Latest {
    /// [`RowStatus::rank`] of its status.
    status: u8,
    /// Of its video number and namespace; `None` when a `reopen` of every namespace is
    /// all the chain holds of it.
    print: Option<u64>,
    /// [`Proof`] as [`proof_code`] writes it; `None` from an entry written before proofs.
    proof: Option<u8>,
}

/// A proof as a byte: 0 none, then 1 + its [`Proof::rank`] (unknown text included).
fn proof_code(proof: Option<&str>) -> u8 {
    proof.map_or(0, |p| 1 + Proof::rank(p) as u8)
}

/// A proof's code back to words, for a problem's description.
fn proof_words(code: u8) -> &'static str {
    match code {
        0 => "none",
        n => Proof::ALL
            .get(usize::from(n) - 1)
            .map_or("an unknown one", |p| p.as_str()),
    }
}

/// An entry's rows as stored: 4 values each, or 3 before proofs (`None` then). Text that
/// is not such a list reads as no rows (the entry's hash already fails for it).
fn chained_rows(rows: &str) -> Vec<(i64, String, String, Option<Option<String>>)> {
    let values: Vec<Vec<serde_json::Value>> = serde_json::from_str(rows).unwrap_or_default();
    values
        .into_iter()
        .filter_map(|row| {
            let text = |i: usize| row.get(i).and_then(|v| v.as_str()).map(str::to_owned);
            let id = row.first()?.as_i64()?;
            let proof = match row.len() {
                3 => None,
                _ => Some(text(3)),
            };
            Some((id, text(1)?, text(2)?, proof))
        })
        .collect()
}

/// Why a settled row's time cannot be true, by the code each backend's verification
/// query gives (its position here).
const IMPOSSIBLE: [&str; 5] = [
    "it is not a time as the daemon writes one",
    "before the row was queued",
    "before the request that settled it",
    "before the anchor's since: the prune that set it would have removed the row",
    "in the future",
];

/// The reason for a code of the verification query; `None` for none (or an unknown one).
pub fn impossible(code: Option<i64>) -> Option<&'static str> {
    IMPOSSIBLE.get(usize::try_from(code?).ok()?).copied()
}

/// What an entry says of the request it names.
enum Vouched {
    /// Its whole record, as it stood when the entry was written.
    Record(String),
    /// An answer's code and message (entries written before they held the record).
    Answer(Option<String>, Option<String>),
}

/// The verification itself, the same on every backend: fed the entries in `seq` order,
/// then every request record, then every row (each in id order), it recomputes the chain
/// from its anchor and compares it with the tables: every entry's hash, every request's
/// record, every settled row's status.
pub struct Auditor {
    audit: Audit,
    /// The next entry's expected `seq` and `prev`.
    expected: (i64, String),
    /// Each row's latest status in the chain, with a fingerprint of its video number and
    /// namespace, and its proof (a million rows: some tens of MB).
    latest: HashMap<i64, Latest>,
    /// What the latest entry naming each request says of its record.
    vouched: HashMap<i64, (i64, Vouched)>,
    /// After a prune, the anchor's `since`, until the first entry is checked against it.
    since: Option<String>,
    /// The anchor row in words, and what the latest `anchor` entry (its `seq`) says.
    anchor_row: String,
    anchor_entry: Option<(i64, String)>,
}

/// `since` as both backends write it (`YYYY-MM-DD HH:MM:SS.SSS`, UTC).
fn parse_since(since: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(since, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// The anchor's hash before any prune.
const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Auditor {
    /// From the anchor: its `seq`, `hash` and `since` (as stored), checked against what a
    /// prune can write: all zeros before any prune and a real hash after one, and a
    /// `since` that can be read and is not in the future. The first entry kept must not be
    /// older than `since`, nor any settled row (`QueueRow::impossible`): the prune that set
    /// it removed both.
    pub fn new(anchor: (i64, String), since: &str, rows_from: i64) -> Self {
        let mut verifier = Self {
            expected: (anchor.0 + 1, anchor.1.clone()),
            audit: Audit {
                anchor: anchor.clone(),
                ..Audit::default()
            },
            latest: HashMap::new(),
            vouched: HashMap::new(),
            since: None,
            anchor_row: anchor_text(anchor.0, &anchor.1, since, rows_from),
            anchor_entry: None,
        };
        let (seq, hash) = anchor;
        let pruned = seq > 0;
        if pruned == (hash == ZEROS) || seq < 0 {
            verifier.audit.problem(format!(
                "the anchor (entry {seq}, hash {}) is not what a prune writes: \
                 settlement_anchor was edited",
                crate::printable::cut(&hash, 64)
            ));
        }
        match parse_since(since) {
            None => verifier.audit.problem(
                "the anchor's since cannot be read as a time: settlement_anchor was edited".into(),
            ),
            Some(t) if pruned && t > chrono::Utc::now() => verifier.audit.problem(format!(
                "the anchor's since ({since}) is in the future: no prune moves it there: \
                 settlement_anchor was edited"
            )),
            Some(_) => verifier.since = pruned.then(|| since.to_owned()),
        }
        verifier
    }

    pub fn entry(&mut self, entry: ChainEntry) {
        let ChainEntry {
            seq,
            settled_at,
            kind,
            batch_id,
            namespace,
            rows,
            code,
            msg,
            prev,
            hash,
            request,
        } = entry;
        let (want_seq, want_prev) = &self.expected;
        if seq != *want_seq {
            self.audit.problem(format!(
                "entry {want_seq} is missing (the next is {seq}): entries were removed"
            ));
        }
        let recomputed = digest(
            &prev,
            seq,
            &settled_at,
            &kind,
            batch_id,
            &namespace,
            &rows,
            code.as_deref(),
            msg.as_deref(),
            request.as_deref(),
        );
        // A prune to `since` removed every entry before it.
        if let Some(since) = self.since.take() {
            if settled_at < since {
                self.audit.problem(format!(
                    "entry {seq} was settled at {settled_at}, before the anchor's since \
                     ({since}), which the prune that set it would have removed: \
                     settlement_anchor was edited"
                ));
            }
        }
        if prev != *want_prev || recomputed != hash {
            self.audit.problem(format!(
                "entry {seq} does not match its hash or its predecessor's: the chain was edited"
            ));
        }
        // A request's entry settles nothing: its rows are only in flight.
        if kind != Kind::Request.as_str() {
            for (row, video_no, status, proof) in chained_rows(&rows) {
                let status = RowStatus::rank(&status) as u8;
                // A `reopen` of every namespace (`*`) keeps what it knew of the row.
                let print = match namespace.as_str() {
                    "*" => self.latest.get(&row).and_then(|l| l.print),
                    _ => Some(fingerprint(&video_no, &namespace)),
                };
                let proof = proof.map(|p| proof_code(p.as_deref()));
                self.latest.insert(
                    row,
                    Latest {
                        status,
                        print,
                        proof,
                    },
                );
            }
        }
        if kind == Kind::Anchor.as_str() {
            self.anchor_entry = Some((seq, msg.clone().unwrap_or_default()));
        }
        // The whole record since entries held it; before that, the answer's code and
        // message (a `duplicates` entry carries the refusal's reason instead).
        match (batch_id, request) {
            (Some(batch), Some(record)) => {
                self.vouched.insert(batch, (seq, Vouched::Record(record)));
            }
            (Some(batch), None) if kind == Kind::Answer.as_str() => {
                self.vouched
                    .insert(batch, (seq, Vouched::Answer(code, msg)));
            }
            _ => {}
        }
        self.expected = (seq + 1, hash);
        self.audit.entries += 1;
    }

    /// Every request record against what the chain says of it.
    pub fn request(&mut self, request: ChainedRequest) {
        let batch = request.id;
        let matches = match self.vouched.remove(&batch) {
            Some((seq, Vouched::Record(record))) => Some((seq, request.record == Some(record))),
            Some((seq, Vouched::Answer(code, msg))) => {
                Some((seq, (request.api_code, request.api_msg) == (code, msg)))
            }
            None => None,
        };
        match matches {
            Some((_, true)) => {}
            Some((seq, false)) => self.audit.problem(format!(
                "request {batch} differs from chain entry {seq}: deletion_batches was edited"
            )),
            None if request.must => self.audit.problem(format!(
                "request {batch} has no chain entry: deletion_batches was edited"
            )),
            None => {}
        }
    }

    /// After the last request: those the chain names that the table no longer holds.
    pub fn requests_done(&mut self) {
        let mut missing: Vec<(i64, i64)> = self
            .vouched
            .drain()
            .map(|(batch, (seq, _))| (batch, seq))
            .collect();
        missing.sort_unstable();
        for (batch, seq) in missing {
            self.audit.problem(format!(
                "request {batch} of chain entry {seq} is missing from deletion_batches"
            ));
        }
    }

    /// Every row against its latest entry.
    pub fn row(&mut self, row: QueueRow) {
        let QueueRow {
            id,
            status,
            video_no,
            unique_id,
            proof,
            covered,
            impossible,
        } = row;
        let pending = RowStatus::rank(RowStatus::Pending.as_str()) as u8;
        let now = RowStatus::rank(&status) as u8;
        let settled = RowStatus::SETTLED.iter().any(|s| s.as_str() == status);
        let print = fingerprint(&video_no, &unique_id);
        let proof = proof_code(proof.as_deref());
        if let Some(why) = impossible.filter(|_| settled) {
            self.audit.problem(format!(
                "row {id} is {status} with a settlement time that cannot be true ({why}): \
                 deletion_queue was edited"
            ));
        }
        match self.latest.remove(&id) {
            Some(Latest {
                print: Some(chained),
                ..
            }) if chained != print => self.audit.problem(format!(
                "row {id}: its video number or namespace differs from the chain: \
                 deletion_queue was edited"
            )),
            Some(Latest {
                status: chained,
                proof: Some(chained_proof),
                ..
            }) if chained == now && chained_proof != proof => self.audit.problem(format!(
                "row {id} is {status} proven by {} but the chain says {}: deletion_queue was \
                 edited",
                proof_words(proof),
                proof_words(chained_proof)
            )),
            // Settled by an entry written before proofs were recorded, or before the chain
            // began: nothing proved more than the status then.
            Some(Latest {
                status: chained,
                proof: None,
                ..
            }) if chained == now && proof != 0 => self.audit.problem(format!(
                "row {id} is {status} proven by {}, but its chain entry was written before \
                 proofs were recorded: deletion_queue was edited",
                proof_words(proof)
            )),
            None if !covered && settled && proof != 0 => self.audit.problem(format!(
                "row {id} is {status} proven by {} with no chain entry: deletion_queue was \
                 edited",
                proof_words(proof)
            )),
            Some(Latest { status, .. }) if status == now => {}
            // Put back by a reopen or a lookup, then claimed again: not settled.
            Some(Latest { status, .. }) if status == pending && !settled => {}
            None if !covered => {}
            Some(_) => self.audit.problem(format!(
                "row {id} is {status} but the chain says otherwise: deletion_queue was edited"
            )),
            None => self.audit.problem(format!(
                "row {id} is {status} with no chain entry: deletion_queue was edited"
            )),
        }
    }

    /// After the last row: rows the chain settled that the table no longer holds (prune
    /// removes a row only with its entries, the same cutoff: any left were deleted by
    /// hand). The head is the last entry's hash.
    pub fn finish(mut self) -> Audit {
        let pending = RowStatus::rank(RowStatus::Pending.as_str()) as u8;
        let mut gone: Vec<i64> = self
            .latest
            .iter()
            .filter(|(_, latest)| latest.status != pending)
            .map(|(id, _)| *id)
            .collect();
        gone.sort_unstable();
        for id in gone {
            self.audit.problem(format!(
                "row {id} is settled in the chain but missing from deletion_queue: it was deleted"
            ));
        }
        // Only a prune moves the anchor, and it records where in an entry of its own.
        let pruned = self.audit.anchor.0 > 0;
        match self.anchor_entry.take() {
            Some((_, text)) if text == self.anchor_row => {}
            Some((seq, text)) => self.audit.problem(format!(
                "the anchor ({}) is not what chain entry {seq} recorded of it (the last prune's, \
                 or the migration's: {text}): settlement_anchor was edited, or entries were \
                 removed by hand",
                self.anchor_row
            )),
            None if pruned => self.audit.problem(format!(
                "the anchor ({}) was moved, and no chain entry records a prune to it: \
                 entries were removed by hand",
                self.anchor_row
            )),
            None => {}
        }
        self.audit.head = self.expected.1;
        self.audit
    }
}
