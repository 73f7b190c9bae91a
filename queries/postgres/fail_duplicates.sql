-- Due pending rows of the videos in $2 in request $1's namespace, at most $4, failed with
-- last_error $3 and proof $5, pointing at the request.
UPDATE deletion_queue
   SET status = 'failed', proof = $5, last_error = $3, batch_id = $1,
       settled_at = clock_timestamp(), updated_at = now(),
       refusals = least(refusals + 1, 1000000000)
 WHERE id IN (
       SELECT q.id FROM deletion_queue AS q
        WHERE q.unique_id = (SELECT unique_id FROM deletion_batches WHERE id = $1)
          AND q.video_no = ANY($2) AND q.status = 'pending'
          AND q.due <= now() AND (q.recheck_at IS NULL OR q.recheck_at <= now())
        LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING id, video_no, status, proof
