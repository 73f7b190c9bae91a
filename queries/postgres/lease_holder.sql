-- Who holds the sender's lease, and for how many seconds more.
SELECT holder, extract(epoch FROM until - clock_timestamp())::float8 FROM sender_lease
