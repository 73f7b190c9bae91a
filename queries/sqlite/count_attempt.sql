-- One more attempt (bounded, not to overflow into REAL) on claim ?1's rows of the videos
-- in ?2, now in doubt (bit 2: a request of ours carried them). Rows in flight carry no
-- proof in the request's entry (a leftover one is not vouched for).
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET attempts = min(attempts + 1, 1000000000),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), in_doubt = in_doubt | 2
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
RETURNING id, video_no, status
