-- Rows in flight whose lease ran out, or that memories-reaper could not have granted
-- (missing, or more than $1 seconds ahead), back to pending, saying why.
UPDATE deletion_queue
   SET status = 'pending', claimed_by = NULL, lease_until = NULL, updated_at = now(),
       last_error = CASE
           WHEN lease_until < now()
               THEN coalesce(last_error, 'lease expired: its holder stopped')
           ELSE 'lease_until ' || coalesce(lease_until::text, 'NULL')
                || ' was not granted by memories-reaper (missing, or more than '
                || $1 || ' s ahead): taken back'
       END
 WHERE status = 'in_flight'
   AND (lease_until IS NULL OR lease_until < now()
        OR lease_until > now() + make_interval(secs => $1))
