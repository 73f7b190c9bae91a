-- The videos of the JSON list $1 of [namespace, video_no] queued as $2, but a video the
-- queue has any row of in that namespace (queued by a producer, or deleted already).
INSERT INTO deletion_queue (video_no, unique_id, source)
SELECT j->>1, j->>0, $2 FROM json_array_elements($1::json) AS j
 WHERE NOT EXISTS (SELECT 1 FROM deletion_queue AS d
                    WHERE d.unique_id = j->>0 AND d.video_no = j->>1)
