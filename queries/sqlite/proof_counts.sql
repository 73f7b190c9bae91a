-- Settled rows by status and proof (?1 for rows settled before proofs were recorded).
SELECT status, coalesce(proof, ?1) AS proof, count(*) AS n FROM deletion_queue
 WHERE status IN ('deleted', 'failed', 'absent')
 GROUP BY status, proof ORDER BY status, proof
