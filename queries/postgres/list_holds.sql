-- The newest $1 holds (NULL: all), newest first, with the held rows each covers.
SELECT h.video_no, h.unique_id, h.reason,
       to_char(h.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS placed_at,
       (SELECT count(*) FROM deletion_queue AS q
         WHERE q.video_no = h.video_no AND q.status = 'held'
           AND (h.unique_id IS NULL OR q.unique_id = h.unique_id)) AS rows_held
  FROM legal_holds AS h ORDER BY h.id DESC LIMIT $1
