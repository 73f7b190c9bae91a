-- A hold on each video in the JSON list ?1, in namespace ?2 (NULL: every namespace), for
-- reason ?3; one already placed there keeps its first reason.
INSERT INTO legal_holds (video_no, unique_id, reason)
SELECT DISTINCT value, ?2, ?3 FROM json_each(?1) WHERE true
ON CONFLICT DO NOTHING
