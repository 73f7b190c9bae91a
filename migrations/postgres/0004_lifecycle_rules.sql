-- Lifecycle rules (as migrations/sqlite/0011): a rule's run lists its namespaces into a
-- snapshot page by page (resumable), decides from the snapshot alone, and enqueues what
-- matched, marking each snapshot row in the transaction that inserts its row.

-- Who queued a row: NULL for a producer, 'rule:NAME' for a lifecycle rule.
ALTER TABLE deletion_queue ADD COLUMN source text;

CREATE TABLE rule_listings (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule           text        NOT NULL,
    fingerprint    text        NOT NULL,
    mode           text        NOT NULL CHECK (mode IN ('report', 'enqueue')),
    state          text        NOT NULL DEFAULT 'listing'
                   CHECK (state IN ('listing', 'enqueuing', 'tripped', 'done', 'superseded')),
    listed_at_ms   bigint      NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    decided_at     timestamptz,
    confirmed_at   timestamptz,
    finished_at    timestamptz,
    listed         bigint      NOT NULL DEFAULT 0,
    matched        bigint      NOT NULL DEFAULT 0,
    unreadable     bigint      NOT NULL DEFAULT 0,
    enqueued       bigint      NOT NULL DEFAULT 0,
    already_queued bigint      NOT NULL DEFAULT 0,
    note           text
);
CREATE INDEX rule_listings_rule ON rule_listings (rule, id);

CREATE TABLE rule_namespaces (
    listing_id bigint  NOT NULL REFERENCES rule_listings (id) ON DELETE CASCADE,
    namespace  text    NOT NULL,
    next_page  bigint  NOT NULL DEFAULT 1,
    done       boolean NOT NULL DEFAULT false,
    listed     bigint  NOT NULL DEFAULT 0,
    matched    bigint  NOT NULL DEFAULT 0,
    unreadable bigint  NOT NULL DEFAULT 0,
    oldest_ms  bigint,
    newest_ms  bigint,
    sample     text,
    PRIMARY KEY (listing_id, namespace)
);

CREATE TABLE rule_snapshot (
    listing_id bigint  NOT NULL,
    namespace  text    NOT NULL,
    video_no   text    NOT NULL,
    create_ms  bigint,
    matched    bigint  NOT NULL,
    enqueued   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (listing_id, namespace, video_no)
);
CREATE INDEX rule_snapshot_todo ON rule_snapshot (listing_id, matched, enqueued, create_ms);
