-- What proves a settled row's status (`vocabulary::Proof`): written by the statement that
-- settles the row, and hashed into its chain entry (the rows of entries written from now
-- on are [row id, video number, new status, proof]). Rows settled before this migration
-- keep NULL: their proof was not recorded, and their entries keep verifying as written.
-- Producers are granted INSERT on three columns only: they cannot write it.
ALTER TABLE deletion_queue ADD COLUMN proof text;
-- As SQLite 0012: every row from `rows_from` on must have an entry once settled.
ALTER TABLE settlement_anchor ADD COLUMN rows_from bigint NOT NULL DEFAULT 0;
UPDATE settlement_anchor SET rows_from = (SELECT coalesce(max(id), 0) + 1 FROM deletion_queue);
