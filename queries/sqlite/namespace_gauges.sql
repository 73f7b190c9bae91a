-- Rows by namespace and status, for the ?1 namespaces with the most rows; the rest summed
-- under a NULL namespace: what a scrape returns is bounded, whatever the namespaces.
WITH largest AS (SELECT unique_id FROM deletion_queue GROUP BY unique_id
                  ORDER BY count(*) DESC, unique_id LIMIT ?1)
SELECT l.unique_id, q.status, count(*) AS n
  FROM deletion_queue AS q LEFT JOIN largest AS l ON l.unique_id = q.unique_id
 GROUP BY l.unique_id, q.status
