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
