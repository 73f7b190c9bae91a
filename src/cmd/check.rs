//! `check`: validates what `run` would use, without changing anything: the configuration
//! (already loaded by then), the database, the key's source (never the key), the schedule.
//! Prints what each is on stdout, one line per problem on stderr; exit 1 if any. What is
//! allowed but probably wrong is a warning on stderr, which leaves the exit status alone.

use std::path::Path;

use chrono::Utc;

use crate::config::Config;
use crate::credentials;
use crate::printable;
use crate::queue::Queue;
use crate::schedule;

/// `next`: also print that many wake times of the cron rule.
pub async fn check(config: &Config, next: Option<usize>) -> u8 {
    let mut problems = Vec::new();
    match config.source.path() {
        Some(_) => say!("config: {} is valid", config.source),
        None => say!("config: {}", config.source),
    }
    say!("  {}", config.summary());
    for warning in config.warnings() {
        complain!("memories-reaper: warning: {warning}");
    }

    match config.database() {
        Ok(database) => match Queue::inspect(&database, config.database.busy_timeout).await {
            Ok(state) => say!("database: {}: {state}", database.shown()),
            Err(e) => problems.push(e.to_string()),
        },
        Err(e) => problems.push(e.to_string()),
    }

    // `--next` asks when passes run, which needs no key: a missing one is said, not failed.
    let mut said_only = Vec::new();
    let key_problems = if next.is_some() {
        &mut said_only
    } else {
        &mut problems
    };
    match credentials::load(config.api.api_key_file.as_deref()) {
        Ok((_, source)) => {
            say!("api key: found in {source}");
            if let Some(warning) = credentials::exposure_warning(&source) {
                key_problems.push(warning);
            }
        }
        // Outside the unit there is no $CREDENTIALS_DIRECTORY: say how to look where the
        // service will (the installed unit's LoadCredential= reads this file).
        Err(credentials::KeyError::Missing)
            if std::env::var_os("CREDENTIALS_DIRECTORY").is_none()
                && Path::new(credentials::INSTALLED_KEY).exists() =>
        {
            key_problems.push(format!(
                "{}; the service reads {} through LoadCredential=: to check as it will, run \
                 CREDENTIALS_DIRECTORY={} memories-reaper … check",
                credentials::KeyError::Missing,
                credentials::INSTALLED_KEY,
                Path::new(credentials::INSTALLED_KEY)
                    .parent()
                    .map_or(String::new(), printable::path)
            ))
        }
        Err(e) => key_problems.push(e.to_string()),
    }
    if next.is_some() {
        for problem in key_problems.drain(..) {
            complain!("memories-reaper: warning: {problem} (`run` would need it)");
        }
    }

    // `Config::load` refused a rule that never fires again.
    let schedule = &config.schedule;
    let next_of = |cron: &schedule::CronRule| {
        cron.next_after(Utc::now(), schedule.timezone.zone())
            .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
    };
    say!(
        "schedule: {:?} in {}, next wake {}",
        schedule.cron.as_written(),
        schedule.timezone.zone(),
        next_of(&schedule.cron)
    );
    if let Some(n) = next {
        let zone = schedule.timezone.zone();
        for time in schedule::next_times(&schedule.cron, Utc::now(), zone, n) {
            say!("  {}", time.format("%a %Y-%m-%d %H:%M:%S %:z"));
        }
    }

    for rule in &config.rule {
        let cron = rule.schedule.as_ref().unwrap_or(&schedule.cron);
        say!(
            "rule {}: mode = {:?}, {}; runs on {:?}, next {}",
            rule.name,
            rule.mode.as_str(),
            rule.describe(),
            cron.as_written(),
            next_of(cron)
        );
    }

    for problem in &problems {
        complain!("memories-reaper: problem: {problem}");
    }
    u8::from(!problems.is_empty())
}
