-- Rows in flight under a lease memories-reaper never grants (unreadable, or more than ?1
-- seconds ahead).
SELECT count(*) FROM deletion_queue
 WHERE status = 'in_flight'
   AND coalesce(julianday(lease_until) > julianday('now', '+' || ?1 || ' seconds'), 1)
