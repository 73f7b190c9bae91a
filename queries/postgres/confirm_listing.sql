-- Rule $1's newest tripped listing made under fingerprint $2 goes on to be enqueued.
UPDATE rule_listings
   SET state = 'enqueuing', confirmed_at = now(), finished_at = NULL
 WHERE id = (SELECT max(id) FROM rule_listings
              WHERE rule = $1 AND fingerprint = $2 AND state = 'tripped')
RETURNING id
