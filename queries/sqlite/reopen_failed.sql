-- Failed rows of namespace ?1 (NULL: every one) settled at or after ?2 (NULL: ever) back
-- to pending, due now; their refusals start again. Rows failed because their due_at
-- could not be read are left: "now" could be early ('+30 days').
UPDATE deletion_queue
   SET status = 'pending', proof = NULL, settled_at = NULL, batch_id = NULL,
       due_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), refusals = 0,
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE status = 'failed' AND (?1 IS NULL OR unique_id = ?1) AND (?2 IS NULL OR settled_at >= ?2)
   AND (last_error IS NULL OR last_error NOT LIKE 'unreadable due_at %')
RETURNING id, video_no, status, proof
