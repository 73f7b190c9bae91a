-- The deleted rows in $1, no longer listed: proof $2 becomes $3 and $4 becomes $5 (now
-- checked), and checked_at is set where a lookup listed the row before our request.
UPDATE deletion_queue
   SET check_at = NULL, updated_at = now(),
       proof = CASE proof WHEN $2 THEN $3 WHEN $4 THEN $5 ELSE proof END,
       checked_at = CASE WHEN listed_at IS NOT NULL THEN now() ELSE checked_at END
 WHERE id = ANY($1) AND status = 'deleted'
RETURNING id, video_no, status, proof
