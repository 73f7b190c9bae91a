-- Lifecycle rules. A rule's run lists its namespaces into a snapshot (rule_snapshot) page
-- by page, recording after each page where the listing stands (rule_namespaces), so a
-- restart resumes it; then decides from the snapshot alone, and enqueues what matched in
-- chunks, marking each snapshot row enqueued in the same transaction as its insert, so no
-- video is enqueued twice.

-- Who queued a row: NULL for a producer, 'rule:NAME' for a lifecycle rule.
ALTER TABLE deletion_queue ADD COLUMN source TEXT;

CREATE TABLE rule_listings (
    id             INTEGER PRIMARY KEY,
    rule           TEXT    NOT NULL,
    -- The rule's definition the listing was made under (`Rule::fingerprint`).
    fingerprint    TEXT    NOT NULL,
    mode           TEXT    NOT NULL CHECK (mode IN ('report', 'enqueue')),
    state          TEXT    NOT NULL DEFAULT 'listing'
                   CHECK (state IN ('listing', 'enqueuing', 'tripped', 'done', 'superseded')),
    -- Ages are counted from here (Unix milliseconds, the API's create_time).
    listed_at_ms   INTEGER NOT NULL,
    started_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    decided_at     TEXT,
    confirmed_at   TEXT,
    finished_at    TEXT,
    listed         INTEGER NOT NULL DEFAULT 0,
    matched        INTEGER NOT NULL DEFAULT 0,
    unreadable     INTEGER NOT NULL DEFAULT 0,
    enqueued       INTEGER NOT NULL DEFAULT 0,
    -- Matched, but the queue already had a row of the video in that namespace.
    already_queued INTEGER NOT NULL DEFAULT 0,
    note           TEXT
);
CREATE INDEX rule_listings_rule ON rule_listings (rule, id);

CREATE TABLE rule_namespaces (
    listing_id INTEGER NOT NULL REFERENCES rule_listings (id) ON DELETE CASCADE,
    namespace  TEXT    NOT NULL,
    next_page  INTEGER NOT NULL DEFAULT 1,
    done       INTEGER NOT NULL DEFAULT 0,
    listed     INTEGER NOT NULL DEFAULT 0,
    matched    INTEGER NOT NULL DEFAULT 0,
    unreadable INTEGER NOT NULL DEFAULT 0,
    oldest_ms  INTEGER,
    newest_ms  INTEGER,
    -- JSON list of the oldest matched video numbers.
    sample     TEXT,
    PRIMARY KEY (listing_id, namespace)
);

CREATE TABLE rule_snapshot (
    listing_id INTEGER NOT NULL,
    namespace  TEXT    NOT NULL,
    video_no   TEXT    NOT NULL,
    create_ms  INTEGER,
    -- 0 no, 1 yes, 2 a field the rule needs could not be read.
    matched    INTEGER NOT NULL,
    enqueued   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (listing_id, namespace, video_no)
);
CREATE INDEX rule_snapshot_todo ON rule_snapshot (listing_id, matched, enqueued, create_ms);
