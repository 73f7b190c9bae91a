-- The holds placed on the videos in $1 in namespace $2 (NULL: the every-namespace ones).
DELETE FROM legal_holds WHERE video_no = ANY($1) AND unique_id IS NOT DISTINCT FROM $2::text
