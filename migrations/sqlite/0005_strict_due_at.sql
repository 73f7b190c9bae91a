-- A due_at that SQLite cannot read passed the old CHECK (a CHECK that is NULL passes), and
-- compared as text it was due at once ('+30 days', '', ' 2099-01-01 00:00:00') or never
-- ('tomorrow'). A video deleted early is the worst thing this program can do: the new CHECK
-- accepts only a time in SQLite's own format, exactly ('YYYY-MM-DD HH:MM:SS' or
-- 'YYYY-MM-DD HH:MM:SS.SSS', UTC), that names a real moment ('+0 seconds' makes SQLite
-- normalize '2026-02-30' or '24:00:00', so those differ from themselves and are refused).
--
-- SQLite changes a CHECK only by rebuilding the table. Every row is kept: a waiting row
-- (pending or in flight) whose due_at cannot be read is kept as `failed`, its value named
-- in last_error; a settled one keeps its status (what happened to it is history). Either
-- way its due_at becomes when it was queued, so that the row passes the new CHECK. The
-- rebuild holds the write lock for as long as it takes to copy the table (9 to 14 s per
-- million rows on the project's machine): producers wait that long, once.
--
-- While at it: `video_no` loses its TEXT affinity, which turned an INTEGER 123 into '123'
-- before the CHECK could see it; the statuses later features add (`absent`, `held`) are
-- allowed.

CREATE TABLE deletion_queue_new (
    id          INTEGER PRIMARY KEY,
    -- No declared type: SQLite keeps what the producer wrote, and the CHECK sees it.
    video_no            NOT NULL CHECK (typeof(video_no) = 'text'),
    unique_id   TEXT    NOT NULL DEFAULT 'default'
                CHECK (typeof(unique_id) = 'text' AND length(unique_id) BETWEEN 1 AND 128),
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'in_flight', 'deleted', 'failed', 'absent', 'held')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    due_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
                CHECK (datetime(due_at, '+0 seconds') IS NOT NULL
                       AND due_at IN (datetime(due_at, '+0 seconds'),
                                      strftime('%Y-%m-%d %H:%M:%f', due_at, '+0 seconds'))),
    enqueued_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    settled_at  TEXT,
    claimed_by  TEXT,
    lease_until TEXT,
    batch_id    INTEGER REFERENCES deletion_batches (id),
    refusals    INTEGER NOT NULL DEFAULT 0
);

INSERT INTO deletion_queue_new
       (id, video_no, unique_id, status, attempts, last_error, due_at, enqueued_at,
        updated_at, settled_at, claimed_by, lease_until, batch_id, refusals)
SELECT id, video_no, unique_id,
       CASE WHEN waiting AND NOT readable THEN 'failed' ELSE status END,
       attempts,
       CASE WHEN waiting AND NOT readable
                 THEN 'unreadable due_at ' || quote(due_at) || ': not a time the queue can read '
                      || '(YYYY-MM-DD HH:MM:SS[.SSS], UTC); queue the video again with a readable one'
            ELSE last_error
       END,
       CASE WHEN readable THEN due_at
            WHEN datetime(enqueued_at, '+0 seconds') IS NOT NULL
             AND enqueued_at IN (datetime(enqueued_at, '+0 seconds'),
                                 strftime('%Y-%m-%d %H:%M:%f', enqueued_at, '+0 seconds'))
                 THEN enqueued_at
            ELSE strftime('%Y-%m-%d %H:%M:%f', 'now')
       END,
       enqueued_at, updated_at,
       CASE WHEN waiting AND NOT readable THEN strftime('%Y-%m-%d %H:%M:%f', 'now')
            ELSE settled_at END,
       CASE WHEN waiting AND NOT readable THEN NULL ELSE claimed_by END,
       CASE WHEN waiting AND NOT readable THEN NULL ELSE lease_until END,
       batch_id, refusals
  FROM (SELECT *,
               coalesce(datetime(due_at, '+0 seconds') IS NOT NULL
                        AND due_at IN (datetime(due_at, '+0 seconds'),
                                       strftime('%Y-%m-%d %H:%M:%f', due_at, '+0 seconds')),
                        0) AS readable,
               status IN ('pending', 'in_flight') AS waiting
          FROM deletion_queue);

DROP TABLE deletion_queue;
ALTER TABLE deletion_queue_new RENAME TO deletion_queue;

CREATE INDEX deletion_queue_pending ON deletion_queue (status, unique_id, id);
CREATE INDEX deletion_queue_lease ON deletion_queue (status, lease_until);
CREATE INDEX deletion_queue_video ON deletion_queue (unique_id, video_no, status);
CREATE INDEX deletion_queue_claim ON deletion_queue (claimed_by);
CREATE INDEX deletion_queue_settled ON deletion_queue (status, settled_at);
CREATE INDEX deletion_queue_batch ON deletion_queue (batch_id);
CREATE INDEX deletion_queue_pending_order ON deletion_queue (id) WHERE status = 'pending';
