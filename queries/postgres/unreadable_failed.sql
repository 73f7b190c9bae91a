-- Failed rows of namespace $1 settled at or after $2 that were failed because their
-- due_at could not be read (none here: the schema refuses such values).
SELECT count(*) FROM deletion_queue
 WHERE status = 'failed' AND ($1::text IS NULL OR unique_id = $1)
   AND ($2::timestamptz IS NULL OR settled_at >= $2)
   AND last_error LIKE 'unreadable due_at %'
