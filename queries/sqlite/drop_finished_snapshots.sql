-- The snapshots of listings done or superseded.
DELETE FROM rule_snapshot
 WHERE listing_id IN (SELECT id FROM rule_listings WHERE state IN ('done', 'superseded'))
