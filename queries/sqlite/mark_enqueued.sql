-- Listing ?1's videos of the JSON list ?2 of [namespace, video_no] marked enqueued.
UPDATE rule_snapshot SET enqueued = 1
 WHERE listing_id = ?1 AND (namespace, video_no) IN
       (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2))
