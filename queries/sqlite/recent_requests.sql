-- Requests started in the last two seconds by a sender other than ?1, newest first.
SELECT id, (julianday('now') - julianday(started_at)) * 86400.0
  FROM deletion_batches INDEXED BY deletion_batches_started
 WHERE started_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 seconds') AND sender IS NOT ?1
 ORDER BY started_at DESC LIMIT 100
