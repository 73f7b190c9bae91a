SELECT count(*) FROM rule_snapshot WHERE listing_id = $1 AND matched = 1 AND NOT enqueued
