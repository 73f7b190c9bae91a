-- Pending rows whose lookup missed their video and that wait for the next one
-- (`recheck_at` ahead): not due until then. How many, and the first's time (UTC, shown
-- as on SQLite).
SELECT count(*) AS n,
       to_char(min(recheck_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS first
  FROM deletion_queue
 WHERE status = 'pending' AND recheck_at > now()
