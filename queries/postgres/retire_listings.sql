-- The listings that go on of rules not in $1 (no longer configured) set aside.
UPDATE rule_listings
   SET state = 'superseded', finished_at = now(), note = 'the rule is no longer configured'
 WHERE state IN ('listing', 'enqueuing', 'tripped') AND rule <> ALL($1::text[])
