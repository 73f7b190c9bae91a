-- At most $2 settled rows whose settlement and last change are older than $1.
DELETE FROM deletion_queue WHERE id IN (
    SELECT id FROM deletion_queue
     WHERE status IN ('deleted', 'failed', 'absent') AND settled_at < $1 AND updated_at < $1
     LIMIT $2)
