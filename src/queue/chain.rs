//! The settlement chain's vocabulary, the same on every backend: the kinds of entry, an
//! entry before it is chained, and its hash. How entries are appended and verified is each
//! backend's (`sqlite::chain`, `postgres::chain`); ARCHITECTURE.md, "The settlement chain",
//! says what an entry holds.

use sha2::{Digest, Sha256};

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
        }
    }
}

/// One settlement, before it is chained.
pub struct Entry<'a> {
    pub kind: Kind,
    pub batch_id: Option<i64>,
    pub namespace: &'a str,
    /// (row id, video number, new status).
    pub rows: Vec<(i64, String, String)>,
    pub code: Option<&'a str>,
    pub msg: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An entry that names request `batch` (and so vouches for its record), without the
    /// API's answer: the request recorded (its rows in flight), or carried by prune.
    pub fn naming(
        kind: Kind,
        batch: i64,
        namespace: &'a str,
        rows: Vec<(i64, String, String)>,
    ) -> Self {
        Self {
            batch_id: Some(batch),
            ..Self::without_request(kind, namespace, rows)
        }
    }

    /// Rows of one namespace settled without a request (a lookup's findings).
    pub fn without_request(
        kind: Kind,
        namespace: &'a str,
        rows: Vec<(i64, String, String)>,
    ) -> Self {
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
