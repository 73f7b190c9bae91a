-- The counts of listing $1's rule's finished listings but the last $2.
DELETE FROM rule_namespaces WHERE listing_id IN (
    SELECT id FROM rule_listings
     WHERE rule = (SELECT rule FROM rule_listings WHERE id = $1)
       AND state IN ('done', 'superseded')
     ORDER BY id DESC OFFSET $2)
