-- The videos of the JSON list ?1 queued in namespace ?2, as a producer would.
INSERT INTO deletion_queue (video_no, unique_id) SELECT value, ?2 FROM json_each(?1)
