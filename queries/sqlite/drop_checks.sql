-- The deleted rows in ?1 not checked any more.
UPDATE deletion_queue SET check_at = NULL, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
