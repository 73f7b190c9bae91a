-- A hold on each video in $1, in namespace $2 (NULL: every namespace), for reason $3; one
-- already placed there keeps its first reason.
INSERT INTO legal_holds (video_no, unique_id, reason)
SELECT DISTINCT v, $2::text, $3 FROM unnest($1::text[]) AS v
ON CONFLICT DO NOTHING
