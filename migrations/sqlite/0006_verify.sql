-- Looking before deleting (`[verify] before`). The API answers 0000 for a video that does
-- not exist or lives in another namespace, so the daemon looks a batch up first; these
-- columns keep what it learnt, on the row:
--   in_doubt    bit 2: the row is in a request whose answer is not recorded yet; bit 1:
--               some request of ours may have deleted it (its answer was lost: a timeout,
--               a cut connection, a crash). A row in doubt that a lookup no longer lists
--               was deleted by that request, and is `deleted`, never `absent`.
--   listed_at   when a lookup last listed it (just before it was sent).
--   missed_at   when a lookup first did not list it; a second miss `verify.absent_after`
--               later makes it `absent`.
--   recheck_at  not claimed before then (waiting for that second lookup).
-- And looking after deleting (`[verify] after`):
--   check_at    a deleted row's lookup after the deletion is due then (NULL: none due);
--   checked_at  when a lookup after the deletion no longer listed it: the deletion verified;
--   relisted    times the API answered 0000 for it and still listed it after.
-- Adding columns is instant in SQLite: no table is rebuilt.
ALTER TABLE deletion_queue ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deletion_queue ADD COLUMN listed_at TEXT;
ALTER TABLE deletion_queue ADD COLUMN missed_at TEXT;
ALTER TABLE deletion_queue ADD COLUMN recheck_at TEXT;
ALTER TABLE deletion_queue ADD COLUMN check_at TEXT;
ALTER TABLE deletion_queue ADD COLUMN checked_at TEXT;
ALTER TABLE deletion_queue ADD COLUMN relisted INTEGER NOT NULL DEFAULT 0;
-- The deleted rows whose lookup after the deletion is due: few at any time.
CREATE INDEX deletion_queue_check ON deletion_queue (check_at) WHERE check_at IS NOT NULL;
