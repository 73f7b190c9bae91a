-- The claim looks for the oldest due pending row. The index on (status, unique_id, id)
-- cannot give that order across namespaces, so SQLite sorted every pending row on each
-- claim: a claim cost grew with the queue. This partial index holds only pending rows,
-- in id order; the claim walks it (INDEXED BY) and stops at the first due one.
CREATE INDEX deletion_queue_pending_order ON deletion_queue (id) WHERE status = 'pending';
