//! The lifecycle rules' listings on SQLite (migration 0011): see `queue::rules`.

use sqlx::Row;

use super::{QueueError, SqliteQueue, NOW};
use crate::queue::rules::{
    ListingReport, ListingState, NamespaceTally, OpenListing, RuleEnqueued, Snapshotted,
    KEPT_LISTINGS, SAMPLE,
};

/// Videos enqueued a transaction: producers wait for none long.
const ENQUEUE_CHUNK: u64 = 1000;

impl SqliteQueue {
    /// The rule's listing that goes on, if any. One made under another definition of the
    /// rule is superseded (its snapshot removed) and `None` returned.
    pub async fn open_rule_listing(
        &self,
        rule: &str,
        fingerprint: &str,
    ) -> Result<Option<OpenListing>, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let open = sqlx::query(
            "SELECT id, fingerprint, state, listed_at_ms, note FROM rule_listings
              WHERE rule = ?1 AND state IN ('listing', 'enqueuing', 'tripped')
              ORDER BY id DESC",
        )
        .bind(rule)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let mut found = None;
        for row in open {
            let id: i64 = row.try_get("id").map_err(|e| self.error(e))?;
            let same: bool = row
                .try_get::<String, _>("fingerprint")
                .is_ok_and(|f| f == fingerprint);
            let state = row
                .try_get::<String, _>("state")
                .ok()
                .and_then(|s| ListingState::parse(&s));
            match (found.is_none() && same, state) {
                (true, Some(state)) => {
                    found = Some(OpenListing {
                        id,
                        state,
                        listed_at_ms: row.try_get("listed_at_ms").map_err(|e| self.error(e))?,
                        to_read: Vec::new(),
                        note: row.try_get("note").unwrap_or(None),
                    })
                }
                _ => {
                    sqlx::query(&format!(
                        "UPDATE rule_listings SET state = 'superseded', finished_at = {NOW}
                          WHERE id = ?1"
                    ))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?;
                    sqlx::query("DELETE FROM rule_snapshot WHERE listing_id = ?1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.error(e))?;
                }
            }
        }
        if let Some(listing) = &mut found {
            let rows = sqlx::query(
                "SELECT namespace, next_page FROM rule_namespaces
                  WHERE listing_id = ?1 AND NOT done ORDER BY namespace",
            )
            .bind(listing.id)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            for row in rows {
                listing.to_read.push((
                    row.try_get("namespace").map_err(|e| self.error(e))?,
                    row.try_get("next_page").map_err(|e| self.error(e))?,
                ));
            }
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(found)
    }

    /// A new listing of `namespaces`, each from its first page.
    pub async fn start_rule_listing(
        &self,
        rule: &str,
        fingerprint: &str,
        mode: &str,
        listed_at_ms: i64,
        namespaces: &[String],
    ) -> Result<OpenListing, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rule_listings (rule, fingerprint, mode, listed_at_ms)
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .bind(rule)
        .bind(fingerprint)
        .bind(mode)
        .bind(listed_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        sqlx::query(
            "INSERT INTO rule_namespaces (listing_id, namespace)
             SELECT ?1, value FROM json_each(?2)",
        )
        .bind(id)
        .bind(serde_json::json!(namespaces).to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(OpenListing {
            id,
            state: ListingState::Listing,
            listed_at_ms,
            to_read: namespaces.iter().map(|n| (n.clone(), 1)).collect(),
            note: None,
        })
    }

    /// Keeps one page's videos and where the listing of `namespace` now stands, in one
    /// transaction: a restart resumes after the last page kept. A video listed twice
    /// (pages shift as videos come and go) is kept once. How many were new.
    pub async fn record_rule_page(
        &self,
        listing: i64,
        namespace: &str,
        page: i64,
        videos: &[Snapshotted],
        last: bool,
    ) -> Result<u64, QueueError> {
        let rows: Vec<serde_json::Value> = videos
            .iter()
            .map(|v| serde_json::json!([v.video_no, v.create_ms, v.matched]))
            .collect();
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let new = sqlx::query(
            "INSERT INTO rule_snapshot (listing_id, namespace, video_no, create_ms, matched)
             SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]')
               FROM json_each(?3) WHERE true
             ON CONFLICT DO NOTHING",
        )
        .bind(listing)
        .bind(namespace)
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        sqlx::query(
            "UPDATE rule_namespaces SET next_page = ?3 + 1, done = ?4, listed = listed + ?5
              WHERE listing_id = ?1 AND namespace = ?2",
        )
        .bind(listing)
        .bind(namespace)
        .bind(page)
        .bind(last)
        .bind(videos.len() as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(new)
    }

    /// Counts a finished listing from its snapshot, per namespace, and keeps the counts
    /// (and a sample) for `rules plan --last`.
    pub async fn tally_rule_listing(
        &self,
        listing: i64,
    ) -> Result<Vec<NamespaceTally>, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(&format!(
            "UPDATE rule_namespaces AS n SET
                    listed = (SELECT count(*) FROM rule_snapshot AS s
                               WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace),
                    matched = (SELECT count(*) FROM rule_snapshot AS s
                                WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                                  AND s.matched = 1),
                    unreadable = (SELECT count(*) FROM rule_snapshot AS s
                                   WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                                     AND s.matched = 2),
                    oldest_ms = (SELECT min(create_ms) FROM rule_snapshot AS s
                                  WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                                    AND s.matched = 1),
                    newest_ms = (SELECT max(create_ms) FROM rule_snapshot AS s
                                  WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                                    AND s.matched = 1),
                    sample = (SELECT json_group_array(video_no) FROM (
                                SELECT video_no FROM rule_snapshot AS s
                                 WHERE s.listing_id = n.listing_id AND s.namespace = n.namespace
                                   AND s.matched = 1
                                 ORDER BY create_ms, video_no LIMIT {SAMPLE}))
              WHERE listing_id = ?1"
        ))
        .bind(listing)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        sqlx::query(&format!(
            "UPDATE rule_listings SET
                    listed = (SELECT coalesce(sum(listed), 0) FROM rule_namespaces WHERE listing_id = ?1),
                    matched = (SELECT coalesce(sum(matched), 0) FROM rule_namespaces WHERE listing_id = ?1),
                    unreadable = (SELECT coalesce(sum(unreadable), 0) FROM rule_namespaces
                                   WHERE listing_id = ?1),
                    decided_at = {NOW}
              WHERE id = ?1"
        ))
        .bind(listing)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        let tallies = self.tallies(&mut tx, listing).await?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(tallies)
    }

    async fn tallies(
        &self,
        tx: &mut sqlx::SqliteConnection,
        listing: i64,
    ) -> Result<Vec<NamespaceTally>, QueueError> {
        let rows = sqlx::query(
            "SELECT namespace, listed, matched, unreadable, oldest_ms, newest_ms, sample
               FROM rule_namespaces WHERE listing_id = ?1 ORDER BY namespace",
        )
        .bind(listing)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                let sample: Option<String> = row.try_get("sample").unwrap_or(None);
                Ok(NamespaceTally {
                    namespace: row.try_get("namespace").map_err(|e| self.error(e))?,
                    listed: row.try_get("listed").map_err(|e| self.error(e))?,
                    matched: row.try_get("matched").map_err(|e| self.error(e))?,
                    unreadable: row.try_get("unreadable").map_err(|e| self.error(e))?,
                    oldest_ms: row.try_get("oldest_ms").unwrap_or(None),
                    newest_ms: row.try_get("newest_ms").unwrap_or(None),
                    sample: sample
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Moves a listing on (`note`, when given, says why). A listing done or superseded
    /// loses its snapshot; its counts stay.
    pub async fn set_rule_listing(
        &self,
        listing: i64,
        state: ListingState,
        note: Option<&str>,
    ) -> Result<(), QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        sqlx::query(&format!(
            "UPDATE rule_listings SET state = ?2, note = coalesce(?3, note),
                    finished_at = CASE WHEN ?2 IN ('done', 'superseded', 'tripped') THEN {NOW} END
              WHERE id = ?1"
        ))
        .bind(listing)
        .bind(state.as_str())
        .bind(note)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        if matches!(state, ListingState::Done | ListingState::Superseded) {
            sqlx::query("DELETE FROM rule_snapshot WHERE listing_id = ?1")
                .bind(listing)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            // The rule's history: its last KEPT_LISTINGS listings.
            for table in ["rule_namespaces", "rule_listings"] {
                let id = if table == "rule_listings" {
                    "id"
                } else {
                    "listing_id"
                };
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE {id} IN (
                        SELECT id FROM rule_listings
                         WHERE rule = (SELECT rule FROM rule_listings WHERE id = ?1)
                           AND state IN ('done', 'superseded')
                         ORDER BY id DESC LIMIT -1 OFFSET {KEPT_LISTINGS})"
                ))
                .bind(listing)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            }
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Enqueues up to `limit` of the listing's matched videos, oldest first, as `source`.
    /// Each video is marked enqueued in the transaction that inserts its row, so a restart
    /// never enqueues one twice; a video the queue has any row of in that namespace (queued
    /// by a producer, or deleted already) is marked and not inserted.
    pub async fn enqueue_rule_listing(
        &self,
        listing: i64,
        source: &str,
        limit: u64,
    ) -> Result<RuleEnqueued, QueueError> {
        let mut done = RuleEnqueued::default();
        let mut budget = limit;
        while budget > 0 {
            let _turn = self.write_turn().await;
            let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
            let todo: Vec<(String, String)> = sqlx::query_as(
                "SELECT namespace, video_no FROM rule_snapshot INDEXED BY rule_snapshot_todo
                  WHERE listing_id = ?1 AND matched = 1 AND enqueued = 0
                  ORDER BY create_ms, namespace, video_no LIMIT ?2",
            )
            .bind(listing)
            .bind(budget.min(ENQUEUE_CHUNK) as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            if todo.is_empty() {
                break;
            }
            let list = serde_json::json!(todo).to_string();
            let inserted = sqlx::query(
                "INSERT INTO deletion_queue (video_no, unique_id, source)
                 SELECT json_extract(j.value, '$[1]'), json_extract(j.value, '$[0]'), ?2
                   FROM json_each(?1) AS j
                  WHERE NOT EXISTS (
                        SELECT 1 FROM deletion_queue AS d INDEXED BY deletion_queue_video
                         WHERE d.unique_id = json_extract(j.value, '$[0]')
                           AND d.video_no = json_extract(j.value, '$[1]'))",
            )
            .bind(&list)
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?
            .rows_affected();
            sqlx::query(
                "UPDATE rule_snapshot SET enqueued = 1
                  WHERE listing_id = ?1 AND (namespace, video_no) IN
                        (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                           FROM json_each(?2))",
            )
            .bind(listing)
            .bind(&list)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            let already = todo.len() as u64 - inserted;
            sqlx::query(
                "UPDATE rule_listings SET enqueued = enqueued + ?2,
                        already_queued = already_queued + ?3 WHERE id = ?1",
            )
            .bind(listing)
            .bind(inserted as i64)
            .bind(already as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            tx.commit().await.map_err(|e| self.error(e))?;
            done.inserted += inserted;
            done.already_queued += already;
            budget -= todo.len() as u64;
        }
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM rule_snapshot INDEXED BY rule_snapshot_todo
              WHERE listing_id = ?1 AND matched = 1 AND enqueued = 0",
        )
        .bind(listing)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        done.left = left.unsigned_abs();
        Ok(done)
    }

    /// `rules confirm`: the rule's tripped listing, made under `fingerprint`, goes on to
    /// be enqueued. Its id, or `None` when the rule has no such listing.
    pub async fn confirm_rule_listing(
        &self,
        rule: &str,
        fingerprint: &str,
    ) -> Result<Option<i64>, QueueError> {
        let _turn = self.write_turn().await;
        let id: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE rule_listings SET state = 'enqueuing', confirmed_at = {NOW}, finished_at = NULL
              WHERE id = (SELECT max(id) FROM rule_listings
                           WHERE rule = ?1 AND fingerprint = ?2 AND state = 'tripped')
              RETURNING id"
        ))
        .bind(rule)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        Ok(id)
    }

    /// Sets aside the listings that go on of rules no longer configured (`keep` are the
    /// configured names), and their snapshots; how many.
    pub async fn retire_rules(&self, keep: &[String]) -> Result<u64, QueueError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let retired = sqlx::query(&format!(
            "UPDATE rule_listings SET state = 'superseded', finished_at = {NOW},
                    note = 'the rule is no longer configured'
              WHERE state IN ('listing', 'enqueuing', 'tripped')
                AND rule NOT IN (SELECT value FROM json_each(?1))"
        ))
        .bind(serde_json::json!(keep).to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?
        .rows_affected();
        sqlx::query(
            "DELETE FROM rule_snapshot WHERE listing_id IN
                    (SELECT id FROM rule_listings WHERE state IN ('done', 'superseded'))",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(retired)
    }

    /// Each rule's latest listing (or only `rule`'s).
    pub async fn rule_reports(&self, rule: Option<&str>) -> Result<Vec<ListingReport>, QueueError> {
        let rows = sqlx::query(
            "SELECT id, rule, mode, state, started_at, finished_at, confirmed_at IS NOT NULL AS confirmed,
                    listed, matched, unreadable, enqueued, already_queued, note,
                    (SELECT max(n.id) FROM rule_listings AS n
                      WHERE n.rule = rule_listings.rule AND n.state = 'listing'
                        AND n.id > rule_listings.id) AS listing_now
               FROM rule_listings
              WHERE id IN (SELECT coalesce(max(id) FILTER (WHERE decided_at IS NOT NULL), max(id))
                             FROM rule_listings GROUP BY rule)
                AND (?1 IS NULL OR rule = ?1)
              ORDER BY rule",
        )
        .bind(rule)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error(e))?;
        let mut reports = Vec::with_capacity(rows.len());
        let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        for row in rows {
            let id: i64 = row.try_get("id").map_err(|e| self.error(e))?;
            let text = |name: &str| -> String { row.try_get(name).unwrap_or_default() };
            let count = |name: &str| -> i64 { row.try_get(name).unwrap_or_default() };
            reports.push(ListingReport {
                id,
                rule: text("rule"),
                mode: text("mode"),
                state: text("state"),
                started_at: text("started_at"),
                finished_at: row.try_get("finished_at").unwrap_or(None),
                confirmed: row.try_get("confirmed").unwrap_or(false),
                listed: count("listed"),
                matched: count("matched"),
                unreadable: count("unreadable"),
                enqueued: count("enqueued"),
                already_queued: count("already_queued"),
                note: row.try_get("note").unwrap_or(None),
                listing_now: row.try_get("listing_now").unwrap_or(None),
                namespaces: self.tallies(&mut conn, id).await?,
            });
        }
        Ok(reports)
    }
}
