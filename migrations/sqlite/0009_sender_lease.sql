-- One sender per database: the daemon holding this lease is the only one that sends
-- requests (deletions and lookups) for the account; the others stand by and take it over
-- when it runs out. `until` is renewed a third of the lease at a time (src/lead.rs).
CREATE TABLE sender_lease (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT    NOT NULL,
    until  TEXT    NOT NULL
);
