-- Seconds since the oldest due row not yet settled (pending, or in flight) came due.
SELECT (julianday('now') - min(julianday(due_at))) * 86400.0
  FROM deletion_queue
 WHERE status IN ('pending', 'in_flight')
   AND substr(due_at, 5, 1) = '-' AND julianday(due_at) <= julianday('now')
   AND (recheck_at IS NULL OR julianday(recheck_at) <= julianday('now'))
