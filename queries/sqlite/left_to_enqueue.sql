SELECT count(*) FROM rule_snapshot INDEXED BY rule_snapshot_todo
 WHERE listing_id = ?1 AND matched = 1 AND enqueued = 0
