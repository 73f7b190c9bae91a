-- One page's videos of namespace ?2 (the JSON list ?3 of [video_no, create_ms, matched]),
-- kept once each (pages shift as videos come and go).
INSERT INTO rule_snapshot (listing_id, namespace, video_no, create_ms, matched)
SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
       json_extract(value, '$[2]')
  FROM json_each(?3) WHERE true
ON CONFLICT DO NOTHING
