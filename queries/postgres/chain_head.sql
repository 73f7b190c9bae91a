-- The last entry's sequence number and hash, or the anchor's.
SELECT seq, hash FROM (
    (SELECT 0 AS o, seq, hash FROM settlement_chain ORDER BY seq DESC LIMIT 1)
    UNION ALL (SELECT 1, seq, hash FROM settlement_anchor)) AS h
ORDER BY o LIMIT 1
