-- Claim ?1's rows (of the videos in the JSON list ?2, unless NULL) under a legal hold:
-- held, out of the claim. Without any hold it reads no row (asked once, before the rows:
-- every claim and every request asks).
UPDATE deletion_queue AS q INDEXED BY deletion_queue_claim
   SET status = 'held', claimed_by = NULL, lease_until = NULL,
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE EXISTS (SELECT 1 FROM legal_holds)
   AND q.claimed_by = ?1 AND q.status = 'in_flight'
   AND (?2 IS NULL OR q.video_no IN (SELECT value FROM json_each(?2)))
   AND EXISTS (SELECT 1 FROM legal_holds AS h
                WHERE h.video_no = q.video_no
                  AND (h.unique_id IS NULL OR h.unique_id = q.unique_id))
