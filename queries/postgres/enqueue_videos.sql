-- The videos ($1 namespaces, $2 video numbers) queued as $3, but a video the queue has any
-- row of in that namespace (queued by a producer, or deleted already).
INSERT INTO deletion_queue (video_no, unique_id, source)
SELECT v, n, $3 FROM unnest($1::text[], $2::text[]) AS j (n, v)
 WHERE NOT EXISTS (SELECT 1 FROM deletion_queue AS d WHERE d.unique_id = j.n AND d.video_no = j.v)
