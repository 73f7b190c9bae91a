-- One page's videos of namespace $2 (the JSON list $3 of [video_no, create_ms, matched]),
-- kept once each (pages shift as videos come and go).
INSERT INTO rule_snapshot (listing_id, namespace, video_no, create_ms, matched)
SELECT $1, $2, v->>0, (v->>1)::bigint, (v->>2)::bigint FROM json_array_elements($3::json) AS v
ON CONFLICT DO NOTHING
