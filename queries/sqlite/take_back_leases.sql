-- Rows in flight whose lease ran out, or that memories-reaper could not have granted
-- (unreadable, NULL, or more than ?1 seconds ahead), back to pending, saying why.
UPDATE deletion_queue
   SET status = 'pending', claimed_by = NULL, lease_until = NULL,
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       last_error = CASE
           WHEN julianday(lease_until) < julianday('now')
               THEN coalesce(last_error, 'lease expired: its holder stopped')
           ELSE 'lease_until ' || substr(quote(lease_until), 1, 80)
                || ' was not granted by memories-reaper (unreadable, or more than '
                || ?1 || ' s ahead): taken back'
       END
 WHERE status = 'in_flight'
   AND coalesce(julianday(lease_until) NOT BETWEEN julianday('now')
                AND julianday('now', '+' || ?1 || ' seconds'), 1)
