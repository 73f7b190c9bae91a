-- How many rows receipts.sql returns for the same $1 to $4.
SELECT count(*) FROM deletion_queue AS q
 WHERE q.status = ANY($1)
   AND ($2::timestamptz IS NULL OR q.settled_at >= $2)
   AND ($3::timestamptz IS NULL OR q.settled_at < $3)
   AND ($4::text IS NULL OR q.unique_id = $4)
