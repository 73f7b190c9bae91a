-- Failed rows of namespace $1 (NULL: every one) settled at or after $2 (NULL: ever) back
-- to pending, due now; their refusals start again. (No row here has an unreadable due_at:
-- the schema refuses them.)
UPDATE deletion_queue
   SET status = 'pending', proof = NULL, settled_at = NULL, batch_id = NULL, refusals = 0,
       due_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'),
       updated_at = now()
 WHERE status = 'failed' AND ($1::text IS NULL OR unique_id = $1)
   AND ($2::timestamptz IS NULL OR settled_at >= $2)
RETURNING id, video_no, status, proof
