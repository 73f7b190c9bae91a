-- The claims' turn, to the commit: two claims in flight at once could each take a row of
-- the same video (neither sees the other's uncommitted rows).
SELECT 1 FROM queue_locks WHERE name = 'claim' FOR UPDATE
