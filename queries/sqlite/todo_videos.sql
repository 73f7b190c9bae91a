-- At most ?2 of listing ?1's matched videos not enqueued yet, oldest first.
SELECT namespace, video_no FROM rule_snapshot INDEXED BY rule_snapshot_todo
 WHERE listing_id = ?1 AND matched = 1 AND enqueued = 0
 ORDER BY create_ms, namespace, video_no LIMIT ?2
