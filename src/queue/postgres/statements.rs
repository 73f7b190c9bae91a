//! The PostgreSQL driver's side of the statements (`queue::statements`): lists bound as
//! arrays for `ANY`, times as `timestamptz`, and the locks several daemons need (rows of
//! `queue_locks`, and a repeatable-read snapshot for verification). The schema types every
//! column, so a cell is what its type says.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::chain::chain_time;
use crate::queue::rows::Cell;
use crate::queue::statements::statements;
use crate::video::VideoNo;
use sqlx::PgConnection;

type Row = sqlx::postgres::PgRow;

statements!(impl PgConnection, sqlx::PgPool);

fn list(videos: &[VideoNo]) -> Vec<&str> {
    videos.iter().map(VideoNo::as_str).collect()
}

fn ids(rows: &[i64]) -> &[i64] {
    rows
}

fn texts<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    values.iter().map(|v| v.as_ref().to_owned()).collect()
}

fn time(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

/// The anchor's `since` as a time (the chain writes it as text); `None` when it is not one
/// (the verifier says so).
fn since_value(since: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(since, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A whole number, of either width the schema uses.
fn int(row: &Row, column: &str) -> Option<i64> {
    match row.try_get::<Option<i64>, _>(column) {
        Ok(n) => n,
        Err(_) => row
            .try_get::<Option<i32>, _>(column)
            .ok()
            .flatten()
            .map(i64::from),
    }
}

/// Text as shown (every value here is text of its column's type).
fn shown(row: &Row, column: &str, _unreadable: &str) -> Option<String> {
    text(row, column)
}

fn at(row: &Row, column: &str) -> Option<DateTime<Utc>> {
    row.try_get(column).ok().flatten()
}

/// A whole number, else text, else NULL.
fn cell(row: &Row, column: &str) -> Cell {
    if let Some(n) = int(row, column) {
        return Cell::Integer(n);
    }
    match row.try_get::<Option<String>, _>(column) {
        Ok(text) => text.map_or(Cell::Null, Cell::Text),
        Err(_) => Cell::Null,
    }
}

/// Taken last in each transaction, after its row updates, so that no transaction holding
/// it waits for a row: entries are in commit order, and no deadlock.
async fn lock_chain(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(sql!("lock_chain"))
        .execute(conn)
        .await
        .map(drop)
}

async fn lock_listing(conn: &mut PgConnection, listing: i64) -> Result<(), sqlx::Error> {
    sqlx::query(sql!("lock_listing"))
        .bind(listing)
        .execute(conn)
        .await
        .map(drop)
}

async fn snapshot(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(conn)
        .await
        .map(drop)
}
