-- The anchor onto the last chain entry older than $1 (the chain's text time), since $1,
-- when there is one.
UPDATE settlement_anchor
   SET (seq, hash) = (SELECT seq, hash FROM settlement_chain WHERE settled_at < $1
                       ORDER BY seq DESC LIMIT 1),
       since = $1
 WHERE EXISTS (SELECT 1 FROM settlement_chain WHERE settled_at < $1)
