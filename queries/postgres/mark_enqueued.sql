-- Listing $1's videos of the JSON list $2 of [namespace, video_no] marked enqueued.
UPDATE rule_snapshot SET enqueued = true
 WHERE listing_id = $1 AND (namespace, video_no) IN
       (SELECT j->>0, j->>1 FROM json_array_elements($2::json) AS j)
