-- The due pending duplicates of claim $1's videos, at most $3, claimed too ($2 seconds).
UPDATE deletion_queue
   SET status = 'in_flight', claimed_by = $1,
       lease_until = now() + make_interval(secs => $2), updated_at = now()
 WHERE id IN (
       SELECT d.id
         FROM (SELECT DISTINCT unique_id, video_no FROM deletion_queue
                WHERE claimed_by = $1) AS c
         JOIN deletion_queue AS d
           ON d.unique_id = c.unique_id AND d.video_no = c.video_no AND d.status = 'pending'
        WHERE d.due <= now() AND (d.recheck_at IS NULL OR d.recheck_at <= now())
        LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
