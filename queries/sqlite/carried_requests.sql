-- Request records named only by entries up to the anchor that prune keeps (not prunable
-- at ?1: awaiting or missing their answer, or a row points at them): vouched for again.
SELECT b.id, b.unique_id FROM deletion_batches b
 WHERE b.id IN (SELECT batch_id FROM settlement_chain
                 WHERE seq <= (SELECT seq FROM settlement_anchor))
   AND NOT EXISTS (SELECT 1 FROM settlement_chain c
                    WHERE c.batch_id = b.id AND c.seq > (SELECT seq FROM settlement_anchor))
   AND NOT (b.started_at < ?1 AND b.outcome <> 'sending'
            AND NOT EXISTS (SELECT 1 FROM deletion_queue q WHERE q.batch_id = b.id))
 ORDER BY b.id
