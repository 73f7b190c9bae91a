-- Whether sqlx's table of migrations exists yet.
SELECT to_regclass('_sqlx_migrations') IS NOT NULL
