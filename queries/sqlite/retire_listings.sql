-- The listings that go on of rules not in the JSON list ?1 (no longer configured) set aside.
UPDATE rule_listings
   SET state = 'superseded', finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       note = 'the rule is no longer configured'
 WHERE state IN ('listing', 'enqueuing', 'tripped')
   AND rule NOT IN (SELECT value FROM json_each(?1))
