-- The deleted rows in $1 checked again $2 seconds from now.
UPDATE deletion_queue SET check_at = now() + make_interval(secs => $2)
 WHERE id = ANY($1) AND status = 'deleted'
