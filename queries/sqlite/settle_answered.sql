-- The answer to request ?5 on claim ?1's rows of the videos in ?2: status ?3 (in_flight:
-- the claim keeps them, and a later entry settles them), last_error ?4, a refusal counted
-- when ?6, in doubt when ?7 (no API code: a deletion may have happened), proof ?9 for a
-- row the latest lookup listed and ?10 for one it did not, and deleted rows looked up
-- again ?8 seconds later, four times longer for each round they were relisted (at most 5).
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET status = ?3, last_error = ?4, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       refusals = CASE WHEN ?6 THEN min(refusals + 1, 1000000000) ELSE refusals END,
       batch_id = CASE WHEN ?3 = 'in_flight' THEN batch_id ELSE ?5 END,
       settled_at = CASE WHEN ?3 = 'in_flight' THEN NULL
                         ELSE strftime('%Y-%m-%d %H:%M:%f', 'now') END,
       claimed_by = CASE WHEN ?3 = 'in_flight' THEN claimed_by END,
       lease_until = CASE WHEN ?3 = 'in_flight' THEN lease_until END,
       in_doubt = CASE WHEN ?7 THEN 1 ELSE in_doubt & 1 END,
       proof = CASE WHEN listed_at IS NOT NULL THEN ?9 ELSE ?10 END,
       check_at = CASE WHEN ?3 = 'deleted' AND ?8 IS NOT NULL
                       THEN strftime('%Y-%m-%d %H:%M:%f', 'now',
                                     '+' || (?8 * (1 << (2 * min(relisted, 5)))) || ' seconds')
                  END
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
RETURNING id, video_no, status, proof
