-- Listing $1's counts per namespace from its snapshot (one scan each), and a sample of $2
-- matched videos (the oldest).
UPDATE rule_namespaces AS n SET
       (listed, matched, unreadable, oldest_ms, newest_ms, sample) = (
         SELECT count(*),
                count(*) FILTER (WHERE s.matched = 1),
                count(*) FILTER (WHERE s.matched = 2),
                min(s.create_ms) FILTER (WHERE s.matched = 1),
                max(s.create_ms) FILTER (WHERE s.matched = 1),
                coalesce(to_json((array_agg(s.video_no ORDER BY s.create_ms, s.video_no)
                                  FILTER (WHERE s.matched = 1))[1:$2])::text, '[]')
           FROM rule_snapshot AS s
          WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace)
 WHERE n.listing_id = $1
