-- The answer on request ?1's record; its namespace.
UPDATE deletion_batches
   SET outcome = ?2, http_status = ?3, api_code = ?4, api_msg = ?5, error = ?6,
       duration_ms = ?7, finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE id = ?1
RETURNING unique_id
