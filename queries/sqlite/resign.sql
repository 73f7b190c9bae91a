-- Holder ?1 gives the sender's lease up: a standby takes over at once.
UPDATE sender_lease SET until = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE holder = ?1
