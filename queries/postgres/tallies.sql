-- Listing $1's counts per namespace.
SELECT namespace, listed, matched, unreadable, oldest_ms, newest_ms, sample
  FROM rule_namespaces WHERE listing_id = $1 ORDER BY namespace
