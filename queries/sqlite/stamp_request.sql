-- Request ?1 starts now: other processes count it from here (the rate).
UPDATE deletion_batches SET started_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = ?1
