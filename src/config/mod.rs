//! Typed configuration: built-in defaults, overlaid by one TOML file: `--config FILE`,
//! else `$MEMORIES_REAPER_CONFIG`, else `/etc/memories-reaper/config.toml` when it exists
//! ([`Source`]), so that every command finds the configuration the service uses.
//!
//! Every value is parsed into the type the rest of the program uses while the file is read
//! (an https-or-loopback URL, a batch size within 1..=100, a cron rule that parses, a video
//! number pattern that compiles), so a bad value is one error naming the key, at start,
//! and nothing past this module re-checks it. Unknown keys are errors: a misspelt key that
//! silently kept its default would be worse.
//!
//! The API key is not configuration: see [`crate::credentials`].

pub mod rules;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use reqwest::Url;
use serde::Deserialize;

use crate::credentials;
use crate::files::{read_regular, FileError};
use crate::printable;
use crate::schedule::CronRule;
use crate::video::{VideoNoRule, DEFAULT_VIDEO_NO_PATTERN};

/// The largest configuration file read: ours is 3 KB. (A 100 MB value was read and
/// printed whole; `--config /dev/zero` ran into the OOM killer.)
const CONFIG_CAP: u64 = 256 * 1024;
/// The longest text value a key takes (a path, a filter, a pattern); error messages quote
/// at most [`printable::QUOTED`] characters of it.
const LONGEST_VALUE: usize = 1024;

/// The v1.2 Delete Videos path, which takes the `unique_id` namespace.
pub const V1_2_DELETE_PATH: &str = "/serve/api/v1/delete_videos";
/// The v1.1 path, which knows no namespaces.
pub const V1_1_DELETE_PATH: &str = "/serve/api/video/delete_videos";
/// The API's own limits, documented by the vendor.
pub const API_MAX_BATCH: usize = 100;
pub const API_REQUESTS_PER_SECOND: u32 = 5;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api: ApiConfig,
    pub database: DatabaseConfig,
    pub schedule: ScheduleConfig,
    pub batch: BatchConfig,
    pub retry: RetryConfig,
    pub retention: RetentionConfig,
    pub isolation: IsolationConfig,
    pub verify: VerifyConfig,
    pub lookup: LookupConfig,
    /// `[[rule]]`: lifecycle rules (none by default).
    pub rule: Vec<rules::Rule>,
    /// `[rules]`: what the rules share.
    pub rules: rules::RulesConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    /// Where it came from: errors about the database name it.
    #[serde(skip)]
    pub source: Source,
}

/// `[metrics]`: Prometheus metrics, off unless `listen` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where `GET /metrics` is served, e.g. `127.0.0.1:9842`; unset: no metrics served.
    #[serde(deserialize_with = "socket_address")]
    pub listen: Option<std::net::SocketAddr>,
    /// Also rows by namespace and status, for the `metrics::NAMESPACES_SHOWN` namespaces
    /// with the most rows; the others summed under `namespace=""`.
    pub by_namespace: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub base_url: BaseUrl,
    pub delete_path: String,
    #[serde(deserialize_with = "at_most::<_, LONGEST_TIMEOUT>")]
    pub timeout: Duration,
    /// Never more than this many requests in any rolling second (the account's limit is
    /// shared by all its keys, so lower it when something else uses the account too).
    pub requests_per_second: RequestsPerSecond,
    /// The most requests in flight at once, each for its own claimed batch: with a slow
    /// API, one at a time cannot reach the rate (at 1 s a request, 5 a second need 5 in
    /// flight). Within it, the pass keeps as many as the measured round trips need.
    pub concurrency: Concurrency,
    /// A file holding the key; read again at every pass so a rotated key is picked up.
    pub api_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `None` means the default location, see [`default_database_path`].
    pub path: Option<PathBuf>,
    /// A PostgreSQL server instead of the file (`postgres://…`); see
    /// [`credentials::database_url`] for the other places it may come from.
    pub url: Option<String>,
    /// A file holding the PostgreSQL URL (so that its password stays out of the config).
    pub url_file: Option<PathBuf>,
    /// How long a statement waits for another writer (a producer) before giving up.
    #[serde(deserialize_with = "at_most::<_, { 10 * MINUTE }>")]
    pub busy_timeout: Duration,
    /// How long a daemon's turn as the one sender for the database lasts unless renewed
    /// (`lead`): a standby takes over within it (and a third more) once the sender dies.
    #[serde(deserialize_with = "sender_lease")]
    pub sender_lease: Duration,
}

/// Where the queue lives, once the configuration is read.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite: one file on this host (the default).
    File(PathBuf),
    /// PostgreSQL: producers and daemons on several hosts.
    Server(Box<credentials::DatabaseUrl>),
}

impl Database {
    /// A PostgreSQL server by its URL, `source` saying where it came from (for errors).
    pub fn server(url: &str, source: &str) -> Result<Self, String> {
        credentials::parse_url(url, source.to_owned()).map(|url| Self::Server(Box::new(url)))
    }

    /// The database as messages name it (never with a password).
    pub fn shown(&self) -> String {
        match self {
            Self::File(path) => printable::path(path),
            Self::Server(url) => url.shown().to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    pub cron: CronRule,
    /// The zone whose clocks the rule reads (an IANA name); ticks follow its
    /// daylight-saving changes.
    pub timezone: Timezone,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub size: BatchSize,
    #[serde(deserialize_with = "video_no_rule")]
    pub video_no_pattern: VideoNoRule,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Requests per batch within one pass, the first included.
    pub max_attempts: u32,
    #[serde(deserialize_with = "at_most::<_, HOUR>")]
    pub initial_backoff: Duration,
    #[serde(deserialize_with = "at_most::<_, HOUR>")]
    pub max_backoff: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationConfig {
    /// Separate refusals (`0001`, `0003`, HTTP 400) of a lone id, with backoff between
    /// them, before its rows are failed. Counted on the rows, across passes and restarts.
    pub confirmations: Confirmations,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        Self {
            confirmations: Confirmations(DEFAULT_CONFIRMATIONS),
        }
    }
}

/// `[verify]`: proving what a deletion did (see `pass::verify`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// Look each batch up in its namespace before sending it: what is not there is not
    /// sent, and ends `absent` rather than `deleted`.
    pub before: bool,
    /// An id not found is looked up again this much later before it is `absent` (a fresh
    /// upload may not be listed yet).
    #[serde(deserialize_with = "at_most::<_, DAY>")]
    pub absent_after: Duration,
    /// When the lookups cannot be trusted or are down: `false` sends the batch unverified
    /// (a warning per pass); `true` keeps its rows pending and stops the pass.
    pub required: bool,
    /// Look deleted videos up again, `after_delay` after the API answered for them: one
    /// still listed is sent again, and `failed` after `after_rounds` such rounds.
    pub after: bool,
    #[serde(deserialize_with = "at_most::<_, DAY>")]
    pub after_delay: Duration,
    pub after_rounds: AfterRounds,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            before: true,
            absent_after: Duration::from_secs(5 * MINUTE),
            required: false,
            after: false,
            after_delay: Duration::from_secs(MINUTE),
            after_rounds: AfterRounds(3),
        }
    }
}

/// `[lookup]`: the listing calls, paced on their own limit (the account's quota for them
/// is counted apart from Delete Videos).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LookupConfig {
    pub requests_per_second: RequestsPerSecond,
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self {
            requests_per_second: RequestsPerSecond(API_REQUESTS_PER_SECOND),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Settled rows and batch records older than this are removed after each pass.
    /// Unset: kept for ever (they are the record of what was deleted).
    #[serde(deserialize_with = "keep_at_most")]
    pub keep: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `memories_reaper=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            base_url: BaseUrl::default(),
            delete_path: V1_2_DELETE_PATH.to_owned(),
            timeout: Duration::from_secs(30),
            requests_per_second: RequestsPerSecond(API_REQUESTS_PER_SECOND),
            concurrency: Concurrency(DEFAULT_CONCURRENCY),
            api_key_file: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: None,
            url: None,
            url_file: None,
            busy_timeout: Duration::from_secs(5),
            sender_lease: Duration::from_secs(15),
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            size: BatchSize(API_MAX_BATCH),
            video_no_pattern: VideoNoRule::default(),
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Why the configuration cannot be used; each is one line naming the file or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", printable::path(path))]
    Read { path: PathBuf, source: FileError },
    #[error("config file {}, line {line}: {message}", printable::path(path))]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config: {0}")]
    Invalid(String),
}

/// The variable that names the configuration file when `--config` does not.
pub const CONFIG_VAR: &str = "MEMORIES_REAPER_CONFIG";
/// The installed service's configuration, used when it exists and nothing else is named.
pub const INSTALLED_CONFIG: &str = "/etc/memories-reaper/config.toml";

/// Where the configuration came from, as messages name it: a command run by hand must say
/// which database it opened and why (a bare `status` used to open `~/.local/state`'s queue
/// beside an installed service's, and say it "does not exist yet").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Source {
    Flag(PathBuf),
    Variable(PathBuf),
    Installed(PathBuf),
    #[default]
    Defaults,
}

impl Source {
    /// `--config`, else a non-empty `$MEMORIES_REAPER_CONFIG`, else the installed file
    /// when it exists, else the built-in defaults.
    pub fn find(flag: Option<PathBuf>) -> Self {
        Self::find_in(
            flag,
            std::env::var_os(CONFIG_VAR),
            Path::new(INSTALLED_CONFIG),
        )
    }

    fn find_in(
        flag: Option<PathBuf>,
        variable: Option<std::ffi::OsString>,
        installed: &Path,
    ) -> Self {
        match (flag, variable) {
            (Some(path), _) => Self::Flag(path),
            // Blank is unset (`MEMORIES_REAPER_CONFIG= cmd`, or a space by mistake).
            (None, Some(path)) if !path.to_string_lossy().trim().is_empty() => {
                Self::Variable(path.into())
            }
            // `exists` follows links: a dangling one is no configuration. One that exists
            // but cannot be read is an error when loaded, naming it: not the defaults.
            _ if installed.exists() => Self::Installed(installed.to_owned()),
            _ => Self::Defaults,
        }
    }

    /// The file read, if any (and read again on SIGHUP).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Flag(path) | Self::Variable(path) | Self::Installed(path) => Some(path),
            Self::Defaults => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(path) => write!(f, "--config {}", printable::path(path)),
            Self::Variable(path) => write!(f, "${CONFIG_VAR} = {}", printable::path(path)),
            Self::Installed(path) => write!(
                f,
                "{} (the installed configuration: --config FILE names another)",
                printable::path(path)
            ),
            Self::Defaults => write!(
                f,
                "the built-in defaults (no --config, no ${CONFIG_VAR}, no {INSTALLED_CONFIG})"
            ),
        }
    }
}

/// Whether text before a `=` reads as a key (`api.timeout`, `stop_above_share`, or an
/// environment file's `MEMORIES_API_KEY`: words of one case joined by `_`, short), not as
/// a secret that happens to hold a `=` (a URL's query, a key's base64 padding).
fn reads_as_a_key(text: &str) -> bool {
    let word = |w: &str, lead: fn(&char) -> bool, rest: fn(&char) -> bool| {
        w.len() <= 24
            && w.chars().next().is_some_and(|c| lead(&c))
            && w.chars()
                .all(|c| rest(&c) || c.is_ascii_digit() || c == '_')
    };
    !text.is_empty()
        && text.len() <= 40
        && text.split('.').all(|w| {
            word(w, char::is_ascii_lowercase, char::is_ascii_lowercase)
                || word(w, char::is_ascii_uppercase, char::is_ascii_uppercase)
        })
}

impl Config {
    /// Defaults, overlaid by the file `source` names, if any.
    pub fn load(source: &Source) -> Result<Self, ConfigError> {
        let mut config = match source.path() {
            None => Self::default(),
            Some(path) => {
                let text = read_regular(path, CONFIG_CAP).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let mut config =
                    Self::parse(&text).map_err(|(line, message)| ConfigError::Parse {
                        path: path.to_owned(),
                        line,
                        message,
                    })?;
                config.resolve_against(path.parent().unwrap_or(Path::new("")));
                config
            }
        };
        config.source = source.clone();
        config.check()?;
        Ok(config)
    }

    /// An error about the database, with the configuration that named the database.
    pub fn naming(&self, problem: impl fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{problem} (configuration: {})", self.source)
    }

    /// Relative paths in a config file are taken from the file's folder, not from wherever
    /// the command runs: from another folder, `status` refused and `enqueue` created a
    /// second, empty queue.
    fn resolve_against(&mut self, folder: &Path) {
        for path in [
            &mut self.database.path,
            &mut self.database.url_file,
            &mut self.api.api_key_file,
        ]
        .into_iter()
        .flatten()
        {
            // What SQLite reads as no file at all stays as written, for `database_path`
            // to refuse by name.
            if path.is_relative() && !names_no_file(&path.to_string_lossy()) {
                // `components` drops the `.` of `./queue.db`: the same file, one spelling.
                *path = folder.join(&*path).components().collect();
            }
        }
    }

    /// Parses TOML text; the error is the line it points at and a one-line message naming
    /// the key on that line. Only the key is quoted from the file, never the rest of the
    /// line, and only what reads as one of ours (lowercase words joined by `_`, dotted,
    /// short): `--config` (or `$MEMORIES_REAPER_CONFIG`) pointed at the key file or the
    /// database URL's by mistake must not print them (a URL's `…?sslmode=` or a key's
    /// `=` padding made the secret "the key").
    fn parse(text: &str) -> Result<Self, (usize, String)> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let start = e.span().map_or(0, |span| span.start.min(text.len()));
            let line = text[..start].matches('\n').count() + 1;
            let message = printable::cut(&e.message().replace('\n', " "), 2 * printable::QUOTED);
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(key, _)| key.trim())
                .filter(|key| reads_as_a_key(key));
            match key {
                Some(key) => {
                    let key = printable::cut(key, printable::QUOTED / 2);
                    (line, format!("{key}: {message}"))
                }
                None => (line, message),
            }
        })
    }

    /// Checks that involve more than one key, or a value's length.
    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("api.delete_path", self.api.delete_path.as_str()),
            ("log.level", self.log.level.as_str()),
            (
                "batch.video_no_pattern",
                self.batch.video_no_pattern.pattern(),
            ),
        ] {
            if value.len() > LONGEST_VALUE {
                return Err(ConfigError::Invalid(format!(
                    "{key} is {} bytes long; at most {LONGEST_VALUE}",
                    value.len()
                )));
            }
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        if retry.initial_backoff.is_zero() || retry.initial_backoff > retry.max_backoff {
            return Err(ConfigError::Invalid(format!(
                "retry.initial_backoff ({}) must be above zero and at most retry.max_backoff ({})",
                humantime::format_duration(retry.initial_backoff),
                humantime::format_duration(retry.max_backoff)
            )));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(ConfigError::Invalid(format!(
                "log.level {} is not a valid filter ({e}); e.g. \"info\" or \"memories_reaper=debug\"",
                printable::quoted(&self.log.level, printable::QUOTED)
            )));
        }
        if self.retention.keep.is_some_and(|d| d < SHORTEST_KEEP) {
            return Err(ConfigError::Invalid(
                "retention.keep must be at least 1h: the records are what shows a deletion happened".into(),
            ));
        }
        if self.api.timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "api.timeout must be above zero".into(),
            ));
        }
        rules::check_names(&self.rule).map_err(ConfigError::Invalid)?;
        if self.rules.lookup_share.get() > self.lookup.requests_per_second.get() {
            return Err(ConfigError::Invalid(format!(
                "rules.lookup_share = {} is above lookup.requests_per_second = {}: the rules \
                 take a share of the lookups' rate, never more than all of it",
                self.rules.lookup_share.get(),
                self.lookup.requests_per_second.get()
            )));
        }
        let verify = &self.verify;
        if verify.absent_after < SHORTEST_ABSENT_AFTER {
            return Err(ConfigError::Invalid(format!(
                "verify.absent_after = {:?} is too short: a fresh upload may take a while to be \
                 listed, and a video missed twice that fast could be called absent while it \
                 exists; at least {}",
                humantime::format_duration(verify.absent_after).to_string(),
                humantime::format_duration(SHORTEST_ABSENT_AFTER)
            )));
        }
        if verify.after_delay < SHORTEST_AFTER_DELAY {
            return Err(ConfigError::Invalid(format!(
                "verify.after_delay = {:?} is too short: a listing can show a deleted video for \
                 a while; at least {}",
                humantime::format_duration(verify.after_delay).to_string(),
                humantime::format_duration(SHORTEST_AFTER_DELAY)
            )));
        }
        self.check_schedules(chrono::Utc::now())?;
        if !self.api.delete_path.starts_with('/') {
            return Err(ConfigError::Invalid(format!(
                "api.delete_path {} must start with '/', e.g. {V1_2_DELETE_PATH:?}",
                printable::quoted(&self.api.delete_path, printable::QUOTED)
            )));
        }
        Ok(())
    }

    /// A schedule that never fires again would leave the daemon (or a rule) idle for good
    /// while it looks healthy: refused at start and at reload, naming it.
    fn check_schedules(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), ConfigError> {
        let zone = self.schedule.timezone.zone();
        let never = |what: String, cron: &CronRule| {
            ConfigError::Invalid(format!(
                "{what} {:?} matches no time from now on in {zone}: nothing would ever run; \
                 write one that fires (`memories-reaper check --next 5` lists the next times \
                 of a rule that does)",
                cron.as_written()
            ))
        };
        if self.schedule.cron.next_after(now, zone).is_none() {
            return Err(never("schedule.cron".into(), &self.schedule.cron));
        }
        for rule in &self.rule {
            if let Some(cron) = &rule.schedule {
                if cron.next_after(now, zone).is_none() {
                    return Err(never(format!("rule {}: schedule", rule.name), cron));
                }
            }
        }
        Ok(())
    }

    /// Where the queue lives: a PostgreSQL server when a URL is given (see
    /// [`credentials::database_url`]), else the SQLite file [`Config::database_path`].
    /// Both at once is refused: rows would go to one while the daemon reads the other.
    pub fn database(&self) -> Result<Database, ConfigError> {
        let url = credentials::database_url(
            self.database.url.as_deref(),
            self.database.url_file.as_deref(),
        )
        .map_err(ConfigError::Invalid)?;
        match (url, &self.database.path) {
            (Some(url), Some(_)) => Err(ConfigError::Invalid(format!(
                "database.path and a PostgreSQL URL (from {}) are both set; keep one: the \
                 file, or the server",
                url.source
            ))),
            (Some(url), None) => Ok(Database::Server(Box::new(url))),
            (None, _) => self.database_path().map(Database::File),
        }
    }

    /// The SQLite file: `database.path`, else `$STATE_DIRECTORY/queue.db` (systemd's
    /// `StateDirectory=`), else the user's state directory.
    fn database_path(&self) -> Result<PathBuf, ConfigError> {
        if let Some(path) = &self.database.path {
            // Rows "enqueued" in a database that is no file are lost.
            let text = path.to_string_lossy();
            if names_no_file(&text) {
                return Err(ConfigError::Invalid(format!(
                    "database.path {} is not a file path; give the queue file's path, e.g. \
                     \"/var/lib/memories-reaper/queue.db\"",
                    printable::quoted(&text, printable::QUOTED)
                )));
            }
            return Ok(path.clone());
        }
        default_database_path().ok_or_else(|| {
            ConfigError::Invalid(
                "no default database location (neither STATE_DIRECTORY nor HOME is set); \
                 set database.path"
                    .into(),
            )
        })
    }

    /// What is allowed but probably wrong; `check` prints these and the daemon logs them
    /// at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        warnings.extend(credentials::url_password_warning(
            self.database.url.as_deref(),
        ));
        warnings.extend(credentials::url_file_warning(
            self.database.url_file.as_deref(),
        ));
        for (key, rate) in [
            (
                "api.requests_per_second",
                self.api.requests_per_second.get(),
            ),
            (
                "lookup.requests_per_second",
                self.lookup.requests_per_second.get(),
            ),
        ] {
            if rate > API_REQUESTS_PER_SECOND {
                warnings.push(format!(
                    "{key} = {rate} is above the account's documented limit of \
                     {API_REQUESTS_PER_SECOND}: the API will answer 0429 to the excess (raise it \
                     only if Memories.ai raised your account's limit)"
                ));
            }
        }
        warnings.extend(rules::warnings(&self.rule));
        if let Some(listen) = self
            .metrics
            .listen
            .filter(|a| !a.ip().to_canonical().is_loopback())
        {
            warnings.push(format!(
                "metrics.listen = {listen} is reachable from other hosts: the metrics carry no \
                 secret, but namespaces (metrics.by_namespace) and queue sizes are the \
                 operator's business; a firewall, or 127.0.0.1 and a local Prometheus"
            ));
        }
        warnings
    }

    /// How long a claim holds its rows without renewal: three request timeouts plus a
    /// second, so that the rows of a worker that died come back soon.
    pub fn lease(&self) -> Duration {
        lease_for(self.api.timeout)
    }

    /// The effective configuration as one log-friendly line; holds no secret.
    pub fn summary(&self) -> String {
        format!(
            "base_url={} delete_path={} timeout={} requests_per_second={} concurrency={} cron={:?} timezone={} \
             batch.size={} video_no_pattern={:?} retry.max_attempts={} retry.initial_backoff={} \
             retry.max_backoff={} isolation.confirmations={} verify.before={} verify.absent_after={} \
             verify.required={} verify.after={} verify.after_delay={} verify.after_rounds={} \
             lookup.requests_per_second={} database.busy_timeout={} database.sender_lease={} \
             retention.keep={} metrics.listen={} metrics.by_namespace={}",
            self.api.base_url,
            printable::escaped(&self.api.delete_path),
            humantime::format_duration(self.api.timeout),
            self.api.requests_per_second.get(),
            self.api.concurrency.get(),
            self.schedule.cron.as_written(),
            self.schedule.timezone.zone(),
            self.batch.size.get(),
            self.batch.video_no_pattern.pattern(),
            self.retry.max_attempts,
            humantime::format_duration(self.retry.initial_backoff),
            humantime::format_duration(self.retry.max_backoff),
            self.isolation.confirmations.get(),
            self.verify.before,
            humantime::format_duration(self.verify.absent_after),
            self.verify.required,
            self.verify.after,
            humantime::format_duration(self.verify.after_delay),
            self.verify.after_rounds.get(),
            self.lookup.requests_per_second.get(),
            humantime::format_duration(self.database.busy_timeout),
            humantime::format_duration(self.database.sender_lease),
            self.retention
                .keep
                .map_or("forever".into(), |d| humantime::format_duration(d)
                    .to_string()),
            self.metrics
                .listen
                .map_or("off".into(), |a| a.to_string()),
            self.metrics.by_namespace,
        )
    }
}

/// An IP address and a port, with an error that says so (serde's says only "invalid socket
/// address syntax"); a host name is not resolved.
fn socket_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "{} is not an IP address and a port, e.g. \"127.0.0.1:9842\" or \"[::1]:9842\"",
            printable::quoted(&text, printable::QUOTED)
        ))
    })
}

/// SQLite reads "" and ":memory:" as a database that vanishes at close, and "file:…" as a
/// URI: not a queue file.
fn names_no_file(path: &str) -> bool {
    path.is_empty() || path == ":memory:" || path.starts_with("file:")
}

fn default_database_path() -> Option<PathBuf> {
    if let Some(dirs) = std::env::var_os("STATE_DIRECTORY") {
        // systemd passes one path per StateDirectory= entry, separated by colons.
        let first = dirs.to_string_lossy().split(':').next().map(PathBuf::from);
        if let Some(dir) = first.filter(|d| !d.as_os_str().is_empty()) {
            return Some(dir.join("queue.db"));
        }
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|dir| dir.join("memories-reaper").join("queue.db"))
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// The longest `api.timeout`, in seconds.
const LONGEST_TIMEOUT: u64 = 10 * MINUTE;

const fn lease_for(timeout: Duration) -> Duration {
    timeout
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(1))
}

/// The longest lease any configuration grants (31 minutes). A `lease_until` further away
/// than this, or one that cannot be read, was not granted by this program: the row counts
/// as expired. (Bounding by the longest lease of any configuration, not this one's, keeps
/// a daemon with a short timeout from taking rows another daemon on the same database
/// holds under a longer one.)
pub const LONGEST_LEASE: Duration = lease_for(Duration::from_secs(LONGEST_TIMEOUT));

/// The furthest back a record is ever looked for (`retention.keep`, `prune --older-than`,
/// `retry-failed --since`): a century. Beyond it a value is a typo, and time arithmetic
/// overflows (`keep = "300000y"` passed `check` and then panicked after every pass).
/// The youngest records `prune` and retention remove: an hour old.
pub const SHORTEST_KEEP: Duration = Duration::from_secs(HOUR);

/// The shortest `verify.absent_after` and `verify.after_delay`: zero would make one miss
/// a proof (the second lookup at once), and a lookup after deleting that comes before the
/// listing could follow. A second is the floor the tests use; the defaults are minutes,
/// and re-checks after a deletion back off from it (`pass::verify::recheck_delay`).
const SHORTEST_ABSENT_AFTER: Duration = Duration::from_secs(1);
const SHORTEST_AFTER_DELAY: Duration = Duration::from_secs(1);

/// (100 years of 365.25 days, as humantime counts a year.)
pub const LONGEST_AGO: Duration = Duration::from_secs(36_525 * 24 * 3600);

/// A duration as people write it (`30s`, `10m`, `7d`), at most `max`: every duration the
/// configuration and the command line take is parsed here, so none can overflow the time
/// arithmetic that uses it.
pub fn parse_duration_at_most(raw: &str, max: Duration) -> Result<Duration, String> {
    let shown = printable::quoted(raw, 40);
    let d = humantime::parse_duration(raw)
        .map_err(|e| format!("{shown} is not a duration ({e}); e.g. \"30s\", \"10m\", \"7d\""))?;
    if d > max {
        return Err(format!(
            "{shown} is longer than the limit of {}",
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

/// A duration key of at most `MAX` seconds.
fn at_most<'de, D: serde::Deserializer<'de>, const MAX: u64>(d: D) -> Result<Duration, D::Error> {
    let raw = String::deserialize(d)?;
    parse_duration_at_most(&raw, Duration::from_secs(MAX)).map_err(serde::de::Error::custom)
}

/// `database.sender_lease`: from 2 s (renewed every third of it, over a network) to 10 min
/// (the longest a dead sender may hold deletions up).
fn sender_lease<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let raw = String::deserialize(d)?;
    let lease = parse_duration_at_most(&raw, Duration::from_secs(10 * MINUTE))
        .map_err(serde::de::Error::custom)?;
    if lease < Duration::from_secs(2) {
        return Err(serde::de::Error::custom(format!(
            "{} is shorter than the least of 2s",
            printable::quoted(&raw, 40)
        )));
    }
    Ok(lease)
}

/// `retention.keep`: at most [`LONGEST_AGO`].
fn keep_at_most<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let raw = String::deserialize(d)?;
    parse_duration_at_most(&raw, LONGEST_AGO)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn video_no_rule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<VideoNoRule, D::Error> {
    let pattern = String::deserialize(d)?;
    VideoNoRule::new(&pattern).map_err(|e| {
        serde::de::Error::custom(format!(
            "video_no_pattern {} is not a valid regular expression ({}); the default is {DEFAULT_VIDEO_NO_PATTERN:?}",
            printable::quoted(&pattern, printable::QUOTED),
            e.to_string().lines().last().unwrap_or("invalid")
        ))
    })
}

/// `api.base_url`: https, or plain http only to a loopback address (tests, local
/// stand-ins): the key travels in a header, so plain http elsewhere is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct BaseUrl(Url);

impl BaseUrl {
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        // A constant, never input; the defaults test builds it.
        Self::try_from("https://api.memories.ai".to_owned()).expect("the default URL is valid")
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<String> for BaseUrl {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        let shown = printable::quoted(&raw, printable::QUOTED);
        let url = Url::parse(&raw).map_err(|e| format!("base_url {shown} is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "base_url must not carry credentials; the key comes from MEMORIES_API_KEY, \
                 api.api_key_file or $CREDENTIALS_DIRECTORY/api_key"
                    .to_owned(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
            return Err(format!(
                "base_url {shown} must be a scheme and host only, e.g. \"https://api.memories.ai\"; the path goes in api.delete_path"
            ));
        }
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if loopback => Ok(Self(url)),
            "http" => Err(format!(
                "base_url {shown} uses plain http to a non-loopback host; the API key would travel in clear: use https"
            )),
            other => Err(format!("base_url {shown}: scheme {other:?} is not supported; use https")),
        }
    }
}

/// `schedule.timezone`: an IANA time zone name, default UTC.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct Timezone(Tz);

impl Timezone {
    pub fn zone(self) -> Tz {
        self.0
    }
}

impl TryFrom<String> for Timezone {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        name.parse::<Tz>().map(Self).map_err(|_| {
            format!(
                "unknown time zone {}: use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                printable::quoted(&name, printable::QUOTED)
            )
        })
    }
}

/// A whole number the config bounds: out of its range is one error naming the key.
macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident($int:ty) in $range:expr, $message:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Deserialize)]
        #[serde(try_from = "i64")]
        pub struct $name($int);

        impl $name {
            pub fn get(self) -> $int {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = String;

            fn try_from(n: i64) -> Result<Self, String> {
                match <$int>::try_from(n) {
                    Ok(v) if ($range).contains(&v) => Ok(Self(v)),
                    _ => Err(format!($message, n = n)),
                }
            }
        }
    };
}

bounded!(
    /// `batch.size`: 1..=100, the API's limit.
    BatchSize(usize) in 1..=API_MAX_BATCH,
    "batch size {n} is out of range: the API takes 1 to {API_MAX_BATCH} ids a request"
);

/// The most requests a second any limiter is set to: 200 times the documented 5. (The
/// limiter keeps a second's sends; unbounded, 4294967295 asked for 100 GB at start.)
const MAX_REQUESTS_PER_SECOND: u32 = 1000;

bounded!(
    /// `api.requests_per_second`, `lookup.requests_per_second`, `rules.lookup_share`: 1
    /// to 1000.
    RequestsPerSecond(u32) in 1..=MAX_REQUESTS_PER_SECOND,
    "{n} requests a second is out of range: 1 to {MAX_REQUESTS_PER_SECOND} (the account's limit is {API_REQUESTS_PER_SECOND})"
);

impl RequestsPerSecond {
    pub const ONE: Self = Self(1);
}

/// The default `api.concurrency`, a bound: the pass keeps as many in flight as the round
/// trips need (`pass::window`), and 32 keep 5 requests a second going at up to about 3.8 s
/// a request.
const DEFAULT_CONCURRENCY: usize = 32;
const MAX_CONCURRENCY: usize = 64;

bounded!(
    /// `api.concurrency`: 1 to 64.
    Concurrency(usize) in 1..=MAX_CONCURRENCY,
    "concurrency {n} is out of range: 1 to {MAX_CONCURRENCY} requests in flight"
);

/// The default `isolation.confirmations`.
const DEFAULT_CONFIRMATIONS: u32 = 3;
const MAX_CONFIRMATIONS: u32 = 20;

bounded!(
    /// `isolation.confirmations`: 1 to 20 refusals of a lone id before its rows fail.
    Confirmations(u32) in 1..=MAX_CONFIRMATIONS,
    "isolation.confirmations {n} is out of range: 1 to {MAX_CONFIRMATIONS} refusals"
);

bounded!(
    /// `verify.after_rounds`: 1 to 20 times still listed before a row fails.
    AfterRounds(u32) in 1..=20,
    "verify.after_rounds {n} is out of range: 1 to 20 rounds"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text).map_err(|(line, msg)| format!("line {line}: {msg}"))
    }

    /// Parsed and checked, as `Config::load` does.
    fn load(text: &str) -> Result<Config, String> {
        let config = parse(text)?;
        config.check().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn a_secret_file_given_as_the_configuration_is_not_quoted() {
        for secret in [
            "postgres://mr:S3cretPWurl@db:5432/q?sslmode=verify-full",
            "c2VjcmV0LWFwaS1rZXk=",
            "sk-live-0123456789abcdef=x",
        ] {
            let error = parse(secret).expect_err(secret);
            assert!(
                !error.contains("S3cret") && !error.contains("c2Vj") && !error.contains("0123"),
                "{error}"
            );
        }
        // A line of ours still names its key.
        let error = parse("[api]\ntimeout = ,").expect_err("a bad value");
        assert!(error.starts_with("line 2: timeout: "), "{error}");
    }

    #[test]
    fn the_configuration_is_the_flag_then_the_variable_then_the_installed_file() {
        let dir = tempfile::tempdir().unwrap();
        let installed = dir.path().join("config.toml");
        let missing = dir.path().join("nothing.toml");
        std::fs::write(&installed, "").unwrap();
        let (flag, var) = (PathBuf::from("a.toml"), PathBuf::from("b.toml"));
        for (given, variable, at, wanted) in [
            (
                Some(&flag),
                Some("b.toml"),
                &installed,
                Source::Flag(flag.clone()),
            ),
            (
                None,
                Some("b.toml"),
                &installed,
                Source::Variable(var.clone()),
            ),
            (None, Some(" "), &missing, Source::Defaults),
            (
                None,
                Some(""),
                &installed,
                Source::Installed(installed.clone()),
            ),
            (None, None, &installed, Source::Installed(installed.clone())),
            (None, None, &missing, Source::Defaults),
            (Some(&flag), None, &missing, Source::Flag(flag.clone())),
        ] {
            let found = Source::find_in(given.cloned(), variable.map(Into::into), at);
            assert_eq!(found, wanted, "{given:?} {variable:?} {at:?}");
        }
    }

    #[test]
    fn values_that_would_make_a_proof_of_nothing_are_refused_by_name() {
        for (text, wanted) in [
            (
                "[verify]\nabsent_after = \"0s\"",
                "verify.absent_after = \"0s\" is too short",
            ),
            (
                "[verify]\nafter_delay = \"500ms\"",
                "verify.after_delay = \"500ms\" is too short",
            ),
            // Named by its own key, not another's.
            (
                "[rules]\nlookup_share = 0",
                "lookup_share: 0 requests a second is out of range",
            ),
            (
                "[schedule]\ncron = \"0 0 30 2 *\"",
                "schedule.cron \"0 0 30 2 *\" matches no time",
            ),
        ] {
            let err = load(text).unwrap_err();
            assert!(err.contains(wanted), "{text}: {err}");
        }
        for fine in [
            "[verify]\nabsent_after = \"1s\"\nafter_delay = \"1s\"",
            "[schedule]\ncron = \"0 0 29 2 *\"",
        ] {
            assert!(load(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let c = parse(include_str!("../../config/memories-reaper.toml")).unwrap();
        let d = Config::default();
        assert_eq!(c.api.timeout, d.api.timeout);
        assert_eq!(c.api.delete_path, d.api.delete_path);
        assert_eq!(c.schedule.cron.as_written(), d.schedule.cron.as_written());
        assert_eq!(c.retry.max_backoff, d.retry.max_backoff);
        assert!(parse(include_str!("../../config/standin.toml")).is_ok());
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.api.base_url.url().as_str(), "https://api.memories.ai/");
        assert_eq!(c.api.delete_path, V1_2_DELETE_PATH);
        assert_eq!(c.api.requests_per_second.get(), 5);
        assert_eq!(c.batch.size.get(), 100);
        assert_eq!(c.schedule.timezone.zone(), Tz::UTC);
    }

    #[test]
    fn durations_are_human_readable() {
        let c = parse("[api]\ntimeout = \"250ms\"\n[retry]\nmax_backoff = \"2m\"").unwrap();
        assert_eq!(c.api.timeout, Duration::from_millis(250));
        assert_eq!(c.retry.max_backoff, Duration::from_secs(120));
    }

    #[test]
    fn durations_are_bounded_where_they_are_parsed() {
        for (text, limit) in [
            ("[api]\ntimeout = \"99999999999999d\"", "10m"),
            ("[database]\nbusy_timeout = \"11m\"", "10m"),
            ("[retry]\nmax_backoff = \"1000y\"", "1h"),
            ("[retry]\ninitial_backoff = \"61m\"", "1h"),
            ("[retention]\nkeep = \"300000y\"", "100years"),
        ] {
            let err = parse(text).unwrap_err();
            let key = text.split('\n').nth(1).unwrap().split(" =").next().unwrap();
            assert!(err.starts_with(&format!("line 2: {key}: ")), "{err}");
            assert!(err.ends_with(&format!("limit of {limit}")), "{err}");
        }
        let c = parse("[api]\ntimeout = \"10m\"\n[retention]\nkeep = \"100y\"").unwrap();
        assert_eq!(c.lease(), Duration::from_secs(1801));
        assert_eq!(c.retention.keep, Some(LONGEST_AGO));
        let err = parse("[api]\ntimeout = \"soon\"").unwrap_err();
        assert!(err.contains("is not a duration"), "{err}");
    }

    #[test]
    fn a_parse_error_quotes_the_key_never_the_rest_of_the_line() {
        let err = parse("sk-live-SECRET-KEY\n").unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
        let err = parse("MEMORIES_API_KEY=sk-live-SECRET-KEY\n").unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(err.starts_with("line 1: MEMORIES_API_KEY: "), "{err}");
        let err = parse("[api]\n\"ev\\u202eil\\u001b[31m\" = 1").unwrap_err();
        assert!(
            !err.contains('\u{202e}') && !err.contains('\u{1b}'),
            "{err}"
        );
        let huge = "k".repeat(200_000);
        assert!(parse(&format!("[api]\n{huge} = 1")).unwrap_err().len() < 500);
        let err = parse("[api]\nrequests_per_second = 4294967295").unwrap_err();
        assert!(err.contains("out of range: 1 to 1000"), "{err}");
    }

    #[test]
    fn long_values_are_refused_and_never_echoed_whole() {
        let huge = "x".repeat(100_000);
        let err = parse(&format!("[schedule]\ntimezone = \"{huge}\"")).unwrap_err();
        assert!(err.len() < 400, "{} bytes", err.len());
        let c = parse(&format!("[log]\nlevel = \"{huge}\"")).unwrap();
        let err = c.check().unwrap_err().to_string();
        assert_eq!(err, "config: log.level is 100000 bytes long; at most 1024");
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = parse("[api]\ntimeuot = \"1s\"").unwrap_err();
        assert!(err.contains("timeuot"), "{err}");
        assert!(err.starts_with("line 2"), "{err}");
    }

    #[test]
    fn batch_size_is_bounded_by_the_api() {
        assert!(parse("[batch]\nsize = 101")
            .unwrap_err()
            .contains("1 to 100"));
        assert!(parse("[batch]\nsize = 0").is_err());
        assert_eq!(parse("[batch]\nsize = 7").unwrap().batch.size.get(), 7);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(parse("[api]\nbase_url = \"http://127.0.0.1:8080\"").is_ok());
        assert!(parse("[api]\nbase_url = \"http://localhost:8080\"").is_ok());
        assert!(parse("[api]\nbase_url = \"http://[::1]:8080\"").is_ok());
        let err = parse("[api]\nbase_url = \"http://api.memories.ai\"").unwrap_err();
        assert!(err.contains("in clear"), "{err}");
        assert!(parse("[api]\nbase_url = \"https://user:pw@api.memories.ai\"").is_err());
    }

    #[test]
    fn bad_patterns_and_backoffs_are_refused() {
        assert!(parse("[batch]\nvideo_no_pattern = \"(\"").is_err());
        let err = parse("[schedule]\ntimezone = \"Mars/Olympus\"").unwrap_err();
        assert!(err.contains("IANA"), "{err}");
        let c = parse("[schedule]\ntimezone = \"Europe/Berlin\"").unwrap();
        assert_eq!(c.schedule.timezone.zone(), chrono_tz::Europe::Berlin);
        let c = parse("[retry]\ninitial_backoff = \"10s\"\nmax_backoff = \"1s\"").unwrap();
        assert!(c.check().is_err());
    }

    mod fuzz {
        //! No configuration text makes loading panic: it parses, or it is one error.
        use super::*;
        use proptest::prelude::*;

        const KEYS: [(&str, &[&str]); 10] = [
            (
                "api",
                &[
                    "base_url",
                    "delete_path",
                    "timeout",
                    "requests_per_second",
                    "concurrency",
                    "api_key_file",
                ],
            ),
            (
                "database",
                &["path", "url", "url_file", "busy_timeout", "sender_lease"],
            ),
            ("schedule", &["cron", "timezone"]),
            ("batch", &["size", "video_no_pattern"]),
            ("retry", &["max_attempts", "initial_backoff", "max_backoff"]),
            ("retention", &["keep"]),
            (
                "verify",
                &[
                    "before",
                    "absent_after",
                    "required",
                    "after",
                    "after_delay",
                    "after_rounds",
                ],
            ),
            ("lookup", &["requests_per_second"]),
            ("log", &["format", "level"]),
            ("nonsense", &["key"]),
        ];

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|n| format!("{n:?}")),
                Just("true".to_owned()),
                Just("\"0s\"".to_owned()),
                Just("\"18446744073709551615s\"".to_owned()),
                Just("\"http://10.0.0.1\"".to_owned()),
                Just("\"https://[::1]:99999\"".to_owned()),
                Just("\"* * * * * * *\"".to_owned()),
                Just("\"(\"".to_owned()),
                Just("[1, 2]".to_owned()),
                Just("{ a = 1 }".to_owned()),
                "\\PC{0,20}".prop_map(|s| serde_json::json!(s).to_string()),
                "[0-9]{1,20}(ms|s|m|h|d|w|M|y|x| days|years)".prop_map(|s| format!("{s:?}")),
            ]
        }

        /// Loading never panics, and what loads can be used in the arithmetic the daemon
        /// does with it (a retention reaching back, a lease, a request's deadline).
        fn check_text(text: &str) {
            if let Ok(config) = Config::parse(text) {
                let _ = config.summary();
                if config.check().is_ok() {
                    let now = chrono::Utc::now();
                    if let Some(keep) = config.retention.keep {
                        let _ = now - keep;
                    }
                    let _ = now + config.lease();
                    let _ = std::time::Instant::now() + config.lease() + config.retry.max_backoff;
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

            #[test]
            fn any_text(text in "\\PC{0,200}") {
                check_text(&text);
            }

            #[test]
            fn known_keys_any_values(
                entries in prop::collection::vec((0..KEYS.len(), 0..5usize, value()), 0..12)
            ) {
                let mut text = String::new();
                for (table, key, value) in entries {
                    let (table, keys) = KEYS[table];
                    text.push_str(&format!("[{table}]\n{} = {value}\n", keys[key % keys.len()]));
                }
                check_text(&text);
            }
        }
    }
}
