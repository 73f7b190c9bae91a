-- Due pending rows not held, in (namespace, id) order, $3 after ($1, $2): what a pass
-- would claim and send, read without claiming it.
SELECT id, video_no, unique_id FROM deletion_queue AS q
 WHERE q.status = 'pending'
   AND q.due <= now() AND (q.recheck_at IS NULL OR q.recheck_at <= now())
   AND (q.unique_id, q.id) > ($1, $2)
   AND NOT EXISTS (SELECT 1 FROM legal_holds AS h
                    WHERE h.video_no = q.video_no
                      AND (h.unique_id IS NULL OR h.unique_id = q.unique_id))
 ORDER BY q.unique_id, q.id LIMIT $3
