-- The oldest due pending rows of the namespace of the oldest one, at most ?3, in flight
-- under the token ?1 with a lease of ?2 seconds. A row is due when its due_at
-- is a time (starting like a date: julianday reads a bare number as a Julian day) at or
-- before now, and it waits for no re-lookup. A row whose video another claim is sending
-- is left alone: two claims sending one video at once would delete it twice.
UPDATE deletion_queue
   SET status = 'in_flight', claimed_by = ?1,
       lease_until = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?2 / 86400.0),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE id IN (
       SELECT q.id FROM deletion_queue AS q
        WHERE q.status = 'pending'
          AND substr(q.due_at, 5, 1) = '-' AND julianday(q.due_at) <= julianday('now')
          AND (q.recheck_at IS NULL OR julianday(q.recheck_at) <= julianday('now'))
          AND NOT EXISTS (SELECT 1 FROM deletion_queue AS busy INDEXED BY deletion_queue_busy
                           WHERE busy.unique_id = q.unique_id AND busy.video_no = q.video_no
                             AND busy.status = 'in_flight')
          AND q.unique_id = (
              SELECT p.unique_id FROM deletion_queue AS p INDEXED BY deletion_queue_pending_order
               WHERE p.status = 'pending'
                 AND substr(p.due_at, 5, 1) = '-' AND julianday(p.due_at) <= julianday('now')
                 AND (p.recheck_at IS NULL OR julianday(p.recheck_at) <= julianday('now'))
                 AND NOT EXISTS (SELECT 1 FROM deletion_queue AS busy INDEXED BY deletion_queue_busy
                                  WHERE busy.unique_id = p.unique_id AND busy.video_no = p.video_no
                                    AND busy.status = 'in_flight')
               ORDER BY p.id LIMIT 1)
        ORDER BY q.id LIMIT ?3)
