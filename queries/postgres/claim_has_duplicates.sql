-- Whether a row outside claim $1, of any status, has one of its videos: without one the
-- claim has no duplicate to take and no earlier deletion to settle from, and neither is
-- looked for.
SELECT EXISTS (
       SELECT 1 FROM deletion_queue AS c
         JOIN deletion_queue AS d ON d.unique_id = c.unique_id AND d.video_no = c.video_no
        WHERE c.claimed_by = $1 AND d.id <> c.id AND d.claimed_by IS DISTINCT FROM $1)
