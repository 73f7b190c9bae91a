-- Listing ?1 of namespace ?2 has read page ?3 (?4: the last), ?5 videos more.
UPDATE rule_namespaces SET next_page = ?3 + 1, done = ?4, listed = listed + ?5
 WHERE listing_id = ?1 AND namespace = ?2
