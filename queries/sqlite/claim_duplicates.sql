-- The due pending duplicates of claim ?1's videos, at most ?3, claimed too (lease ?2):
-- driven from the distinct videos claimed, each found through the index.
UPDATE deletion_queue
   SET status = 'in_flight', claimed_by = ?1,
       lease_until = strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?2 / 86400.0),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
 WHERE id IN (
       SELECT d.id
         FROM (SELECT DISTINCT unique_id, video_no
                 FROM deletion_queue INDEXED BY deletion_queue_claim
                WHERE claimed_by = ?1) AS c
         CROSS JOIN deletion_queue AS d INDEXED BY deletion_queue_video
           ON d.unique_id = c.unique_id AND d.video_no = c.video_no AND d.status = 'pending'
        WHERE substr(d.due_at, 5, 1) = '-' AND julianday(d.due_at) <= julianday('now')
          AND (d.recheck_at IS NULL OR julianday(d.recheck_at) <= julianday('now'))
        LIMIT ?3)
