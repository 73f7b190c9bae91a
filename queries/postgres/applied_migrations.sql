-- The versions of the migrations applied so far.
SELECT version FROM _sqlx_migrations WHERE success ORDER BY version
