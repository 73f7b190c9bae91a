//! The commands other than `run`, one module each (`check`, `enqueue`, `locate`, `status`,
//! `receipts`, `hold`, `upkeep`: migrate, retry-failed, prune), each a function of the
//! configuration and its arguments that prints its result on stdout and returns the exit
//! code. Errors go back to `main`, which prints them as one line. Here: what they share
//! (opening the database, a file of ids, the arguments' parsers), and `manpage`.

pub mod check;
mod enqueue;
mod hold;
mod locate;
pub mod receipts;
pub mod status;
mod upkeep;

pub use enqueue::enqueue_ids;
pub use hold::{change_holds, hold_list, HoldChange};
pub use locate::locate;
pub use receipts::{receipts, verify_chain, Selected};
pub use status::show_status;
pub use upkeep::{migrate, prune, retry_failed};

use std::io::BufRead;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::config::{parse_duration_at_most, Config, Database, LONGEST_AGO, SHORTEST_KEEP};
use crate::credentials::URL_IN_CONFIG;
use crate::queue::Queue;

/// Exit codes beyond 0 and 1.
pub const EXIT_PENDING: u8 = 3;

/// Opens the database, creating it if need be: for `run` and `migrate`.
pub async fn open(config: &Config) -> anyhow::Result<Queue> {
    opened(config, false).await
}

/// Opens a database that must exist already: `status`, `enqueue`, `retry-failed`,
/// `prune`, `receipts`, `hold` and `rules` never create one.
pub(crate) async fn open_existing(config: &Config) -> anyhow::Result<Queue> {
    opened(config, true).await
}

/// An error names the configuration, and a server's URL where it came from when that is
/// not the configuration file ($MEMORIES_REAPER_DATABASE_URL, a credential, a file).
async fn opened(config: &Config, existing: bool) -> anyhow::Result<Queue> {
    let database = config.database().map_err(|e| config.naming(e))?;
    let busy = config.database.busy_timeout;
    let queue = match existing {
        true => Queue::open_existing(&database, busy).await,
        false => Queue::open(&database, busy).await,
    };
    queue.map_err(|e| match &database {
        Database::Server(url) if url.source != URL_IN_CONFIG => {
            config.naming(format!("{e} (the URL from {})", url.source))
        }
        _ => config.naming(e),
    })
}

/// The file of ids a command was given: a path, or `-` for stdin (pipes are welcome).
pub(crate) fn open_ids_file(
    file: Option<&str>,
) -> anyhow::Result<Option<(String, Box<dyn BufRead + Send>)>> {
    Ok(match file {
        None => None,
        Some("-") => Some((
            "stdin".into(),
            Box::new(std::io::BufReader::new(std::io::stdin())),
        )),
        Some(path) => {
            let f = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", crate::printable::escaped(path)))?;
            Some((path.to_owned(), Box::new(std::io::BufReader::new(f))))
        }
    })
}

/// A duration back from now, at most [`LONGEST_AGO`].
pub(crate) fn parse_age(raw: &str) -> Result<std::time::Duration, String> {
    parse_duration_at_most(raw, LONGEST_AGO)
}

/// `prune --older-than`: 1h ([`SHORTEST_KEEP`], as for `retention.keep`) to a century.
pub fn parse_older_than(raw: &str) -> Result<std::time::Duration, String> {
    let age = parse_age(raw)?;
    if age < SHORTEST_KEEP {
        return Err(format!(
            "{} is less than an hour: records younger than that are kept, they are what \
             shows a deletion happened (and a request may still be in flight)",
            crate::printable::quoted(raw, 40)
        ));
    }
    Ok(age)
}

/// `--since`: a duration back from now (`24h`, `7d`; at most [`LONGEST_AGO`]), or a UTC
/// date or time (`2026-11-01`, `2026-11-01 12:00:00`).
pub fn parse_since(raw: &str) -> Result<DateTime<Utc>, String> {
    if humantime::parse_duration(raw).is_ok() {
        return Ok(Utc::now() - parse_age(raw)?);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "{raw:?} is neither a duration (\"24h\", \"7d\") nor a UTC date (\"2026-11-01\", \"2026-11-01 12:00:00\")"
    ))
}

/// `manpage --dir DIR`: the manual pages of `command` and each of its subcommands.
pub fn manpages(command: clap::Command, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(command, dir))
        .with_context(|| {
            format!(
                "cannot write the manual pages into {}",
                crate::printable::path(dir)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_dates() {
        let day_ago = parse_since("1day").unwrap();
        let diff = Utc::now() - day_ago;
        assert!((diff.num_seconds() - 86_400).abs() < 5);
        assert_eq!(
            parse_since("2026-11-01").unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-01 12:30:00").unwrap().to_rfc3339(),
            "2026-11-01T12:30:00+00:00"
        );
        assert!(parse_since("last tuesday").unwrap_err().contains("neither"));
        let err = parse_since("99999999999999d").unwrap_err();
        assert!(err.contains("longer than the limit of 100years"), "{err}");
        assert!(parse_age("101y").unwrap_err().contains("limit"));
        assert!(parse_older_than("59m")
            .unwrap_err()
            .contains("less than an hour"));
        assert_eq!(parse_older_than("1h").unwrap(), SHORTEST_KEEP);
        assert_eq!(
            parse_age("100y").unwrap(),
            LONGEST_AGO,
            "the limit itself is allowed"
        );
    }
}
