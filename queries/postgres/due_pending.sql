-- Rows that are due and waiting: what `run --once` must leave at zero to succeed.
SELECT count(*) FROM deletion_queue AS q
 WHERE q.status = 'pending'
   AND q.due <= now() AND (q.recheck_at IS NULL OR q.recheck_at <= now())
