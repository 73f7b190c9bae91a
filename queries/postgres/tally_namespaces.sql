-- Listing $1's counts per namespace from its snapshot, and a sample of $2 matched videos
-- (the oldest).
UPDATE rule_namespaces AS n SET
       listed = (SELECT count(*) FROM rule_snapshot AS s
                  WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace),
       matched = (SELECT count(*) FROM rule_snapshot AS s
                   WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                     AND s.matched = 1),
       unreadable = (SELECT count(*) FROM rule_snapshot AS s
                      WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                        AND s.matched = 2),
       oldest_ms = (SELECT min(create_ms) FROM rule_snapshot AS s
                     WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                       AND s.matched = 1),
       newest_ms = (SELECT max(create_ms) FROM rule_snapshot AS s
                     WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                       AND s.matched = 1),
       sample = (SELECT coalesce(json_agg(video_no), '[]')::text FROM (
                   SELECT video_no FROM rule_snapshot AS s
                    WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                      AND s.matched = 1
                    ORDER BY create_ms, video_no LIMIT $2) AS oldest)
 WHERE listing_id = $1
