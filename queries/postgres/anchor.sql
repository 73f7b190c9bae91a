-- Where the chain starts: the last entry pruned (seq, hash), since when, and the first
-- request and row every settlement of which must have an entry.
SELECT seq, hash, since, requests_from, rows_from FROM settlement_anchor
