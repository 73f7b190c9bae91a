-- The last entry's sequence number and hash, or the anchor's; and request $1's whole
-- record (NULL when $1 is NULL), the text its entry hashes: one JSON array, written by
-- the server (whose sessions are all UTC and ISO: the same text on every host). The same
-- text as request_records.sql.
SELECT seq, hash,
       (SELECT json_build_array(id, unique_id, ids_count, attempt, outcome, http_status,
                                api_code, api_msg, error, started_at, finished_at,
                                duration_ms, sender)::text
          FROM deletion_batches WHERE id = $1) AS record
  FROM ((SELECT 0 AS o, seq, hash FROM settlement_chain ORDER BY seq DESC LIMIT 1)
        UNION ALL (SELECT 1, seq, hash FROM settlement_anchor)) AS h
 ORDER BY o LIMIT 1
