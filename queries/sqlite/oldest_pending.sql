-- The oldest pending row.
SELECT id, video_no, unique_id, enqueued_at, due_at, attempts, last_error
  FROM deletion_queue WHERE status = 'pending' ORDER BY id LIMIT 1
