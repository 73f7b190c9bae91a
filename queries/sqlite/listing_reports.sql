-- Each rule's last decided listing (else its latest), or only rule ?1's, with the newer
-- listing of it under way, if any.
SELECT id, rule, mode, state, started_at, finished_at,
       confirmed_at IS NOT NULL AS confirmed,
       listed, matched, unreadable, enqueued, already_queued, note,
       (SELECT max(n.id) FROM rule_listings AS n
         WHERE n.rule = rule_listings.rule AND n.state = 'listing'
           AND n.id > rule_listings.id) AS listing_now
  FROM rule_listings
 WHERE id IN (SELECT coalesce(max(id) FILTER (WHERE decided_at IS NOT NULL), max(id))
                FROM rule_listings GROUP BY rule)
   AND (?1 IS NULL OR rule = ?1)
 ORDER BY rule
