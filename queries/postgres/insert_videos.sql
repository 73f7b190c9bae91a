-- The videos in $1 queued in namespace $2, as a producer would.
INSERT INTO deletion_queue (video_no, unique_id) SELECT v, $2 FROM unnest($1::text[]) AS v
