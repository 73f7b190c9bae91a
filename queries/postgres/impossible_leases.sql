-- Rows in flight under a lease memories-reaper never grants (none, or more than $1
-- seconds ahead).
SELECT count(*) FROM deletion_queue
 WHERE status = 'in_flight'
   AND (lease_until IS NULL OR lease_until > now() + make_interval(secs => $1))
