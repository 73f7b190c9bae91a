-- Every request's record (as chain_head.sql writes it), and whether it must have a
-- chain entry: recorded since the chain held requests (from ?1), unless prune may remove
-- it (answered, started before the anchor's since ?2, no row points at it).
SELECT id, json_array(quote(id), quote(unique_id), quote(ids_count), quote(attempt),
                      quote(outcome), quote(http_status), quote(api_code), quote(api_msg),
                      quote(error), quote(started_at), quote(finished_at), quote(duration_ms),
                      quote(sender)) AS record,
       api_code, api_msg,
       (id >= ?1 OR id < 1)
       AND NOT (b.started_at < ?2 AND b.outcome <> 'sending'
                AND NOT EXISTS (SELECT 1 FROM deletion_queue q WHERE q.batch_id = b.id)) AS must
  FROM deletion_batches b ORDER BY id
