-- Rows whose due_at could not be read as a time: waiting ones (never due), and those
-- migration 0005 failed.
SELECT count(*) FROM deletion_queue
 WHERE (status IN ('pending', 'in_flight')
        AND (julianday(due_at) IS NULL OR substr(due_at, 5, 1) IS NOT '-'))
    OR (status = 'failed' AND last_error LIKE 'unreadable due_at %')
