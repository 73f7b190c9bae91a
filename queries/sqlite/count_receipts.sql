-- How many rows receipts.sql returns for the same ?1 to ?4.
SELECT count(*) FROM deletion_queue AS q
 WHERE q.status IN (SELECT value FROM json_each(?1))
   AND (?2 IS NULL OR q.settled_at >= ?2) AND (?3 IS NULL OR q.settled_at < ?3)
   AND (?4 IS NULL OR q.unique_id = ?4)
