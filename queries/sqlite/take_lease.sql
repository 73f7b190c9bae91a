-- The sender's lease for holder ?1, ?2 seconds from now, unless another holder's runs: one
-- run out, or that memories-reaper could not have granted (unreadable, or more than ?3
-- seconds ahead), is taken over.
INSERT INTO sender_lease (id, holder, until)
VALUES (1, ?1, strftime('%Y-%m-%d %H:%M:%f', julianday('now') + ?2 / 86400.0))
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until = excluded.until
 WHERE sender_lease.holder = excluded.holder
    OR coalesce(julianday(sender_lease.until) < julianday('now'), 1)
    OR julianday(sender_lease.until) > julianday('now') + ?3 / 86400.0
