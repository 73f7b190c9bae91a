-- Every row, with why a settled row's time cannot be true (by position in
-- chain::Impossible: 0 unreadable, or not as the daemon writes it for rows queued since
-- proofs, from ?3; 1 before queueing; 2 before its request; 3 before the pruned anchor's
-- since ?1 (when pruned: entry ?2 > 0); 4 in the future), and whether it needs an entry:
-- all do but those queued before proofs were recorded and settled, readably and possibly,
-- before the chain began.
SELECT id, status, video_no, unique_id, proof, why, covered FROM (
  SELECT q.id, q.status, q.video_no, q.unique_id, q.proof,
         CASE WHEN q.status NOT IN ('deleted', 'failed', 'absent') THEN NULL
              WHEN julianday(q.settled_at) IS NULL OR substr(q.settled_at, 5, 1) IS NOT '-'
                   OR (q.id >= ?3 AND q.settled_at NOT GLOB
                       '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]')
                   THEN 0
              WHEN julianday(q.settled_at) > julianday('now', '+60 seconds') THEN 4
              WHEN julianday(q.settled_at) < julianday(q.enqueued_at) THEN 1
              WHEN julianday(q.settled_at) < julianday(b.started_at) THEN 2
              WHEN ?2 > 0 AND julianday(q.settled_at) < julianday(?1)
                   AND julianday(q.updated_at) < julianday(?1) THEN 3
         END AS why,
         q.status IN ('deleted', 'failed', 'absent')
           AND (q.id >= ?3 OR NOT coalesce(?2 = 0 AND julianday(q.settled_at) < julianday(?1), 0))
           AS covered
    FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id)
 ORDER BY id
