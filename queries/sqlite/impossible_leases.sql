-- Rows in flight under a lease memories-reaper never grants (unreadable, or more than ?1
-- seconds ahead; 'now' is no lease: take_back_leases.sql).
SELECT count(*) FROM deletion_queue
 WHERE status = 'in_flight'
   AND coalesce(julianday(CASE WHEN lower(lease_until) = 'now' THEN NULL ELSE lease_until END)
                > julianday('now', '+' || ?1 || ' seconds'), 1)
