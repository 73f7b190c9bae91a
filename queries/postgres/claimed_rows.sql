-- The rows claim $1 holds.
SELECT id, video_no, refusals, in_doubt, missed_at
  FROM deletion_queue WHERE claimed_by = $1 ORDER BY id
