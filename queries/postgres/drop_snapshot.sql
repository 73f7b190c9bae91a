DELETE FROM rule_snapshot WHERE listing_id = $1
