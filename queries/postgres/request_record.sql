-- Request $1's whole record as one JSON array, written by the server (whose sessions are
-- all UTC and ISO: the same text on every host). The same text as request_records.sql.
SELECT json_build_array(id, unique_id, ids_count, attempt, outcome, http_status, api_code,
                        api_msg, error, started_at, finished_at, duration_ms, sender)::text
  FROM deletion_batches WHERE id = $1
