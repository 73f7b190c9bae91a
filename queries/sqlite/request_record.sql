-- Request ?1's whole record as one JSON array written by SQLite, each value as quote()
-- writes it (text quoted, numbers bare, a BLOB as X'…', NULL): its type is vouched for
-- too, and no value can fail it. The same text as request_records.sql writes.
SELECT json_array(quote(id), quote(unique_id), quote(ids_count), quote(attempt),
                  quote(outcome), quote(http_status), quote(api_code), quote(api_msg),
                  quote(error), quote(started_at), quote(finished_at), quote(duration_ms),
                  quote(sender))
  FROM deletion_batches WHERE id = ?1
