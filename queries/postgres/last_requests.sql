-- The last $1 requests, newest first; times shown as on SQLite.
SELECT id, unique_id, ids_count, attempt, outcome, http_status, api_code, api_msg, error,
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS started_at,
       duration_ms
  FROM deletion_batches ORDER BY id DESC LIMIT $1
