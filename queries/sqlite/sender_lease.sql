-- Who holds the sender's lease, and for how many seconds more.
SELECT holder, coalesce((julianday(until) - julianday('now')) * 86400.0, 0) AS s
  FROM sender_lease
