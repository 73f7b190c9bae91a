-- How many of the videos in $2 a legal hold covers in namespace $1.
SELECT count(DISTINCT v) FROM unnest($2::text[]) AS v
 WHERE EXISTS (SELECT 1 FROM legal_holds AS h
                WHERE h.video_no = v AND (h.unique_id IS NULL OR h.unique_id = $1))
