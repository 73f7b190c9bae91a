-- One enqueuer of listing $1 at a time (a sender losing its lease and the next one): the
-- second then reads the first's marks, and inserts nothing twice.
SELECT id FROM rule_listings WHERE id = $1 FOR UPDATE
