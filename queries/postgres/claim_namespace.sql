-- Claim $1's namespace.
SELECT unique_id FROM deletion_queue WHERE claimed_by = $1 LIMIT 1
