-- Held rows (of the videos in $1, unless NULL) no legal hold covers any longer, back to
-- pending.
UPDATE deletion_queue AS q SET status = 'pending', updated_at = now()
 WHERE q.status = 'held' AND ($1::text[] IS NULL OR q.video_no = ANY($1))
   AND NOT EXISTS (SELECT 1 FROM legal_holds AS h
                    WHERE h.video_no = q.video_no
                      AND (h.unique_id IS NULL OR h.unique_id = q.unique_id))
