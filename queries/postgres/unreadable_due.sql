-- Waiting rows whose due_at the schema could not read: none, unless a superuser switched
-- the constraint off.
SELECT count(*) FROM deletion_queue WHERE status IN ('pending', 'in_flight') AND due IS NULL
