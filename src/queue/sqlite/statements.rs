//! The SQLite driver's side of the statements (`queue::statements`): lists bound as JSON
//! text for `json_each`, times as SQLite's text, and cells read whatever their type: a
//! producer writes any SQLite type into any column, and what is not what the daemon writes
//! reads as `None` (or "not valid"), never a panic.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::chain::chain_time;
use crate::queue::rows::Cell;
use crate::queue::statements::statements;
use crate::video::VideoNo;
use sqlx::SqliteConnection;

type Row = sqlx::sqlite::SqliteRow;

statements!(impl SqliteConnection, sqlx::SqlitePool);

fn list(videos: &[VideoNo]) -> String {
    serde_json::Value::from(videos.iter().map(VideoNo::as_str).collect::<Vec<_>>()).to_string()
}

fn ids(rows: &[i64]) -> String {
    serde_json::Value::from(rows.to_vec()).to_string()
}

fn texts<S: AsRef<str>>(values: &[S]) -> String {
    serde_json::Value::from(values.iter().map(AsRef::as_ref).collect::<Vec<_>>()).to_string()
}

/// A time as the tables write it.
fn time(t: DateTime<Utc>) -> String {
    chain_time(t)
}

/// The anchor's `since`, compared as SQLite reads times (text it cannot read is NULL).
fn since_value(since: &str) -> String {
    since.to_owned()
}

// Each reader asks for an `Option`: SQLite decodes NULL as 0 or "" otherwise (as
// `float`, `flag` and `text`, the same on both drivers, in `queue::statements`).

fn int(row: &Row, column: &str) -> Option<i64> {
    row.try_get(column).ok().flatten()
}

/// Text as shown: `None` for NULL, `unreadable` for a value that is not text.
fn shown(row: &Row, column: &str, unreadable: &str) -> Option<String> {
    match row.try_get::<Option<String>, _>(column) {
        Ok(value) => value,
        Err(_) => Some(unreadable.to_owned()),
    }
}

/// A time as the daemon writes them, read back.
fn at(row: &Row, column: &str) -> Option<DateTime<Utc>> {
    let text: String = row.try_get::<Option<String>, _>(column).ok()??;
    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// How many bytes of a BLOB are shown.
const BLOB_SHOWN: usize = 32;

/// A value as stored, whatever its SQLite type (a producer can write TEXT into `attempts`
/// or a BLOB into `last_error`): never decoded with a panic.
fn cell(row: &Row, column: &str) -> Cell {
    use sqlx::{TypeInfo, ValueRef};
    // The type of the value stored, not the column's declared type.
    let kind = match row.try_get_raw(column) {
        Ok(raw) if raw.is_null() => return Cell::Null,
        Ok(raw) => raw.type_info().name().to_owned(),
        Err(_) => return Cell::Text("(unreadable)".into()),
    };
    let read = match kind.as_str() {
        "INTEGER" => row.try_get::<i64, _>(column).map(Cell::Integer),
        "REAL" => row.try_get::<f64, _>(column).map(Cell::Real),
        // Text that is not valid UTF-8 is shown with replacement characters.
        "TEXT" => row
            .try_get::<Vec<u8>, _>(column)
            .map(|bytes| Cell::Text(String::from_utf8_lossy(&bytes).into_owned())),
        _ => row.try_get::<Vec<u8>, _>(column).map(|bytes| {
            let hex: String = bytes
                .iter()
                .take(BLOB_SHOWN)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if bytes.len() > BLOB_SHOWN { "…" } else { "" };
            Cell::Text(format!("x'{hex}'{more}"))
        }),
    };
    read.unwrap_or_else(|_| Cell::Text("(unreadable)".into()))
}

/// Nothing to take: every transaction that appends has written already, so it holds
/// SQLite's one write lock, and the head it reads is the true last one.
async fn lock_chain(_: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    Ok(())
}

/// Nothing to take: this process's writers take turns, and the insert's own check skips
/// a video another process queued meanwhile.
async fn lock_listing(_: &mut SqliteConnection, _: i64) -> Result<(), sqlx::Error> {
    Ok(())
}

/// Nothing to set: a read transaction sees one snapshot (WAL) from its first read.
async fn snapshot(_: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    Ok(())
}
