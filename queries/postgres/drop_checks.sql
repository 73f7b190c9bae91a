-- The deleted rows in $1 not checked any more.
UPDATE deletion_queue SET check_at = NULL, updated_at = now()
 WHERE id = ANY($1) AND status = 'deleted'
