-- The legal holds' trigger runs with its owner's rights (SECURITY DEFINER) so that an
-- INSERT-only producer's rows are held. It resolved `legal_holds` through the search_path
-- captured at creation, which does not name pg_temp, and PostgreSQL then searches pg_temp
-- first: a producer's `CREATE TEMP TABLE legal_holds (...)` hid the holds from it, and a
-- held video's row was written `pending`. Now the function names its table with its
-- schema, and its search_path puts pg_temp last.
DO $migration$
BEGIN
    EXECUTE format($function$
        CREATE OR REPLACE FUNCTION %1$I.memories_reaper_held() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, %1$I, pg_temp
        AS $body$
        BEGIN
            IF NEW.status = 'pending' AND EXISTS (SELECT 1 FROM %1$I.legal_holds AS h
                  WHERE h.video_no = NEW.video_no
                    AND (h.unique_id IS NULL OR h.unique_id = NEW.unique_id)) THEN
                NEW.status := 'held';
                NEW.claimed_by := NULL;
                NEW.lease_until := NULL;
            END IF;
            RETURN NEW;
        END
        $body$
    $function$, current_schema());
END
$migration$;
