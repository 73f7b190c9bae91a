-- The videos of the JSON list ?1 of [namespace, video_no] queued as ?2, but a video the
-- queue has any row of in that namespace (queued by a producer, or deleted already).
INSERT INTO deletion_queue (video_no, unique_id, source)
SELECT json_extract(j.value, '$[1]'), json_extract(j.value, '$[0]'), ?2
  FROM json_each(?1) AS j
 WHERE NOT EXISTS (
       SELECT 1 FROM deletion_queue AS d INDEXED BY deletion_queue_video
        WHERE d.unique_id = json_extract(j.value, '$[0]')
          AND d.video_no = json_extract(j.value, '$[1]'))
