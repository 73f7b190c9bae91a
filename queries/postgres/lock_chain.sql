-- The chain's turn, to the commit: entries from several daemons are in commit order. A
-- row of queue_locks, not an advisory lock, which any role (a producer's too) could hold.
SELECT 1 FROM queue_locks WHERE name = 'chain' FOR UPDATE
