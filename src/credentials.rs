//! Finding the API key, and keeping it secret.
//!
//! The key is looked up at every pass, not once at start, so a rotated key is picked up
//! without a restart. Sources, first match wins: `MEMORIES_API_KEY`, the file named by
//! `api.api_key_file`, then systemd's `$CREDENTIALS_DIRECTORY/api_key`. The key lives in a
//! [`SecretString`], whose `Debug` prints nothing of it, and no error here quotes it.

use std::fmt;
use std::path::{Path, PathBuf};

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
    use std::os::unix::fs::PermissionsExt;
    let KeySource::File(path) = source else {
        return None;
    };
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "the API key file {} is readable by every user (mode {:o}); chmod o-r it",
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

#[cfg(test)]
mod tests {
    use super::*;

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
