-- A due_at without a zone is UTC, as on SQLite, whatever the inserting session's zone.
-- A producer whose session is in another zone and writes a local time without its zone
-- (a `timestamp` value turned into text, `localtimestamp + interval '6 hours'`) meant that
-- zone, and read as UTC the row could be due hours early. Such a row is refused, with the
-- fix; a zone written out, or a session in UTC, is accepted as before.
CREATE FUNCTION memories_reaper_zoneless_in_utc() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- The session's zone is UTC when its offset is 0 in winter and in summer.
    IF NEW.due_at !~ '(Z|[+-]\d{2}(:?\d{2})?)$'
       AND (extract(timezone FROM '2000-01-15 12:00'::timestamptz) <> 0
            OR extract(timezone FROM '2000-07-15 12:00'::timestamptz) <> 0) THEN
        RAISE EXCEPTION 'due_at % has no zone, and this session''s TimeZone is %, not UTC: '
                        'memories-reaper would read it as UTC. Write the zone (e.g. % or a '
                        'timestamptz value), or SET TimeZone = ''UTC''',
            NEW.due_at, current_setting('TimeZone'), NEW.due_at || '+00:00'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER deletion_queue_zoneless_in_utc
    BEFORE INSERT OR UPDATE OF due_at ON deletion_queue
    FOR EACH ROW EXECUTE FUNCTION memories_reaper_zoneless_in_utc();

-- The default names its zone, so that a producer leaving due_at out is never refused.
ALTER TABLE deletion_queue ALTER COLUMN due_at
    SET DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS"Z"');
