-- Claim $1's rows of videos deleted before, settled deleted with proof $2: only from a
-- deletion the chain records, an entry of kind $3 (answer) for the request that carried
-- that row, settling it deleted.
UPDATE deletion_queue AS q
   SET status = 'deleted', proof = $2, last_error = NULL, claimed_by = NULL,
       lease_until = NULL, settled_at = clock_timestamp(), updated_at = now(),
       batch_id = (
           SELECT d.batch_id FROM deletion_queue AS d
            WHERE d.unique_id = q.unique_id AND d.video_no = q.video_no AND d.status = 'deleted'
              AND EXISTS (SELECT 1 FROM settlement_chain AS c
                           WHERE c.batch_id = d.batch_id AND c.kind = $3
                             AND c.namespace = d.unique_id
                             AND strpos(c.rows, '[' || d.id::text || ','
                                                || to_json(d.video_no)::text
                                                || ',"deleted"') > 0)
            LIMIT 1)
 WHERE q.claimed_by = $1
   AND EXISTS (
       SELECT 1 FROM deletion_queue AS d
        WHERE d.unique_id = q.unique_id AND d.video_no = q.video_no AND d.status = 'deleted'
          AND EXISTS (SELECT 1 FROM settlement_chain AS c
                       WHERE c.batch_id = d.batch_id AND c.kind = $3
                         AND c.namespace = d.unique_id
                         AND strpos(c.rows, '[' || d.id::text || ','
                                            || to_json(d.video_no)::text
                                            || ',"deleted"') > 0))
RETURNING id, video_no, status, proof
