-- One more attempt (bounded, not to overflow into REAL) on claim ?1's rows of the videos
-- in ?2, now in doubt (bit 2: a request of ours carried them); listed by the lookup
-- before this request ?3 seconds ago (NULL: not looked up), which a miss recorded before
-- it no longer stands against. Rows in flight carry no proof in the request's entry (a
-- leftover one is not vouched for).
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET attempts = min(attempts + 1, 1000000000),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), in_doubt = in_doubt | 2,
       listed_at = CASE WHEN ?3 IS NULL THEN listed_at
                        ELSE strftime('%Y-%m-%d %H:%M:%f', julianday('now') - ?3 / 86400.0) END,
       missed_at = CASE WHEN ?3 IS NULL THEN missed_at END,
       recheck_at = CASE WHEN ?3 IS NULL THEN recheck_at END
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
RETURNING id, video_no, status
