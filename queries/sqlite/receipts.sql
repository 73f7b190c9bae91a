-- Settled rows with status in the JSON list ?1, settled in [?2, ?3) (each NULL: open), of
-- namespace ?4 (NULL: every one), in queue order, with the request that settled them;
-- ?5 the proof of a row settled before proofs were recorded.
SELECT q.id, q.video_no, q.unique_id, q.status, q.enqueued_at, q.due_at, q.settled_at,
       q.attempts, q.batch_id, b.started_at AS sent_at, b.http_status, b.api_code,
       b.api_msg, q.listed_at, q.missed_at, q.checked_at, q.relisted, q.last_error,
       q.source, coalesce(q.proof, ?5) AS proof
  FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id
 WHERE q.status IN (SELECT value FROM json_each(?1))
   AND (?2 IS NULL OR q.settled_at >= ?2) AND (?3 IS NULL OR q.settled_at < ?3)
   AND (?4 IS NULL OR q.unique_id = ?4)
 ORDER BY q.id
