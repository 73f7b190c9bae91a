-- Legal holds: a held video is never sent, whoever queued it. A hold names a video
-- number in one namespace, or (unique_id NULL) in every namespace. Rows of a held video
-- wait in status 'held' (set when the hold is placed, when they are claimed, and in the
-- transaction that records a request before it goes out) and go back to 'pending' when
-- the last hold covering them is released.
CREATE TABLE legal_holds (
    id        INTEGER PRIMARY KEY,
    video_no  TEXT    NOT NULL CHECK (typeof(video_no) = 'text' AND length(video_no) > 0),
    unique_id TEXT    CHECK (unique_id IS NULL OR (typeof(unique_id) = 'text' AND length(unique_id) > 0)),
    reason    TEXT    NOT NULL CHECK (typeof(reason) = 'text' AND length(reason) > 0),
    placed_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
-- One hold per video and namespace ('' stands for every namespace: no namespace is '').
CREATE UNIQUE INDEX legal_holds_one ON legal_holds (video_no, coalesce(unique_id, ''));
-- Placing or releasing a hold in every namespace finds a video's rows by number alone.
CREATE INDEX deletion_queue_video_no ON deletion_queue (video_no);
-- A held video's rows are `held` as soon as they are written `pending`: queued by a
-- producer, put back by `retry-failed`, given back by a claim or its lease's end.
CREATE TRIGGER deletion_queue_held_on_insert AFTER INSERT ON deletion_queue
    WHEN NEW.status = 'pending' AND EXISTS (SELECT 1 FROM legal_holds AS h
          WHERE h.video_no = NEW.video_no AND (h.unique_id IS NULL OR h.unique_id = NEW.unique_id))
BEGIN
    UPDATE deletion_queue SET status = 'held' WHERE id = NEW.id;
END;
CREATE TRIGGER deletion_queue_held_on_update AFTER UPDATE OF status ON deletion_queue
    WHEN NEW.status = 'pending' AND EXISTS (SELECT 1 FROM legal_holds AS h
          WHERE h.video_no = NEW.video_no AND (h.unique_id IS NULL OR h.unique_id = NEW.unique_id))
BEGIN
    UPDATE deletion_queue SET status = 'held', claimed_by = NULL, lease_until = NULL
     WHERE id = NEW.id;
END;
