//! Finding the API key and the database's URL, and keeping them secret.
//!
//! The key is looked up at every pass, not once at start, so a rotated key is picked up
//! without a restart. Sources, first match wins: `MEMORIES_API_KEY`, the file named by
//! `api.api_key_file`, then systemd's `$CREDENTIALS_DIRECTORY/api_key`. The key lives in a
//! [`SecretString`], whose `Debug` prints nothing of it, and no error here quotes it.
//!
//! A PostgreSQL URL may hold a password: [`database_url`] finds it (first match wins:
//! `MEMORIES_REAPER_DATABASE_URL`, the file named by `database.url_file`, `database.url`,
//! then systemd's `$CREDENTIALS_DIRECTORY/database_url`) and keeps it in a [`DatabaseUrl`],
//! which shows only the server, user and database.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

use crate::files::{read_regular, FileError};
use crate::printable;

pub const ENV_VAR: &str = "MEMORIES_API_KEY";

/// Where the installed unit's `LoadCredential=api_key:…` reads the key from.
pub const INSTALLED_KEY: &str = "/etc/memories-reaper/api_key";

/// The largest key file read: a key is a few dozen characters.
const KEY_CAP: u64 = 64 * 1024;

pub struct ApiKey(SecretString);

impl ApiKey {
    /// The key, for the one place that needs it: the request header.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

/// Where the key was found; safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env => write!(f, "${ENV_VAR}"),
            Self::File(path) => f.write_str(&printable::path(path)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no API key: set {ENV_VAR}, or api.api_key_file in the config, or run under systemd \
         with LoadCredential=api_key:…"
    )]
    Missing,
    #[error("cannot read the API key from {}: {source}", printable::path(path))]
    Unreadable { path: PathBuf, source: FileError },
    #[error("the API key from {0} is empty")]
    Empty(KeySource),
    #[error(
        "the API key from {0} contains characters that cannot go in an HTTP header \
         (only visible ASCII is allowed)"
    )]
    NotAHeader(KeySource),
}

/// Finds the key; `api_key_file` is the configured file, if any.
pub fn load(api_key_file: Option<&Path>) -> Result<(ApiKey, KeySource), KeyError> {
    if let Some(value) = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
        let value = value
            .into_string()
            .map_err(|_| KeyError::NotAHeader(KeySource::Env))?;
        return check(value, KeySource::Env);
    }
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| PathBuf::from(dir).join("api_key"))
        .filter(|path| path.exists());
    let path = match (api_key_file, credential) {
        (Some(path), _) => path.to_owned(),
        (None, Some(path)) => path,
        (None, None) => return Err(KeyError::Missing),
    };
    let value = read_regular(&path, KEY_CAP).map_err(|source| KeyError::Unreadable {
        path: path.clone(),
        source,
    })?;
    check(value, KeySource::File(path))
}

/// A warning when the key's file can be read by any user of the machine.
pub fn exposure_warning(source: &KeySource) -> Option<String> {
    let KeySource::File(path) = source else {
        return None;
    };
    readable_by_all(path, "the API key file")
}

/// A warning when `database.url_file` (which may hold a password) can be read by any user.
pub fn url_file_warning(url_file: Option<&Path>) -> Option<String> {
    readable_by_all(url_file?, "database.url_file")
}

fn readable_by_all(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "{what} {} is readable by every user (mode {:o}); chmod o-r it",
            printable::path(path),
            mode & 0o777
        )
    })
}

fn check(value: String, source: KeySource) -> Result<(ApiKey, KeySource), KeyError> {
    // Files usually end with a newline; the key itself has no surrounding whitespace.
    let key = value.trim();
    if key.is_empty() {
        return Err(KeyError::Empty(source));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::NotAHeader(source));
    }
    Ok((ApiKey(SecretString::from(key.to_owned())), source))
}

pub const URL_ENV_VAR: &str = "MEMORIES_REAPER_DATABASE_URL";

/// A URL's source when the configuration file holds it (`database.url`).
pub const URL_IN_CONFIG: &str = "database.url";

/// The systemd credential a database URL is read from (`LoadCredential=database_url:…`).
const URL_CREDENTIAL: &str = "database_url";

/// A PostgreSQL connection URL; its password, if any, never leaves this type but to connect.
#[derive(Clone)]
pub struct DatabaseUrl {
    options: sqlx::postgres::PgConnectOptions,
    /// The server, user and database, without the password: what logs and errors name.
    shown: String,
    /// Where the URL came from.
    pub source: String,
}

impl DatabaseUrl {
    /// The options to connect with, for the one place that connects (`queue::postgres`).
    pub fn connect_options(&self) -> sqlx::postgres::PgConnectOptions {
        self.options.clone()
    }

    /// `postgres://user@host:port/database`: safe to log.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.shown)
    }
}

/// The connection parameters a URL may carry; any other is refused by name (sqlx would
/// log an unknown one with its value, which could be a misspelt password).
const URL_PARAMETERS: [&str; 9] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "host",
    "port",
    "dbname",
    "user",
];

/// Finds the database URL, if one is given; `url` and `url_file` are the configured ones.
pub fn database_url(
    url: Option<&str>,
    url_file: Option<&Path>,
) -> Result<Option<DatabaseUrl>, String> {
    let (text, source) = if let Some(value) = std::env::var_os(URL_ENV_VAR) {
        // Set but empty is a mistake (a secret that did not arrive), not "use SQLite":
        // the daemon would drain a local file while the server's rows waited.
        if value.is_empty() {
            return Err(format!(
                "${URL_ENV_VAR} is set but empty; give the URL, or unset it to use \
                     database.path"
            ));
        }
        let value = value
            .into_string()
            .map_err(|_| format!("${URL_ENV_VAR} is not valid UTF-8"))?;
        (value, format!("${URL_ENV_VAR}"))
    } else if let Some(path) = url_file {
        let value = read_regular(path, KEY_CAP).map_err(|e| {
            format!(
                "cannot read database.url_file {}: {e}",
                printable::path(path)
            )
        })?;
        (value, printable::path(path))
    } else if let Some(url) = url {
        (url.to_owned(), URL_IN_CONFIG.to_owned())
    } else {
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(URL_CREDENTIAL))
            .filter(|path| path.exists());
        let Some(path) = credential else {
            return Ok(None);
        };
        let value = read_regular(&path, KEY_CAP).map_err(|e| {
            format!(
                "cannot read the database URL from {}: {e}",
                printable::path(&path)
            )
        })?;
        (value, printable::path(&path))
    };
    parse_url(text.trim(), source).map(Some)
}

/// Reads a PostgreSQL URL. No error quotes it: it may hold a password.
pub(crate) fn parse_url(text: &str, source: String) -> Result<DatabaseUrl, String> {
    let fail = |problem: &str| {
        format!(
            "the database URL from {source} {problem}; give one like \
             postgres://memories_reaper@db.example:5432/memories?sslmode=verify-full"
        )
    };
    let url = url::Url::parse(text).map_err(|e| fail(&format!("cannot be read ({e})")))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(fail("is not a postgres:// URL"));
    }
    // Without `//` the whole rest, password included, would be read as the database's
    // name, and shown. The server is the URL's host, or a `host` parameter (a socket's
    // folder: `postgres:///db?host=/run/postgresql&user=me`).
    let host_parameter = url.query_pairs().any(|(k, v)| k == "host" && !v.is_empty());
    if !text[url.scheme().len()..].starts_with("://")
        || (url.host_str().is_none_or(str::is_empty) && !host_parameter)
    {
        return Err(fail(
            "names no server (it must begin postgres://user@host, or name a socket's \
             folder: postgres:///database?host=/run/postgresql&user=name)",
        ));
    }
    for (key, _) in url.query_pairs() {
        if !URL_PARAMETERS.contains(&key.as_ref()) {
            // Named only when it looks like a parameter's name: after a `?` in an
            // unencoded password, the "name" is the rest of the password.
            let looks_like_a_name = key.len() <= 32
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-');
            let named = if looks_like_a_name {
                printable::quoted(&key, printable::QUOTED)
            } else {
                "one not shown (a '?' in the password? write it %3F)".to_owned()
            };
            return Err(fail(&format!(
                "has a parameter this program does not know: {named} (known: {})",
                URL_PARAMETERS.join(", ")
            )));
        }
    }
    // A certificate or key that cannot be read would surface as "cannot reach the server".
    for (key, value) in url.query_pairs() {
        if matches!(key.as_ref(), "sslrootcert" | "sslcert" | "sslkey")
            && !Path::new(value.as_ref()).is_file()
        {
            return Err(fail(&format!(
                "names {key} {}, which is not a file on this host",
                printable::quoted(&value, printable::QUOTED)
            )));
        }
    }
    // sqlx wraps its reason in "error with configuration: " twice: the innermost says it.
    let options = sqlx::postgres::PgConnectOptions::from_str(text).map_err(|e| {
        let mut reason: &dyn std::error::Error = &e;
        while let Some(inner) = reason.source() {
            reason = inner;
        }
        fail(&format!("cannot be used ({reason})"))
    })?;
    let Some(database) = options.get_database().map(str::to_owned) else {
        return Err(fail("names no database"));
    };
    // A name with these in it is a URL written wrong, whose password may be in it.
    if database.contains([':', '@', '/']) {
        return Err(fail(
            "has a database name that is not one (a ':', '@' or '/' in it)",
        ));
    }
    let server = match options.get_socket() {
        Some(socket) => printable::path(socket),
        None => format!(
            "{}:{}",
            printable::escaped(options.get_host()),
            options.get_port()
        ),
    };
    let shown = format!(
        "postgres://{}@{server}/{}",
        printable::escaped(options.get_username()),
        printable::escaped(&database)
    );
    Ok(DatabaseUrl {
        options: options.application_name("memories-reaper"),
        shown,
        source,
    })
}

/// A warning when the configured `database.url` holds a password in the config file.
pub fn url_password_warning(url: Option<&str>) -> Option<String> {
    let url = url::Url::parse(url?).ok()?;
    let in_query = url.query_pairs().any(|(k, _)| k == "password");
    (url.password().is_some() || in_query).then(|| {
        "database.url holds a password in the config file; move the URL to database.url_file \
         (mode 0600) or $MEMORIES_REAPER_DATABASE_URL, or use a systemd credential"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_shows_no_password_and_refuses_unknown_parameters() {
        let url = parse_url(
            "postgres://reaper:s3cret-pw@db.example:6543/queue?sslmode=require",
            "test".into(),
        )
        .unwrap();
        assert_eq!(url.shown(), "postgres://reaper@db.example:6543/queue");
        assert!(!format!("{url:?}").contains("s3cret"));
        // A socket's folder names the server, as libpq's `host` does.
        let url = parse_url(
            "postgres:///queue?host=/run/postgresql&port=5433&user=reaper",
            "test".into(),
        )
        .unwrap();
        assert_eq!(url.shown(), "postgres://reaper@/run/postgresql/queue");
        for (bad, says) in [
            ("postgres://u:s3cret@h/db?passwd=s3cret", "passwd"),
            (
                "postgres://u:2024?s3cret@h:5432/db",
                "a '?' in the password",
            ),
            ("postgres://u@h/db?s3cret", "not shown"),
            ("mysql://u:s3cret@h/db", "not a postgres:// URL"),
            ("postgres://u:s3cret@h", "names no database"),
            ("postgres:/u:s3cret@h/db", "names no server"),
            ("postgres:u:s3cret@h/db", "names no server"),
            ("postgres:///db", "names no server"),
            ("postgres:///db?host=&user=u", "names no server"),
            (
                "postgres:u:s3cret@h/db?host=/run/postgresql",
                "names no server",
            ),
            ("postgres://u@h/db:s3cret@x", "not one"),
            ("postgres://u:s3cret@h:99999/db", "cannot be read"),
            (
                "postgres://u:s3cret@h/db?sslmode=maybe",
                "cannot be used (unknown value \"maybe\" for `ssl_mode`);",
            ),
            (
                "postgres://u:s3cret@h/db?sslrootcert=/nonexistent/ca.crt",
                "names sslrootcert \"/nonexistent/ca.crt\", which is not a file",
            ),
        ] {
            let err = parse_url(bad, "test".into()).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains("s3cret"), "{bad}: {err}");
        }
        assert!(url_password_warning(Some("postgres://u:pw@h/db")).is_some());
        assert!(url_password_warning(Some("postgres://u@h/db?password=pw")).is_some());
        assert!(url_password_warning(Some("postgres://u@h/db")).is_none());
    }

    #[test]
    fn the_installed_key_is_the_one_the_unit_loads() {
        let unit = include_str!("../systemd/memories-reaper.service");
        assert!(
            unit.contains(&format!("LoadCredential=api_key:{INSTALLED_KEY}\n")),
            "check's hint must name the file the unit reads"
        );
    }

    #[test]
    fn a_key_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-123\n").unwrap();
        let (key, source) = check(
            std::fs::read_to_string(&path).unwrap(),
            KeySource::File(path.clone()),
        )
        .unwrap();
        assert_eq!(key.expose(), "sk-123");
        assert_eq!(source, KeySource::File(path));
    }

    #[test]
    fn a_world_readable_key_file_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-123\n").unwrap();
        let source = KeySource::File(path.clone());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(exposure_warning(&source), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(exposure_warning(&source)
            .unwrap()
            .contains("readable by every user"));
        assert_eq!(exposure_warning(&KeySource::Env), None);
        // The database URL's file is held to the same rule (it may hold a password).
        assert!(url_file_warning(Some(&path))
            .unwrap()
            .starts_with("database.url_file "));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(url_file_warning(Some(&path)), None);
    }

    #[test]
    fn bad_keys_are_refused_without_quoting_them() {
        let err = check("  \n".into(), KeySource::Env).unwrap_err();
        assert!(matches!(err, KeyError::Empty(_)));
        let err = check("sk-1 23".into(), KeySource::Env).unwrap_err();
        assert!(!err.to_string().contains("sk-1"), "{err}");
        let (key, _) = check("sk-secret".into(), KeySource::Env).unwrap();
        assert!(!format!("{key:?}").contains("secret"));
    }
}
