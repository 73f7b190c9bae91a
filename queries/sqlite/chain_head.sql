-- The last entry's sequence number and hash, or the anchor's.
SELECT seq, hash FROM (SELECT seq, hash FROM settlement_chain ORDER BY seq DESC LIMIT 1)
UNION ALL SELECT seq, hash FROM settlement_anchor
LIMIT 1
