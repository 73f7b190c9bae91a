-- The deleted rows in the JSON list ?1 checked again ?2 seconds from now.
UPDATE deletion_queue SET check_at = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?2 / 86400.0)
 WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
