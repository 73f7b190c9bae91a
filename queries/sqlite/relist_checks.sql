-- The deleted rows in ?1, still listed: the API answered for them and kept them. Pending
-- again (in doubt: a lookup that then misses one counts it deleted, not absent), or, at
-- round ?3, failed with proof ?4; last_error ?2 and the round.
UPDATE deletion_queue
   SET relisted = min(relisted + 1, 1000000000), check_at = NULL,
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       status = CASE WHEN relisted + 1 >= ?3 THEN 'failed' ELSE 'pending' END,
       proof = CASE WHEN relisted + 1 >= ?3 THEN ?4 END,
       settled_at = CASE WHEN relisted + 1 >= ?3 THEN strftime('%Y-%m-%d %H:%M:%f', 'now') END,
       in_doubt = 1, checked_at = NULL, claimed_by = NULL, lease_until = NULL,
       last_error = ?2 || CASE WHEN relisted + 1 >= ?3
                               THEN ' (' || (relisted + 1) || ' times): failed'
                               ELSE ' (round ' || (relisted + 1) || ' of ' || ?3 || '): sent again'
                          END
 WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'deleted'
RETURNING id, video_no, status, proof
