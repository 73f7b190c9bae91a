-- For pruning: settled rows by age, and batch records no row points at.
CREATE INDEX deletion_queue_settled ON deletion_queue (status, settled_at);
CREATE INDEX deletion_queue_batch ON deletion_queue (batch_id);
CREATE INDEX deletion_batches_started ON deletion_batches (started_at);
