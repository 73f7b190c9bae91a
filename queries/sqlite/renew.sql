-- The lease of every row claim ?1 holds, ?2 (a time modifier) from now.
UPDATE deletion_queue SET lease_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2)
 WHERE claimed_by = ?1 AND status = 'in_flight'
