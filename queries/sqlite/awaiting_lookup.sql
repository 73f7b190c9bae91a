-- Pending rows whose lookup missed their video and that wait for the next one
-- (`recheck_at` ahead): not due until then. How many, and the first's time.
SELECT count(*) AS n, min(recheck_at) AS first
  FROM deletion_queue
 WHERE status = 'pending' AND julianday(recheck_at) > julianday('now')
