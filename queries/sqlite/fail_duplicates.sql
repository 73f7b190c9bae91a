-- Due pending rows of the videos in ?2 in request ?1's namespace, at most ?4, failed
-- with last_error ?3 and proof ?5, pointing at the request. Each video of the list found
-- through the index (CROSS JOIN: in that order, not the namespace's rows read through).
UPDATE deletion_queue
   SET status = 'failed', proof = ?5, last_error = ?3, batch_id = ?1,
       settled_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       refusals = min(refusals + 1, 1000000000)
 WHERE id IN (
       SELECT d.id FROM json_each(?2) AS j
         CROSS JOIN deletion_queue AS d INDEXED BY deletion_queue_video
           ON d.unique_id = (SELECT unique_id FROM deletion_batches WHERE id = ?1)
              AND d.video_no = j.value AND d.status = 'pending'
        WHERE substr(d.due_at, 5, 1) = '-' AND julianday(d.due_at) <= julianday('now')
          AND (d.recheck_at IS NULL OR julianday(d.recheck_at) <= julianday('now'))
        LIMIT ?4)
RETURNING id, video_no, status, proof
