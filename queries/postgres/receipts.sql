-- Settled rows with status in $1, settled in [$2, $3) (each NULL: open), of namespace $4
-- (NULL: every one), in queue order, with the request that settled them; $5 the proof of
-- a row settled before proofs were recorded. Times shown as on SQLite.
SELECT q.id, q.video_no, q.unique_id, q.status,
       to_char(q.enqueued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS enqueued_at,
       q.due_at,
       to_char(q.settled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS settled_at,
       q.attempts, q.batch_id,
       to_char(b.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS sent_at,
       b.http_status, b.api_code, b.api_msg,
       to_char(q.listed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS listed_at,
       to_char(q.missed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS missed_at,
       to_char(q.checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS checked_at,
       q.relisted, q.last_error, q.source, coalesce(q.proof, $5) AS proof
  FROM deletion_queue AS q LEFT JOIN deletion_batches AS b ON b.id = q.batch_id
 WHERE q.status = ANY($1)
   AND ($2::timestamptz IS NULL OR q.settled_at >= $2)
   AND ($3::timestamptz IS NULL OR q.settled_at < $3)
   AND ($4::text IS NULL OR q.unique_id = $4)
 ORDER BY q.id
