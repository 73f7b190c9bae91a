-- Every row claim ?1 holds back to pending, with last_error ?2 when given.
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET status = 'pending', claimed_by = NULL, lease_until = NULL,
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), last_error = coalesce(?2, last_error)
 WHERE claimed_by = ?1 AND status = 'in_flight'
