-- Every entry of the chain, in order.
SELECT seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash, request
  FROM settlement_chain ORDER BY seq
