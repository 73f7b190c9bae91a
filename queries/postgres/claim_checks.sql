-- Deleted rows of one namespace (the oldest due check's) whose check is due, at most $2,
-- their check pushed $1 seconds ahead: the claim.
UPDATE deletion_queue SET check_at = now() + make_interval(secs => $1)
 WHERE id IN (
       SELECT c.id FROM deletion_queue AS c
        WHERE c.check_at IS NOT NULL AND c.status = 'deleted' AND c.check_at <= now()
          AND c.unique_id = (
              SELECT f.unique_id FROM deletion_queue AS f
               WHERE f.check_at IS NOT NULL AND f.status = 'deleted' AND f.check_at <= now()
               ORDER BY f.check_at LIMIT 1)
        ORDER BY c.check_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING id, video_no, unique_id
