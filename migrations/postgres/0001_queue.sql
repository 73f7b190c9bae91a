-- The queue on PostgreSQL: the same tables, columns and producers' contract as SQLite's
-- after its migration 0008, written once. Producers insert
--   INSERT INTO deletion_queue (video_no[, unique_id, due_at]) VALUES (...)
-- and what SQLite refuses is refused here.
--
-- `due_at` is text, as on SQLite, read by `memories_reaper_due` and nothing else:
-- PostgreSQL's own date input reads 'tomorrow', 'epoch', 'now' and 'infinity', and a time
-- without a zone in the session's zone; any of these could make a row due early or never.
-- Accepted: 'YYYY-MM-DD HH:MM:SS' with an optional fraction (up to 6 digits), an optional
-- 'T' for the space, and an optional zone ('Z', '+HH', '+HH:MM', '-HHMM', from -12:00 to
-- +14:00); no zone is UTC.
-- The time must exist (no February 30, no 24:00, no second 60). The time it names is kept
-- in the generated column `due`, which is what the daemon compares.

CREATE FUNCTION memories_reaper_due(text) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    part text[];
    at timestamp;
    offset_minutes int := 0;
BEGIN
    part := regexp_match($1,
        '^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2}(?:\.\d{1,6})?)(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)?$');
    IF part IS NULL OR part[4]::int > 23 OR part[6]::numeric >= 60 THEN
        RETURN NULL;
    END IF;
    at := make_timestamp(part[1]::int, part[2]::int, part[3]::int,
                         part[4]::int, part[5]::int, part[6]::double precision);
    IF part[8] IS NOT NULL THEN
        IF part[9]::int > 23 OR coalesce(part[10], '00')::int > 59 THEN
            RETURN NULL;
        END IF;
        offset_minutes := (part[9]::int * 60 + coalesce(part[10], '00')::int)
                          * CASE part[8] WHEN '-' THEN -1 ELSE 1 END;
        -- No zone on Earth is beyond -12:00 or +14:00: '+23' is a typo, not a place.
        IF offset_minutes < -720 OR offset_minutes > 840 THEN
            RETURN NULL;
        END IF;
    END IF;
    RETURN (at - make_interval(mins => offset_minutes)) AT TIME ZONE 'UTC';
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format OR numeric_value_out_of_range THEN
    RETURN NULL;
END
$$;

CREATE TABLE deletion_batches (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unique_id   text        NOT NULL,
    ids_count   integer     NOT NULL,
    attempt     integer     NOT NULL,
    -- 'sending' until the answer is recorded; then deleted, retry, stopped, rejected,
    -- duplicate. A row left 'sending' is a request whose answer was never recorded.
    outcome     text        NOT NULL DEFAULT 'sending',
    http_status integer,
    api_code    text,
    api_msg     text,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    duration_ms bigint,
    sender      text
);
CREATE INDEX deletion_batches_started ON deletion_batches (started_at);

CREATE TABLE deletion_queue (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A number is not a video number: PostgreSQL turns an integer written here into text,
    -- which SQLite refuses.
    video_no    text        NOT NULL
                CHECK (video_no !~ '^\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*$'),
    unique_id   text        NOT NULL DEFAULT 'default'
                CHECK (length(unique_id) BETWEEN 1 AND 128),
    status      text        NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'in_flight', 'deleted', 'failed', 'absent', 'held')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    due_at      text        NOT NULL
                DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')
                CHECK (memories_reaper_due(due_at) IS NOT NULL),
    due         timestamptz GENERATED ALWAYS AS (memories_reaper_due(due_at)) STORED,
    enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    settled_at  timestamptz,
    -- The claim that holds the row while `in_flight`, and until when.
    claimed_by  text,
    lease_until timestamptz,
    -- The request that settled the row (NULL for rows failed without being sent).
    batch_id    bigint      REFERENCES deletion_batches (id),
    refusals    integer     NOT NULL DEFAULT 0,
    in_doubt    integer     NOT NULL DEFAULT 0,
    listed_at   timestamptz,
    missed_at   timestamptz,
    recheck_at  timestamptz,
    check_at    timestamptz,
    checked_at  timestamptz,
    relisted    integer     NOT NULL DEFAULT 0
);

-- The claim walks pending rows in id order: the oldest one's namespace first, then that
-- namespace's (without the second index, PostgreSQL sorted every pending row of the
-- namespace for each claim: 5 s at 250,000 rows, with the claim lock held). Duplicates
-- and history are found by video.
CREATE INDEX deletion_queue_pending_order ON deletion_queue (id) WHERE status = 'pending';
CREATE INDEX deletion_queue_pending_namespace ON deletion_queue (unique_id, id)
    WHERE status = 'pending';
CREATE INDEX deletion_queue_video ON deletion_queue (unique_id, video_no, status);
CREATE INDEX deletion_queue_claim ON deletion_queue (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX deletion_queue_lease ON deletion_queue (lease_until) WHERE status = 'in_flight';
CREATE INDEX deletion_queue_settled ON deletion_queue (status, settled_at);
CREATE INDEX deletion_queue_batch ON deletion_queue (batch_id);
CREATE INDEX deletion_queue_check ON deletion_queue (check_at) WHERE check_at IS NOT NULL;

-- The settlement chain, as on SQLite (ARCHITECTURE.md, "The settlement chain"); entries
-- are appended under an advisory lock, so their order is the order of their commits.
CREATE TABLE settlement_chain (
    seq        bigint PRIMARY KEY,
    settled_at text   NOT NULL,
    kind       text   NOT NULL,
    batch_id   bigint,
    namespace  text   NOT NULL,
    rows       text   NOT NULL,
    code       text,
    msg        text,
    prev       text   NOT NULL,
    hash       text   NOT NULL,
    request    text
);
CREATE INDEX settlement_chain_settled ON settlement_chain (settled_at);
CREATE INDEX settlement_chain_batch ON settlement_chain (batch_id);

CREATE TABLE settlement_anchor (
    id            integer PRIMARY KEY CHECK (id = 1),
    seq           bigint  NOT NULL,
    hash          text    NOT NULL,
    since         text    NOT NULL,
    requests_from bigint  NOT NULL
);
INSERT INTO settlement_anchor (id, seq, hash, since, requests_from)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), 1);

-- One sender per database: the daemon holding this lease is the only one that sends
-- requests (deletions and lookups) for the account; the others stand by and take it over
-- when it runs out. `until` is renewed a third of the lease at a time (src/lead.rs).
CREATE TABLE sender_lease (
    id     integer     PRIMARY KEY CHECK (id = 1),
    holder text        NOT NULL,
    until  timestamptz NOT NULL
);

-- The daemon's locks: a row each, locked FOR UPDATE for a transaction (src/queue/postgres).
-- Not advisory locks: any role may take those, and a producer could hold the daemons' up.
-- Locking a row here needs UPDATE on the table, which only the daemons' role has.
CREATE TABLE queue_locks (
    name text PRIMARY KEY
);
INSERT INTO queue_locks (name) VALUES ('claim'), ('chain');
