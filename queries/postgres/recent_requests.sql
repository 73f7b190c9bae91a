-- Requests started in the last two seconds by a sender other than $1, newest first; times
-- on the server's clock, for every daemon alike.
SELECT id, extract(epoch FROM clock_timestamp() - started_at)::float8
  FROM deletion_batches
 WHERE started_at > clock_timestamp() - interval '2 seconds' AND sender IS DISTINCT FROM $1
 ORDER BY started_at DESC LIMIT 100
