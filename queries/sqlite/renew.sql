-- The lease of every row claim ?1 holds, ?2 seconds from now.
UPDATE deletion_queue INDEXED BY deletion_queue_claim SET lease_until = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?2 / 86400.0)
 WHERE claimed_by = ?1 AND status = 'in_flight'
