-- Whether a row outside claim ?1, of any status, has one of its videos: without one the
-- claim has no duplicate to take and no earlier deletion to settle from, and neither is
-- looked for. Each claimed row seeks its video in the index of videos for an entry other
-- than its own (the ids are in the index: no row is read for its own entry), and the
-- first found answers.
SELECT EXISTS (
       SELECT 1 FROM deletion_queue AS c INDEXED BY deletion_queue_claim
        CROSS JOIN deletion_queue AS d INDEXED BY deletion_queue_video
           ON d.unique_id = c.unique_id AND d.video_no = c.video_no
        WHERE c.claimed_by = ?1 AND d.id <> c.id AND d.claimed_by IS NOT ?1)
