-- Claim $1's rows of the videos in $2 were listed by a lookup now.
UPDATE deletion_queue
   SET listed_at = now(), missed_at = NULL, recheck_at = NULL, updated_at = now()
 WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)
