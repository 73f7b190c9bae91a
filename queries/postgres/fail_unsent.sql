-- Row $2 of claim $1 failed unsent, with last_error $3 and proof $4; with its namespace.
UPDATE deletion_queue
   SET status = 'failed', proof = $4, last_error = $3, settled_at = clock_timestamp(),
       updated_at = now(), claimed_by = NULL, lease_until = NULL
 WHERE id = $2 AND claimed_by = $1
RETURNING id, video_no, status, proof, unique_id
