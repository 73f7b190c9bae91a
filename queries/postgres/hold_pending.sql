-- Pending rows of the videos in $1, in namespace $2 (NULL: every one), set held.
UPDATE deletion_queue SET status = 'held', updated_at = now()
 WHERE status = 'pending' AND video_no = ANY($1) AND ($2::text IS NULL OR unique_id = $2)
