-- How many of the videos in the JSON list ?2 a legal hold covers in namespace ?1.
SELECT count(DISTINCT v.value) FROM json_each(?2) AS v
 WHERE EXISTS (SELECT 1 FROM legal_holds AS h
                WHERE h.video_no = v.value AND (h.unique_id IS NULL OR h.unique_id = ?1))
