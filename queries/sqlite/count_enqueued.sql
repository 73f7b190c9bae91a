-- Listing ?1 enqueued ?2 videos more, and found ?3 more queued already.
UPDATE rule_listings SET enqueued = enqueued + ?2, already_queued = already_queued + ?3
 WHERE id = ?1
