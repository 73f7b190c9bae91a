-- At most $2 request records started before $1: never one awaiting its answer (a worker
-- would record it), nor one whose answer was never recorded (what it did is unknown), nor
-- one a row or a kept chain entry points at.
DELETE FROM deletion_batches WHERE id IN (
    SELECT b.id FROM deletion_batches b
     WHERE b.started_at < $1 AND b.outcome <> 'sending'
       AND NOT EXISTS (SELECT 1 FROM deletion_queue q WHERE q.batch_id = b.id)
       AND NOT EXISTS (SELECT 1 FROM settlement_chain c WHERE c.batch_id = b.id)
     LIMIT $2)
