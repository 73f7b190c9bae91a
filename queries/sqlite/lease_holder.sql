-- Who holds the sender's lease, and for how many seconds more.
SELECT holder, (julianday(until) - julianday('now')) * 86400.0 FROM sender_lease
