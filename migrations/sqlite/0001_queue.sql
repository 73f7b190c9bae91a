-- The deletion queue and the record of every request sent.
--
-- Producers insert only `video_no` (and optionally `unique_id`, `due_at`); every other
-- column has a default. Timestamps are UTC text in SQLite's own format
-- ('YYYY-MM-DD HH:MM:SS.SSS'), so `datetime('now', '+30 days')` is a valid `due_at` and
-- text comparison orders them correctly.

CREATE TABLE deletion_batches (
    id          INTEGER PRIMARY KEY,
    unique_id   TEXT    NOT NULL,
    ids_count   INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    -- 'sending' until the answer is recorded; then deleted, retry, stopped, rejected,
    -- duplicate. A row left 'sending' is a request whose answer was never recorded.
    outcome     TEXT    NOT NULL DEFAULT 'sending',
    http_status INTEGER,
    api_code    TEXT,
    api_msg     TEXT,
    error       TEXT,
    started_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    finished_at TEXT,
    duration_ms INTEGER
);

CREATE TABLE deletion_queue (
    id          INTEGER PRIMARY KEY,
    video_no    TEXT    NOT NULL CHECK (typeof(video_no) = 'text'),
    unique_id   TEXT    NOT NULL DEFAULT 'default'
                CHECK (typeof(unique_id) = 'text' AND length(unique_id) BETWEEN 1 AND 128),
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'in_flight', 'deleted', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    -- When the row becomes due. A producer may set it in the future (retention rules),
    -- in SQLite's format only (`datetime('now', '+30 days')`): anything else, which would
    -- not compare correctly, is refused at insert.
    due_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
                CHECK (due_at IN (datetime(due_at), strftime('%Y-%m-%d %H:%M:%f', due_at))),
    enqueued_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    settled_at  TEXT,
    -- The claim that holds the row while `in_flight`, and until when.
    claimed_by  TEXT,
    lease_until TEXT,
    -- The request that settled the row (NULL for rows failed without being sent).
    batch_id    INTEGER REFERENCES deletion_batches (id)
);

-- Claiming: the oldest due pending rows, per namespace.
CREATE INDEX deletion_queue_pending ON deletion_queue (status, unique_id, id);
-- Taking back expired leases.
CREATE INDEX deletion_queue_lease ON deletion_queue (status, lease_until);
-- Duplicates of a claimed video, and a claim's own rows.
CREATE INDEX deletion_queue_video ON deletion_queue (unique_id, video_no);
CREATE INDEX deletion_queue_claim ON deletion_queue (claimed_by);
