-- What proves a settled row's status (`vocabulary::Proof`): written by the statement that
-- settles the row, and hashed into its chain entry (the rows of entries written from now
-- on are [row id, video number, new status, proof]). Rows settled before this migration
-- keep NULL: their proof was not recorded, and their entries keep verifying as written.
-- Producers are granted INSERT on three columns only: they cannot write it.
ALTER TABLE deletion_queue ADD COLUMN proof text;
