INSERT INTO settlement_chain
       (seq, settled_at, kind, batch_id, namespace, rows, code, msg, prev, hash, request)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
