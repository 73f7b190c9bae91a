-- Listing ?1's counts per namespace from its snapshot (one scan each), and a sample of ?2
-- matched videos (the oldest).
UPDATE rule_namespaces AS n SET
       (listed, matched, unreadable, oldest_ms, newest_ms) = (
         SELECT count(*), coalesce(sum(s.matched = 1), 0), coalesce(sum(s.matched = 2), 0),
                min(iif(s.matched = 1, s.create_ms, NULL)),
                max(iif(s.matched = 1, s.create_ms, NULL))
           FROM rule_snapshot AS s
          WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace),
       sample = (SELECT json_group_array(video_no) FROM (
                   SELECT video_no FROM rule_snapshot AS s
                    WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                      AND s.matched = 1
                    ORDER BY create_ms, video_no LIMIT ?2))
 WHERE listing_id = ?1
