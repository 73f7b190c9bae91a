-- At most $2 of listing $1's matched videos not enqueued yet, oldest first.
SELECT namespace, video_no FROM rule_snapshot
 WHERE listing_id = $1 AND matched = 1 AND NOT enqueued
 ORDER BY create_ms, namespace, video_no LIMIT $2
