-- How many of the rows in the JSON list ?1 are held now.
SELECT count(*) FROM deletion_queue
 WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'held'
