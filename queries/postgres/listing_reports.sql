-- Each rule's last decided listing (else its latest), or only rule $1's, with the newer
-- listing of it under way, if any. Times shown as on SQLite.
SELECT DISTINCT ON (l.rule)
       l.id, l.rule, l.mode, l.state,
       to_char(l.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS started_at,
       to_char(l.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS finished_at,
       l.confirmed_at IS NOT NULL AS confirmed, l.listed, l.matched, l.unreadable,
       l.enqueued, l.already_queued, l.note,
       (SELECT max(n.id) FROM rule_listings AS n
         WHERE n.rule = l.rule AND n.state = 'listing' AND n.id > l.id) AS listing_now
  FROM rule_listings AS l
 WHERE $1::text IS NULL OR l.rule = $1
 ORDER BY l.rule, l.decided_at IS NULL, l.id DESC
