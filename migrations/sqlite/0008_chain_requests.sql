-- The settlement chain vouches for every request record too: each request gets an entry
-- when it is recorded (kind 'request', its rows still in flight), and every entry that
-- names a request holds that record as it then stood, in `request` (a JSON array of
-- every column of its `deletion_batches` row), under the hash. Editing any byte of a
-- request record is then found, not only its code and message.
ALTER TABLE settlement_chain ADD COLUMN request TEXT;
-- Requests from this id on must each have an entry; older ones predate this migration.
ALTER TABLE settlement_anchor ADD COLUMN requests_from INTEGER NOT NULL DEFAULT 0;
UPDATE settlement_anchor SET requests_from = (SELECT coalesce(max(id), 0) + 1 FROM deletion_batches);
