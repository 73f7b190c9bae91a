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
-- A held video's rows are `held` as soon as they are written `pending`: queued by a
-- producer, put back by `retry-failed`, given back by a claim or its lease's end. The
-- function runs with its owner's rights: a producer may insert, and read no hold.
CREATE FUNCTION memories_reaper_held() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.status = 'pending' AND EXISTS (SELECT 1 FROM legal_holds AS h
          WHERE h.video_no = NEW.video_no
            AND (h.unique_id IS NULL OR h.unique_id = NEW.unique_id)) THEN
        NEW.status := 'held';
        NEW.claimed_by := NULL;
        NEW.lease_until := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER deletion_queue_held BEFORE INSERT OR UPDATE OF status ON deletion_queue
    FOR EACH ROW EXECUTE FUNCTION memories_reaper_held();
