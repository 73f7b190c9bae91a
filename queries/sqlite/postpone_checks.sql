-- The deleted rows in the JSON list ?1 checked again ?2 (a time modifier) from now.
UPDATE deletion_queue SET check_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?2)
 WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
