-- The oldest pending row; times shown as on SQLite (UTC, YYYY-MM-DD HH:MM:SS.SSS).
SELECT id, video_no, unique_id,
       to_char(enqueued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS enqueued_at,
       due_at, attempts, last_error
  FROM deletion_queue WHERE status = 'pending' ORDER BY id LIMIT 1
