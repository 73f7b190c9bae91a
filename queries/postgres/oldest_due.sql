-- Seconds since the oldest due row not yet settled (pending, or in flight) came due.
SELECT extract(epoch FROM now() - min(q.due))::float8
  FROM deletion_queue AS q
 WHERE q.status IN ('pending', 'in_flight')
   AND q.due <= now() AND (q.recheck_at IS NULL OR q.recheck_at <= now())
