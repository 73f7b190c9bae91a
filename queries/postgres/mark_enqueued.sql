-- Listing $1's videos ($2 namespaces, $3 video numbers) marked enqueued.
UPDATE rule_snapshot SET enqueued = true
 WHERE listing_id = $1 AND (namespace, video_no) IN
       (SELECT n, v FROM unnest($2::text[], $3::text[]) AS j (n, v))
