-- How many of the videos in the JSON list ?2 claim ?1 still holds in flight.
SELECT count(DISTINCT video_no) FROM deletion_queue INDEXED BY deletion_queue_claim
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
