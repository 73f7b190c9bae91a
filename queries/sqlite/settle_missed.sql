-- Claim ?1's rows of the videos in ?2, missed by a lookup, settled: status ?3, proof ?4
-- where the lookup before our request listed the row and ?5 where it did not, checked_at
-- (the deletion verified) where it was listed when ?6, last_error ?7.
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET status = ?3, proof = CASE WHEN listed_at IS NOT NULL THEN ?4 ELSE ?5 END,
       checked_at = CASE WHEN ?6 AND listed_at IS NOT NULL
                         THEN strftime('%Y-%m-%d %H:%M:%f', 'now') ELSE checked_at END,
       last_error = ?7, settled_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       claimed_by = NULL, lease_until = NULL, recheck_at = NULL, check_at = NULL
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
RETURNING id, video_no, status, proof
