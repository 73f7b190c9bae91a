-- Of the videos in $1 in namespace $2 (NULL: every one): rows in flight now, and videos
-- this queue has seen deleted.
SELECT count(*) FILTER (WHERE status = 'in_flight'),
       count(DISTINCT video_no) FILTER (WHERE status = 'deleted')
  FROM deletion_queue
 WHERE video_no = ANY($1) AND ($2::text IS NULL OR unique_id = $2)
