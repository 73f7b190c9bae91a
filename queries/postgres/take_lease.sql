-- The sender's lease for holder $1, $2 seconds from now on the server's clock, unless
-- another holder's runs: one run out, or more than $3 seconds ahead, is taken over.
INSERT INTO sender_lease (id, holder, until)
VALUES (1, $1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until = excluded.until
 WHERE sender_lease.holder = excluded.holder
    OR sender_lease.until < clock_timestamp()
    OR sender_lease.until > clock_timestamp() + make_interval(secs => $3)
