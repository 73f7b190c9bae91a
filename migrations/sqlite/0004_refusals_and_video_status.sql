-- Refusals counted on the row, so that a lone id is failed only after several separate
-- refusals (`isolation.confirmations`), however many passes or restarts they span: the
-- API's `0001` is also a generic transient answer, and one of them must never cost a row.
ALTER TABLE deletion_queue ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;

-- "Is this video already deleted?" is asked for every row a claim takes. The index on
-- (unique_id, video_no) alone made SQLite read every row of the video to find a deleted
-- one: with many duplicate rows of one video, a claim grew with the square of them.
-- With the status in the index it is one lookup.
DROP INDEX deletion_queue_video;
CREATE INDEX deletion_queue_video ON deletion_queue (unique_id, video_no, status);

-- Which process sent a request (its pid and a random suffix). Daemons sharing this
-- database count each other's recent requests against the account's rate, and space
-- their own from the last one anyone sent: two daemons on one account no longer double
-- its rate.
ALTER TABLE deletion_batches ADD COLUMN sender TEXT;
