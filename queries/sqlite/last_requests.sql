-- The last ?1 requests, newest first.
SELECT id, unique_id, ids_count, attempt, outcome, http_status, api_code, api_msg, error,
       started_at, duration_ms
  FROM deletion_batches ORDER BY id DESC LIMIT ?1
