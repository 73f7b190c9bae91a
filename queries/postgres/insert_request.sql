-- A request's record, sending.
INSERT INTO deletion_batches (unique_id, ids_count, attempt, sender)
VALUES ($1, $2, $3, $4) RETURNING id
