-- The last entry's sequence number and hash, or the anchor's; and request ?1's whole
-- record (NULL when ?1 is NULL), the text its entry hashes: one JSON array written by
-- SQLite, each value as quote() writes it (text quoted, numbers bare, a BLOB as X'…',
-- NULL): its type is vouched for too, and no value can fail it. The same text as
-- request_records.sql writes.
SELECT seq, hash,
       (SELECT json_array(quote(id), quote(unique_id), quote(ids_count), quote(attempt),
                          quote(outcome), quote(http_status), quote(api_code), quote(api_msg),
                          quote(error), quote(started_at), quote(finished_at),
                          quote(duration_ms), quote(sender))
          FROM deletion_batches WHERE id = ?1) AS record
  FROM (SELECT seq, hash FROM (SELECT seq, hash FROM settlement_chain ORDER BY seq DESC LIMIT 1)
        UNION ALL SELECT seq, hash FROM settlement_anchor
        LIMIT 1)
