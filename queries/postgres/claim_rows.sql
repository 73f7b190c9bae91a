-- The oldest due pending rows of the namespace of the oldest one, at most $3, in flight
-- under the token $1 with a lease of $2 seconds. A row whose video another claim is
-- sending is left alone (it would be deleted twice); the claim lock makes that check see
-- every other claim's rows.
UPDATE deletion_queue
   SET status = 'in_flight', claimed_by = $1,
       lease_until = now() + make_interval(secs => $2), updated_at = now()
 WHERE id IN (
       SELECT q.id FROM deletion_queue AS q
        WHERE q.status = 'pending'
          AND q.due <= now() AND (q.recheck_at IS NULL OR q.recheck_at <= now())
          AND NOT EXISTS (SELECT 1 FROM deletion_queue AS busy
                           WHERE busy.unique_id = q.unique_id AND busy.video_no = q.video_no
                             AND busy.status = 'in_flight')
          AND q.unique_id = (
              SELECT p.unique_id FROM deletion_queue AS p
               WHERE p.status = 'pending'
                 AND p.due <= now() AND (p.recheck_at IS NULL OR p.recheck_at <= now())
                 AND NOT EXISTS (SELECT 1 FROM deletion_queue AS busy
                                  WHERE busy.unique_id = p.unique_id
                                    AND busy.video_no = p.video_no
                                    AND busy.status = 'in_flight')
               ORDER BY p.id LIMIT 1)
        ORDER BY q.id LIMIT $3 FOR UPDATE SKIP LOCKED)
