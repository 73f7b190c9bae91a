//! Which migrations a database has, and the migration both drivers share: refuse a schema
//! a newer memories-reaper made, migrate (each driver runs sqlx's migrator its own way),
//! say what was applied, and anchor the chain where the proofs' migration starts it.

use std::future::Future;

use sqlx::migrate::Migrator;

use super::driver::{operation, Access, Driver, Statements};
use super::{current_schema, newer_schema, QueueError};

/// The migration from which the chain records its anchor in an entry (SQLite's 0012,
/// PostgreSQL's 0006).
const ANCHOR_RECORDED_FROM: &str = "proofs";

/// The versions of the migrations applied to the database so far.
pub async fn migrated<D: Driver>(driver: &D) -> Result<Vec<i64>, QueueError> {
    let applied = applied(driver).await?;
    Ok(applied.into_iter().map(|(version, _)| version).collect())
}

/// The migrations applied so far, with the checksum of what each ran.
async fn applied<D: Driver>(driver: &D) -> Result<Vec<(i64, Vec<u8>)>, QueueError> {
    operation!(driver, single(Access::Read), |conn| {
        match conn.migrations_exist().await? {
            true => conn.applied_migrations().await,
            false => Ok(Vec::new()),
        }
    })
}

/// For the commands that do not migrate: the schema must be `migrator`'s.
pub async fn current<D: Driver>(driver: &D, migrator: &Migrator) -> Result<(), QueueError> {
    let applied = migrated(driver).await?;
    current_schema(&applied, migrator).map_err(|problem| driver.problem(problem))
}

/// `check`'s line for a schema this binary would migrate further; `None` when current.
pub fn behind(applied: &[i64], migrator: &Migrator) -> Option<String> {
    let behind = migrator
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .count() as u64;
    (behind > 0).then(|| {
        format!(
            "schema is {} behind; `run` or `migrate` brings it up to date",
            crate::printable::count(behind, "migration", "migrations")
        )
    })
}

/// Migrates with `run` (`migrator` run as the driver runs it) unless the schema is
/// current; refuses a newer one. The migrations applied, as "0005 strict due at".
pub async fn migrate<D: Driver>(
    driver: &D,
    migrator: &Migrator,
    run: impl Future<Output = Result<(), QueueError>>,
) -> Result<Vec<String>, QueueError> {
    let applied = applied(driver).await?;
    let before: Vec<i64> = applied.iter().map(|(version, _)| *version).collect();
    newer_schema(&before, migrator).map_err(|problem| driver.problem(problem))?;
    // A migration run from another text than this binary's: the schema is not what this
    // binary's rules assume (sqlx checked this when it ran the migrator, which a current
    // schema no longer is handed to).
    let changed = migrator.iter().find(|m| {
        let sum = applied.iter().find(|(version, _)| *version == m.version);
        sum.is_some_and(|(_, sum)| sum.as_slice() != &*m.checksum)
    });
    if let Some(m) = changed {
        return Err(driver.problem(format!(
            "migration {:04} ({}) was applied from another text than this memories-reaper {} \
             holds: another build migrated this database; run the build that did, and do \
             not edit _sqlx_migrations",
            m.version,
            m.description,
            env!("CARGO_PKG_VERSION")
        )));
    }
    // A current schema is left alone: on PostgreSQL the migrator would create its own
    // table and take its lock, which a role that may only read (an auditor's) cannot.
    if migrator.iter().all(|m| before.contains(&m.version)) {
        return Ok(Vec::new());
    }
    run.await?;
    let after = migrated(driver).await?;
    let new = |version: &i64| after.contains(version) && !before.contains(version);
    if migrator
        .iter()
        .any(|m| m.description == ANCHOR_RECORDED_FROM && new(&m.version))
    {
        // Once: another process migrating at once may have anchored it first.
        operation!(driver, begin(Access::Write), |tx| {
            tx.lock_chain().await?;
            if !tx.anchored().await? {
                super::chain::record_anchor(&mut *tx).await?;
            }
            Ok(())
        })?;
    }
    Ok(migrator
        .iter()
        .filter(|m| new(&m.version))
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect())
}
