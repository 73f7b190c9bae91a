-- How many of the rows in $1 are held now.
SELECT count(*) FROM deletion_queue WHERE id = ANY($1) AND status = 'held'
