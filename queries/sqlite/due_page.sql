-- Due pending rows not held, in (namespace, id) order, ?3 after (?1, ?2): what a pass
-- would claim and send, read without claiming it.
SELECT id, video_no, unique_id FROM deletion_queue AS q
 WHERE status = 'pending'
   AND substr(due_at, 5, 1) = '-' AND julianday(due_at) <= julianday('now')
   AND (recheck_at IS NULL OR julianday(recheck_at) <= julianday('now'))
   AND (unique_id, id) > (?1, ?2)
   AND NOT EXISTS (SELECT 1 FROM legal_holds AS h
                    WHERE h.video_no = q.video_no
                      AND (h.unique_id IS NULL OR h.unique_id = q.unique_id))
 ORDER BY unique_id, id LIMIT ?3
