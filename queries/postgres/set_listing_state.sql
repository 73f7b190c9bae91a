-- Listing $1 moves on to state $2, with note $3 when given.
UPDATE rule_listings SET state = $2, note = coalesce($3, note),
       finished_at = CASE WHEN $2 IN ('done', 'superseded', 'tripped') THEN now() END
 WHERE id = $1
