-- Whether the newest answered request (by id, the primary key: never a scan) has outcome
-- ?1 and was answered within ?2 seconds; and how long it took (NULL if not an integer).
SELECT outcome = ?1 AND finished_at >= strftime('%Y-%m-%d %H:%M:%f', julianday('now') - ?2 / 86400.0),
       iif(typeof(duration_ms) = 'integer', duration_ms, NULL)
  FROM deletion_batches WHERE outcome <> 'sending' ORDER BY id DESC LIMIT 1
