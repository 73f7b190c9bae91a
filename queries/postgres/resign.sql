-- Holder $1 gives the sender's lease up: a standby takes over at once.
UPDATE sender_lease SET until = clock_timestamp() WHERE holder = $1
