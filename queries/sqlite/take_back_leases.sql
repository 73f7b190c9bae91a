-- Rows in flight whose lease ran out, or that memories-reaper could not have granted
-- (unreadable, NULL, or more than ?1 seconds ahead), back to pending, saying why. Found
-- as three ranges of the lease index (its key is julianday(lease_until), NULL when it
-- cannot be read or says 'now', the index's expression repeated here): never a read of every row in flight.
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
 WHERE id IN (
       SELECT id FROM deletion_queue INDEXED BY deletion_queue_lease
        WHERE status = 'in_flight' AND julianday(CASE WHEN lower(lease_until) = 'now' THEN NULL ELSE lease_until END) IS NULL
       UNION ALL
       SELECT id FROM deletion_queue INDEXED BY deletion_queue_lease
        WHERE status = 'in_flight' AND julianday(CASE WHEN lower(lease_until) = 'now' THEN NULL ELSE lease_until END) < julianday('now')
       UNION ALL
       SELECT id FROM deletion_queue INDEXED BY deletion_queue_lease
        WHERE status = 'in_flight'
          AND julianday(CASE WHEN lower(lease_until) = 'now' THEN NULL ELSE lease_until END) > julianday('now', '+' || ?1 || ' seconds'))
