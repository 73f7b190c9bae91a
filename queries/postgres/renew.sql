-- The lease of every row claim $1 holds whose lease ends within $3 seconds, $2 seconds
-- from now (a lease renewed a moment ago is not written again). Rows another transaction
-- holds locked are skipped: the claim's guard renews on its own timer while the worker's
-- transaction (recording a request, which renews the whole claim itself) holds some of the
-- same rows; each waiting on the other's rows, in another order, was a deadlock. A skipped
-- row is renewed by that transaction, or at the next renewal, a third of a lease on.
UPDATE deletion_queue SET lease_until = now() + make_interval(secs => $2)
 WHERE id IN (SELECT id FROM deletion_queue
               WHERE claimed_by = $1 AND status = 'in_flight'
                 AND coalesce(lease_until < now() + make_interval(secs => $3), true)
               FOR UPDATE SKIP LOCKED)
