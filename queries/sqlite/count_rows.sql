-- Rows by namespace and status.
SELECT unique_id, status, count(*) AS n FROM deletion_queue
 GROUP BY unique_id, status ORDER BY unique_id, status
