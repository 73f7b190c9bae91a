-- Rule ?1's listings that go on, newest first.
SELECT id, fingerprint, state, listed_at_ms, note FROM rule_listings
 WHERE rule = ?1 AND state IN ('listing', 'enqueuing', 'tripped')
 ORDER BY id DESC
