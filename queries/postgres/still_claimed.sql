-- How many of the videos in $2 claim $1 still holds in flight; the rows stay locked to
-- the commit, so a take-back waits for it.
SELECT count(DISTINCT video_no) FROM (
    SELECT video_no FROM deletion_queue
     WHERE claimed_by = $1 AND status = 'in_flight' AND video_no = ANY($2)
     FOR UPDATE) AS h
