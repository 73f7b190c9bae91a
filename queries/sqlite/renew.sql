-- The lease of every row claim ?1 holds whose lease ends within ?3 seconds (or cannot be
-- read), ?2 seconds from now. A lease renewed a moment ago is not written again.
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET lease_until = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?2 / 86400.0)
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND coalesce(julianday(lease_until) < julianday('now') + ?3 / 86400.0, 1)
