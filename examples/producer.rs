//! A producer in Rust: queue video numbers for deletion, as an application would.
//!
//! ```sh
//! cargo run --example producer -- QUEUE_DB VIDEO_NO...
//! ```
//!
//! The database must exist (start the daemon or run `memories-reaper migrate` first). The
//! busy timeout lets the insert wait its turn while the daemon writes; one short
//! transaction holds every row, so either all are queued or none.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(database) = args.next() else {
        eprintln!("usage: producer QUEUE_DB VIDEO_NO...");
        std::process::exit(2);
    };
    let video_nos: Vec<String> = args.collect();
    // SQLite's own words for a missing file are "unable to open database file".
    if !std::path::Path::new(&database).is_file() {
        eprintln!(
            "producer: {database}: no such queue file; give the path of the daemon's queue \
             (its config's database.path), or run `memories-reaper migrate` to create it"
        );
        std::process::exit(1);
    }
    match queue(&database, &video_nos).await {
        Ok(()) => println!("queued {}", video_nos.len()),
        Err(e) => {
            eprintln!("producer: {database}: {e}");
            std::process::exit(1);
        }
    }
}

async fn queue(database: &str, video_nos: &[String]) -> Result<(), sqlx::Error> {
    let mut db = SqliteConnectOptions::new()
        .filename(database)
        // Never create a second, empty queue by mistake.
        .create_if_missing(false)
        // Wait up to 5 s for the daemon's write to finish, as the README asks.
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let mut tx = db.begin().await?;
    for video_no in video_nos {
        sqlx::query("INSERT INTO deletion_queue (video_no) VALUES (?1)")
            .bind(video_no)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    db.close().await
}
