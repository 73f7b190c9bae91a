-- Claim ?1's rows of videos deleted before, settled deleted with proof ?2: only from a
-- deletion the chain records, an entry of kind ?3 (answer) for the request that carried
-- that row, settling it deleted. Each distinct video of the claim is asked once (its
-- first such deletion, reading its rows: the index of videos holds no status, a claim may
-- hold a thousand rows of one video, and rows of other statuses may come before the
-- deleted one), and its rows then take that request.
WITH deleted (video_ns, video, batch) AS MATERIALIZED (
     SELECT v.unique_id, v.video_no,
            (SELECT d.batch_id FROM deletion_queue AS d INDEXED BY deletion_queue_video
              WHERE d.unique_id = v.unique_id AND d.video_no = v.video_no
                AND d.status = 'deleted'
                AND EXISTS (SELECT 1 FROM settlement_chain AS c INDEXED BY settlement_chain_batch
                             WHERE c.batch_id = d.batch_id AND c.kind = ?3
                               AND c.namespace = d.unique_id
                               AND instr(c.rows, '[' || d.id || ',' || json_quote(d.video_no)
                                                 || ',"deleted"') > 0)
              LIMIT 1)
       FROM (SELECT DISTINCT unique_id, video_no
               FROM deletion_queue INDEXED BY deletion_queue_claim
              WHERE claimed_by = ?1) AS v)
UPDATE deletion_queue AS q
   SET status = 'deleted', proof = ?2, last_error = NULL, claimed_by = NULL,
       lease_until = NULL, settled_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
       updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), batch_id = deleted.batch
  FROM deleted
 WHERE q.claimed_by = ?1 AND deleted.batch IS NOT NULL
   AND q.unique_id = deleted.video_ns AND q.video_no = deleted.video
RETURNING id, video_no, status, proof
