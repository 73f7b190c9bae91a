-- One page's videos of namespace $2 ($3 video numbers, $4 creation times, $5 matches),
-- kept once each (pages shift as videos come and go).
INSERT INTO rule_snapshot (listing_id, namespace, video_no, create_ms, matched)
SELECT $1, $2, v, c, m FROM unnest($3::text[], $4::bigint[], $5::bigint[]) AS u (v, c, m)
ON CONFLICT DO NOTHING
