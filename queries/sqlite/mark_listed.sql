-- Claim ?1's rows of the videos in ?2 were listed by a lookup now.
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET listed_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), missed_at = NULL, recheck_at = NULL,
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
