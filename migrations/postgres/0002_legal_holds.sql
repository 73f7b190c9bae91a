-- Legal holds (as migrations/sqlite/0010): a held video is never sent, whoever queued it.
-- A hold names a video number in one namespace, or (unique_id NULL) in every namespace.
CREATE TABLE legal_holds (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_no  text        NOT NULL CHECK (length(video_no) > 0),
    unique_id text        CHECK (unique_id IS NULL OR length(unique_id) > 0),
    reason    text        NOT NULL CHECK (length(reason) > 0),
    placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX legal_holds_one ON legal_holds (video_no, coalesce(unique_id, ''));
CREATE INDEX deletion_queue_video_no ON deletion_queue (video_no);
