-- Rows by status and proof, for the metrics.
SELECT status, proof, count(*) AS n FROM deletion_queue GROUP BY status, proof
