SELECT seq, hash, since, rows_from FROM settlement_anchor
