-- Pending rows of the videos in ?1, in namespace ?2 (NULL: every one), set held.
UPDATE deletion_queue SET status = 'held', updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE status = 'pending' AND video_no IN (SELECT value FROM json_each(?1))
   AND (?2 IS NULL OR unique_id = ?2)
