-- Claim ?1's namespace.
SELECT unique_id FROM deletion_queue INDEXED BY deletion_queue_claim
 WHERE claimed_by = ?1 LIMIT 1
