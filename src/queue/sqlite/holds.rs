//! Legal holds on SQLite: placing one sets the video's pending rows `held`; releasing the
//! last one covering a row puts it back to `pending`. (Rows in flight are caught by the
//! claim's own check before their request is recorded.)

use sqlx::Row;

use super::{json_list, QueueError, SqliteQueue, NOW};
use crate::queue::{Hold, HoldsChanged, HELD_VIDEO};
use crate::video::{Namespace, VideoNo};

impl SqliteQueue {
    pub async fn place_holds(
        &self,
        namespace: Option<&Namespace>,
        video_nos: &[VideoNo],
        reason: &str,
    ) -> Result<HoldsChanged, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let holds = sqlx::query(
            "INSERT INTO legal_holds (video_no, unique_id, reason)
             SELECT DISTINCT value, ?2, ?3 FROM json_each(?1) WHERE true
             ON CONFLICT DO NOTHING",
        )
        .bind(json_list(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        let rows = sqlx::query(&format!(
            "UPDATE deletion_queue SET status = 'held', updated_at = {NOW}
              WHERE status = 'pending' AND video_no IN (SELECT value FROM json_each(?1))
                AND (?2 IS NULL OR unique_id = ?2)"
        ))
        .bind(json_list(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        let (in_flight, deleted): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'in_flight'),
                    count(DISTINCT video_no) FILTER (WHERE status = 'deleted')
               FROM deletion_queue INDEXED BY deletion_queue_video_no
              WHERE video_no IN (SELECT value FROM json_each(?1))
                AND (?2 IS NULL OR unique_id = ?2)",
        )
        .bind(json_list(video_nos))
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
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let holds = sqlx::query(
            "DELETE FROM legal_holds
              WHERE video_no IN (SELECT value FROM json_each(?1)) AND unique_id IS ?2",
        )
        .bind(json_list(video_nos))
        .bind(namespace.map(Namespace::as_str))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        let rows = sqlx::query(&format!(
            "UPDATE deletion_queue AS q SET status = 'pending', updated_at = {NOW}
              WHERE q.status = 'held' AND q.video_no IN (SELECT value FROM json_each(?1))
                AND NOT {HELD_VIDEO}"
        ))
        .bind(json_list(video_nos))
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
            "SELECT h.video_no, h.unique_id, h.reason, substr(h.placed_at, 1, 19) AS placed_at,
                    (SELECT count(*) FROM deletion_queue AS q INDEXED BY deletion_queue_video_no
                      WHERE q.video_no = h.video_no AND q.status = 'held'
                        AND (h.unique_id IS NULL OR q.unique_id = h.unique_id)) AS rows_held
               FROM legal_holds AS h ORDER BY h.id DESC LIMIT coalesce(?1, -1)",
        )
        .bind(newest)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .rev()
            // The schema's CHECKs make these text, but a writer can switch CHECKs off:
            // what is stored is read as input, never decoded with a panic.
            .map(|r| {
                let text = |column: &str| {
                    r.try_get::<String, _>(column)
                        .unwrap_or_else(|_| "(not text)".to_owned())
                };
                Hold {
                    video_no: text("video_no"),
                    namespace: r
                        .try_get::<Option<String>, _>("unique_id")
                        .unwrap_or_else(|_| Some("(not text)".to_owned())),
                    reason: text("reason"),
                    placed_at: text("placed_at"),
                    rows_held: r.try_get("rows_held").unwrap_or(0),
                }
            })
            .collect())
    }
}
