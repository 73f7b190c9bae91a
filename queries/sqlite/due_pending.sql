-- Rows that are due and waiting: what `run --once` must leave at zero to succeed.
SELECT count(*) FROM deletion_queue
 WHERE status = 'pending'
   AND substr(due_at, 5, 1) = '-' AND julianday(due_at) <= julianday('now')
   AND (recheck_at IS NULL OR julianday(recheck_at) <= julianday('now'))
