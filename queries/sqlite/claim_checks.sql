-- Deleted rows of one namespace (the oldest due check's) whose check is due, at most ?2,
-- their check pushed ?1 seconds ahead: the claim.
UPDATE deletion_queue SET check_at = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?1 / 86400.0)
 WHERE id IN (
       SELECT c.id FROM deletion_queue AS c INDEXED BY deletion_queue_check
        WHERE c.check_at IS NOT NULL AND c.status = 'deleted'
          AND julianday(c.check_at) <= julianday('now')
          AND c.unique_id = (
              SELECT f.unique_id FROM deletion_queue AS f INDEXED BY deletion_queue_check
               WHERE f.check_at IS NOT NULL AND f.status = 'deleted'
                 AND julianday(f.check_at) <= julianday('now')
               ORDER BY f.check_at LIMIT 1)
        ORDER BY c.check_at LIMIT ?2)
RETURNING id, video_no, unique_id
