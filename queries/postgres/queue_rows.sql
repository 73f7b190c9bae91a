-- Every row, with why a settled row's time cannot be true (by position in
-- chain::Impossible: 0 missing; 1 before queueing; 2 before its request; 3 before the
-- pruned anchor's since $1 (when pruned: entry $2 > 0); 4 in the future), and whether it
-- needs an entry: all do but those queued before proofs were recorded (from $3) and
-- settled before the chain began.
SELECT q.id, q.status, q.video_no, q.unique_id, q.proof,
       CASE WHEN q.status NOT IN ('deleted', 'failed', 'absent') THEN NULL
            WHEN q.settled_at IS NULL THEN 0
            WHEN q.settled_at > now() + interval '60 seconds' THEN 4
            WHEN q.settled_at < q.enqueued_at THEN 1
            WHEN q.settled_at < b.started_at THEN 2
            WHEN $2 > 0 AND q.settled_at < $1 AND q.updated_at < $1 THEN 3
       END::int8 AS why,
       q.status IN ('deleted', 'failed', 'absent')
         AND (q.id >= $3 OR NOT coalesce($2 = 0 AND q.settled_at < $1, false))
         AS covered
  FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id
 ORDER BY q.id
