-- Claim ?1's rows of the videos in ?2, missed: pending again, looked up again after ?4 seconds,
-- last_error ?3. A listing before this one no longer says it is there.
UPDATE deletion_queue INDEXED BY deletion_queue_claim
   SET status = 'pending', last_error = ?3, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       claimed_by = NULL, lease_until = NULL, listed_at = NULL,
       missed_at = coalesce(missed_at, strftime('%Y-%m-%d %H:%M:%f', 'now')),
       recheck_at = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?4 / 86400.0)
 WHERE claimed_by = ?1 AND status = 'in_flight'
   AND video_no IN (SELECT value FROM json_each(?2))
