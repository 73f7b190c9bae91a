-- Listing $1's counts, summed over its namespaces; decided now.
UPDATE rule_listings SET
       listed = (SELECT coalesce(sum(listed), 0) FROM rule_namespaces WHERE listing_id = $1),
       matched = (SELECT coalesce(sum(matched), 0) FROM rule_namespaces WHERE listing_id = $1),
       unreadable = (SELECT coalesce(sum(unreadable), 0) FROM rule_namespaces
                      WHERE listing_id = $1),
       decided_at = now()
 WHERE id = $1
