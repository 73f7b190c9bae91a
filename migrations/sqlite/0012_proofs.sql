-- What proves a settled row's status (`vocabulary::Proof`): written by the statement that
-- settles the row, and hashed into its chain entry (the rows of entries written from now
-- on are [row id, video number, new status, proof]). Rows settled before this migration
-- keep NULL: their proof was not recorded, and their entries keep verifying as written.
ALTER TABLE deletion_queue ADD COLUMN proof TEXT;
-- Every row queued from now on (an id from `rows_from` on) must have an entry once settled,
-- whatever its settled_at or enqueued_at say: an insider who back-dates both cannot pass a
-- hand-settled row off as one settled before the chain began. Recorded in the `anchor`
-- entry that the migrating process appends, so the value itself cannot be moved.
ALTER TABLE settlement_anchor ADD COLUMN rows_from INTEGER NOT NULL DEFAULT 0;
UPDATE settlement_anchor SET rows_from = (SELECT coalesce(max(id), 0) + 1 FROM deletion_queue);
