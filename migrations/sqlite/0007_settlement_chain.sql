-- Tamper evidence: an append-only chain of settlements. Each time rows are settled (an
-- answer recorded, rows failed unsent, settled from an earlier deletion, found absent or
-- deleted by a lookup, failed or reopened by a lookup after deleting, put back by
-- `retry-failed`), one entry is appended in commit order: the rows with their new status,
-- the request and the API's code and message, and a SHA-256 over the previous entry's hash
-- and these fields (see ARCHITECTURE.md, "The settlement chain"). `receipts --verify`
-- recomputes the chain and compares it with the tables.
CREATE TABLE settlement_chain (
    seq        INTEGER PRIMARY KEY,
    settled_at TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    batch_id   INTEGER,
    namespace  TEXT    NOT NULL,
    -- JSON: [[row id, video number, new status], ...] in row id order.
    rows       TEXT    NOT NULL,
    code       TEXT,
    msg        TEXT,
    prev       TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX settlement_chain_settled ON settlement_chain (settled_at);
-- Prune keeps the request records that kept entries point at.
CREATE INDEX settlement_chain_batch ON settlement_chain (batch_id);

-- Where the chain starts: its first entry's `prev`, and the time from which every settled
-- row must have an entry. Rows settled before this migration are outside the chain; prune
-- and retention move the anchor to the last entry they remove.
CREATE TABLE settlement_anchor (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    seq    INTEGER NOT NULL,
    hash   TEXT    NOT NULL,
    since  TEXT    NOT NULL
);
INSERT INTO settlement_anchor (id, seq, hash, since)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        strftime('%Y-%m-%d %H:%M:%f', 'now'));
