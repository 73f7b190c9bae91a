//! Legal holds on PostgreSQL, as `sqlite::holds`: placing one sets the video's pending
//! rows `held`; releasing the last one covering a row puts it back to `pending`.

use sqlx::Row;

use super::{texts, PostgresQueue, QueueError};
use crate::queue::{Hold, HoldsChanged, HELD_VIDEO};
use crate::video::{Namespace, VideoNo};

impl PostgresQueue {
    pub async fn place_holds(
        &self,
        namespace: Option<&Namespace>,
        video_nos: &[VideoNo],
        reason: &str,
    ) -> Result<HoldsChanged, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let holds = sqlx::query(
            "INSERT INTO legal_holds (video_no, unique_id, reason)
             SELECT DISTINCT v, $2::text, $3 FROM unnest($1::text[]) AS v
             ON CONFLICT DO NOTHING",
        )
        .bind(texts(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        let rows = sqlx::query(
            "UPDATE deletion_queue SET status = 'held', updated_at = now()
              WHERE status = 'pending' AND video_no = ANY($1)
                AND ($2::text IS NULL OR unique_id = $2)",
        )
        .bind(texts(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        let (in_flight, deleted): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'in_flight'),
                    count(DISTINCT video_no) FILTER (WHERE status = 'deleted')
               FROM deletion_queue
              WHERE video_no = ANY($1) AND ($2::text IS NULL OR unique_id = $2)",
        )
        .bind(texts(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(HoldsChanged {
            holds,
            rows,
            in_flight: in_flight.unsigned_abs(),
            deleted: deleted.unsigned_abs(),
        })
    }

    pub async fn release_holds(
        &self,
        namespace: Option<&Namespace>,
        video_nos: &[VideoNo],
    ) -> Result<HoldsChanged, QueueError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let holds = sqlx::query(
            "DELETE FROM legal_holds
              WHERE video_no = ANY($1) AND unique_id IS NOT DISTINCT FROM $2::text",
        )
        .bind(texts(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        let rows = sqlx::query(&format!(
            "UPDATE deletion_queue AS q SET status = 'pending', updated_at = now()
              WHERE q.status = 'held' AND q.video_no = ANY($1) AND NOT {HELD_VIDEO}"
        ))
        .bind(texts(video_nos))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(HoldsChanged {
            holds,
            rows,
            ..HoldsChanged::default()
        })
    }

    pub async fn holds(&self, newest: Option<i64>) -> Result<Vec<Hold>, QueueError> {
        let rows = sqlx::query(
            "SELECT h.video_no, h.unique_id, h.reason,
                    to_char(h.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS placed_at,
                    (SELECT count(*) FROM deletion_queue AS q
                      WHERE q.video_no = h.video_no AND q.status = 'held'
                        AND (h.unique_id IS NULL OR q.unique_id = h.unique_id)) AS rows_held
               FROM legal_holds AS h ORDER BY h.id DESC LIMIT $1",
        )
        .bind(newest)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .rev()
            .map(|r| Hold {
                video_no: r.get("video_no"),
                namespace: r.get("unique_id"),
                reason: r.get("reason"),
                placed_at: r.get("placed_at"),
                rows_held: r.get("rows_held"),
            })
            .collect())
    }
}
