-- The status leaves the index of a row's video (0004 put it there): with it, every claim
-- and every answer moved each row's entry, and where the video numbers are queued in no
-- order (as they are, unless a producer sorts them) those entries lie on as many pages as
-- there are rows: a claim and an answer of 100 rows each wrote about 100 pages more, and
-- the local settle rate fell by half (BENCHMARKS.md). The lookup made at every row a claim
-- considers (is a claim sending this video?) has an index of the rows in flight only, a
-- few pages; the others (a claim's duplicates, a refused video's, a video's earlier
-- deletion) are made once per distinct video, reading its rows.
DROP INDEX deletion_queue_video;
CREATE INDEX deletion_queue_video ON deletion_queue (unique_id, video_no);
CREATE INDEX deletion_queue_busy ON deletion_queue (unique_id, video_no)
    WHERE status = 'in_flight';
