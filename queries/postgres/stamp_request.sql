-- Request $1 starts now, on the server's clock: other daemons count it from here.
UPDATE deletion_batches SET started_at = clock_timestamp() WHERE id = $1
