-- The migrations applied so far: version and checksum (of the SQL that was run).
SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version
