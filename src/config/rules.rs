//! A lifecycle rule as the config states it (`[[rule]]`), parsed once: a rule that loads
//! has a name, namespaces, at least one condition, and bounds that hold. The `[rules]`
//! settings shared by every rule live here too.

use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{parse_duration_at_most, LONGEST_AGO};
use crate::printable;
use crate::schedule::CronRule;
use crate::video::Namespace;

/// The shortest `older_than`: a rule about fresher videos is a typo far more often than
/// a wish (`"90m"` for `"90d"`).
pub const SHORTEST_AGE: Duration = Duration::from_secs(24 * 3600);

/// The most videos one run may enqueue.
const MAX_PER_RUN: u64 = 1_000_000;

/// `[rules]`: what every rule shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Listing requests a second the rules may take of `[lookup] requests_per_second`,
    /// at most; they take only turns verification leaves free.
    pub lookup_share: super::RequestsPerSecond,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            lookup_share: super::RequestsPerSecond::ONE,
        }
    }
}

/// Reports or enqueues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only records and logs what it would enqueue.
    Report,
    /// Inserts what matches into `deletion_queue`.
    Enqueue,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::Enqueue => "enqueue",
        }
    }
}

/// Which namespaces a rule lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    These(Vec<Namespace>),
    /// Every namespace of the account (`list_unique_ids`).
    All,
}

/// One `[[rule]]`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    name: String,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    #[serde(default)]
    all_namespaces: bool,
    #[serde(default)]
    older_than: Option<String>,
    #[serde(default)]
    status: Option<Vec<String>>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    max_per_run: Option<i64>,
    #[serde(default)]
    stop_above: Option<i64>,
    #[serde(default)]
    stop_above_share: Option<f64>,
    #[serde(default)]
    schedule: Option<String>,
}

/// A rule that loaded: every bound holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Written")]
pub struct Rule {
    pub name: String,
    pub scope: Scope,
    pub older_than: Option<Duration>,
    pub status: Option<Vec<String>>,
    pub tag: Option<String>,
    pub mode: Mode,
    pub max_per_run: u64,
    pub stop_above: u64,
    pub stop_above_share: f64,
    /// `None`: the daemon's `[schedule]`.
    pub schedule: Option<CronRule>,
}

impl TryFrom<Written> for Rule {
    type Error = String;

    fn try_from(w: Written) -> Result<Self, String> {
        let valid_name = !w.name.is_empty()
            && w.name.len() <= 64
            && w.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid_name {
            return Err(format!(
                "rule name {} must be 1 to 64 letters, digits, '-', '_' or '.'",
                printable::quoted(&w.name, printable::QUOTED)
            ));
        }
        let name = w.name;
        let scope = match (w.namespaces, w.all_namespaces) {
            (Some(_), true) => {
                return Err(format!(
                    "rule {name}: namespaces and all_namespaces = true together; keep one"
                ))
            }
            (None, false) => {
                return Err(format!(
                    "rule {name}: says no namespace; name them (namespaces = [\"default\"]) \
                     or set all_namespaces = true"
                ))
            }
            (None, true) => Scope::All,
            (Some(list), false) => {
                if list.is_empty() {
                    return Err(format!("rule {name}: namespaces is empty"));
                }
                let mut parsed = Vec::with_capacity(list.len());
                for raw in &list {
                    let namespace =
                        Namespace::parse(raw).map_err(|e| format!("rule {name}: {e}"))?;
                    if !parsed.contains(&namespace) {
                        parsed.push(namespace);
                    }
                }
                Scope::These(parsed)
            }
        };
        let older_than = match w.older_than {
            None => None,
            Some(raw) => {
                let age = parse_duration_at_most(&raw, LONGEST_AGO)
                    .map_err(|e| format!("rule {name}: older_than {e}"))?;
                if age < SHORTEST_AGE {
                    return Err(format!(
                        "rule {name}: older_than {} is under one day; a rule about fresher \
                         videos is refused (did you mean days, \"90d\"?)",
                        printable::quoted(&raw, 40)
                    ));
                }
                Some(age)
            }
        };
        let status = match w.status {
            Some(list)
                if list.is_empty()
                    || list.iter().any(|s| {
                        s.is_empty()
                            || s.len() > 64
                            || s.chars().any(|c| c.is_whitespace() || c.is_control())
                    }) =>
            {
                return Err(format!(
                    "rule {name}: status must list states as the API names them, without \
                     spaces, e.g. [\"PARSE_ERROR\"]"
                ))
            }
            other => other,
        };
        let tag = match w.tag {
            Some(tag) if tag.trim().is_empty() => return Err(format!("rule {name}: tag is empty")),
            other => other,
        };
        if older_than.is_none() && status.is_none() && tag.is_none() {
            return Err(format!(
                "rule {name}: has no condition; give it older_than, status or tag (a rule \
                 without one would match every video)"
            ));
        }
        let count = |key: &str, value: Option<i64>, default: u64| -> Result<u64, String> {
            match value {
                None => Ok(default),
                Some(n) if (1..=MAX_PER_RUN as i64).contains(&n) => Ok(n as u64),
                Some(n) => Err(format!(
                    "rule {name}: {key} = {n} is out of range: 1 to {MAX_PER_RUN}"
                )),
            }
        };
        let max_per_run = count("max_per_run", w.max_per_run, 10_000)?;
        let stop_above = count("stop_above", w.stop_above, 50_000)?;
        let stop_above_share = match w.stop_above_share {
            None => 0.5,
            Some(share) if share > 0.0 && share <= 1.0 => share,
            Some(share) => {
                return Err(format!(
                    "rule {name}: stop_above_share = {share} is out of range: above 0, at most 1"
                ))
            }
        };
        let schedule = match w.schedule {
            None => None,
            Some(raw) => {
                Some(CronRule::parse(&raw).map_err(|e| format!("rule {name}: schedule: {e}"))?)
            }
        };
        Ok(Self {
            name,
            scope,
            older_than,
            status,
            tag,
            mode: w.mode.unwrap_or(Mode::Report),
            max_per_run,
            stop_above,
            stop_above_share,
            schedule,
        })
    }
}

impl Rule {
    /// What a rule's listings are kept for: a listing made under another definition (other
    /// namespaces, conditions, mode or limits) is set aside, not carried on. The schedule
    /// and `max_per_run` are left out: they change when, and how fast, not what.
    pub fn fingerprint(&self) -> String {
        let scope = match &self.scope {
            Scope::All => serde_json::Value::String("*".into()),
            Scope::These(list) => list.iter().map(|n| n.as_str()).collect(),
        };
        let mut status = self.status.clone().unwrap_or_default();
        status.sort();
        let text = serde_json::json!([
            self.name,
            scope,
            self.older_than.map(|d| d.as_secs()),
            status,
            self.tag,
            self.mode.as_str(),
            self.stop_above,
            self.stop_above_share,
        ])
        .to_string();
        let digest = Sha256::digest(text.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// `rule:NAME`, what the queue's `source` says of a row this rule enqueued.
    pub fn source(&self) -> String {
        format!("rule:{}", self.name)
    }

    /// The conditions in words, for logs and `rules plan`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(age) = self.older_than {
            parts.push(format!("older than {}", days(age)));
        }
        if let Some(status) = &self.status {
            parts.push(format!(
                "status in [{}]",
                printable::escaped(&status.join(", "))
            ));
        }
        if let Some(tag) = &self.tag {
            parts.push(format!(
                "tagged {}",
                printable::quoted(tag, printable::QUOTED)
            ));
        }
        let scope = match &self.scope {
            Scope::All => "every namespace".to_owned(),
            Scope::These(list) => list
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!("{} in {scope}", parts.join(", "))
    }
}

/// An age as a rule states it: whole days as days (`180 days`, where humantime says
/// `5months 27days 19h 12m`), anything else as humantime writes it.
fn days(age: Duration) -> String {
    match age.as_secs() {
        secs if secs % (24 * 3600) == 0 => format!("{} days", secs / (24 * 3600)),
        _ => humantime::format_duration(age).to_string(),
    }
}

/// The states the API's pages show (`shared/memories-api.md`): a rule naming another
/// matches nothing unless the API has more than its docs say; `check` warns.
pub const KNOWN_STATES: [&str; 5] = ["PARSE", "UNPARSE", "PARSE_ERROR", "FAILED", "FAIL"];

/// What is allowed in the rules but probably wrong.
pub fn warnings(rules: &[Rule]) -> Vec<String> {
    let mut warnings = Vec::new();
    for rule in rules {
        for state in rule.status.iter().flatten() {
            if !KNOWN_STATES.contains(&state.as_str()) {
                warnings.push(format!(
                    "rule {}: status {} is not one the API's docs show ({}): it may match nothing",
                    rule.name,
                    printable::quoted(state, printable::QUOTED),
                    KNOWN_STATES.join(", ")
                ));
            }
        }
    }
    warnings
}

/// Names must be unique: `rules confirm NAME` and the records go by it.
pub fn check_names(rules: &[Rule]) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        if rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(format!(
                "two rules are named {}: names must be unique",
                rule.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Result<Rule, String> {
        #[derive(Deserialize)]
        struct One {
            rule: Rule,
        }
        toml::from_str::<One>(text)
            .map(|o| o.rule)
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn a_rule_loads_with_its_defaults() {
        let r = rule(
            "[rule]\nname = \"tenant-a-90-days\"\nnamespaces = [\"tenant-a\"]\nolder_than = \"90d\"\n",
        )
        .unwrap();
        assert_eq!(r.mode, Mode::Report);
        assert_eq!(r.max_per_run, 10_000);
        assert_eq!(r.stop_above, 50_000);
        assert_eq!(r.stop_above_share, 0.5);
        assert_eq!(r.older_than, Some(Duration::from_secs(90 * 24 * 3600)));
        assert_eq!(r.source(), "rule:tenant-a-90-days");
    }

    #[test]
    fn what_cannot_be_meant_is_refused_with_one_line() {
        for (text, says) in [
            ("name = \"a\"\nall_namespaces = true\n", "has no condition"),
            ("name = \"a\"\nolder_than = \"90d\"\n", "says no namespace"),
            (
                "name = \"a\"\nall_namespaces = true\nnamespaces = [\"x\"]\nolder_than = \"9d\"\n",
                "together",
            ),
            (
                "name = \"a\"\nall_namespaces = true\nolder_than = \"90m\"\n",
                "under one day",
            ),
            (
                "name = \"a\"\nall_namespaces = true\nolder_than = \"23h\"\n",
                "under one day",
            ),
            (
                "name = \"a\"\nall_namespaces = true\nolder_than = \"soon\"\n",
                "not a duration",
            ),
            (
                "name = \"a b\"\nall_namespaces = true\ntag = \"x\"\n",
                "rule name",
            ),
            (
                "name = \"a\"\nall_namespaces = true\nstatus = []\n",
                "status must list",
            ),
            (
                "name = \"a\"\nall_namespaces = true\nstatus = [\"PARSE \"]\n",
                "status must list",
            ),
            (
                "name = \"a\"\nall_namespaces = true\ntag = \" \"\n",
                "tag is empty",
            ),
            (
                "name = \"a\"\nall_namespaces = true\ntag = \"x\"\nmax_per_run = 0\n",
                "out of range",
            ),
            (
                "name = \"a\"\nall_namespaces = true\ntag = \"x\"\nstop_above_share = 1.5\n",
                "out of range",
            ),
            (
                "name = \"a\"\nall_namespaces = true\ntag = \"x\"\nmode = \"delete\"\n",
                "unknown variant",
            ),
            (
                "name = \"a\"\nall_namespaces = true\ntag = \"x\"\nolder = \"9d\"\n",
                "unknown field",
            ),
            (
                "name = \"a\"\nnamespaces = []\ntag = \"x\"\n",
                "namespaces is empty",
            ),
            (
                "name = \"a\"\nall_namespaces = true\ntag = \"x\"\nschedule = \"soon\"\n",
                "fields",
            ),
        ] {
            let got = rule(&format!("[rule]\n{text}")).map(|_| ()).unwrap_err();
            assert!(got.contains(says), "{text:?}: {got}");
            assert!(!got.contains('\n'), "{got}");
        }
    }

    #[test]
    fn the_fingerprint_follows_what_the_rule_matches_not_when_it_runs() {
        let base = "[rule]\nname = \"a\"\nnamespaces = [\"x\"]\nolder_than = \"90d\"\n";
        let fp = |extra: &str| rule(&format!("{base}{extra}")).unwrap().fingerprint();
        assert_eq!(fp(""), fp("schedule = \"0 3 * * *\"\nmax_per_run = 5\n"));
        assert_ne!(fp(""), fp("stop_above = 5\n"));
        assert_ne!(fp(""), fp("mode = \"enqueue\"\n"));
        assert_ne!(fp(""), fp("tag = \"t\"\n"));
    }
}
