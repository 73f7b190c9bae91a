-- Whether the newest answered request has outcome $1 and was answered within $2 seconds;
-- and how long it took.
SELECT outcome = $1 AND finished_at >= now() - make_interval(secs => $2), duration_ms
  FROM deletion_batches WHERE outcome <> 'sending' ORDER BY id DESC LIMIT 1
