INSERT INTO rule_listings (rule, fingerprint, mode, listed_at_ms)
VALUES (?1, ?2, ?3, ?4) RETURNING id
