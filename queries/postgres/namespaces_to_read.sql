-- Listing $1's namespaces still to read, with the next page of each.
SELECT namespace, next_page FROM rule_namespaces
 WHERE listing_id = $1 AND NOT done ORDER BY namespace
