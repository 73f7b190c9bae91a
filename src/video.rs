//! Video numbers and namespaces, parsed once at the edge so that nothing past it can hold
//! an invalid one.
//!
//! A `VideoNo` can only be made by a [`VideoNoRule`], which applies the checks every id must
//! pass (not empty, no whitespace or control characters, not absurdly long) and then the
//! configured pattern (default `VI` followed by digits).

use std::fmt;

use regex::Regex;

use crate::printable;

/// The longest video number accepted. The API documents no length; real ones are 20
/// characters, so anything near this is a producer's bug, not a video.
pub const MAX_VIDEO_NO_LEN: usize = 64;

/// The default pattern: `VI` followed by digits, as every documented video number is.
pub const DEFAULT_VIDEO_NO_PATTERN: &str = "^VI[0-9]+$";

/// A video number that passed the rule in force.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VideoNo(String);

impl VideoNo {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Escaped: a lax `video_no_pattern` can let a direction override through.
impl fmt::Display for VideoNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable::escaped(&self.0))
    }
}

/// Why a string is not a video number; the text is what lands in `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVideoNo {
    #[error("invalid video number: empty")]
    Empty,
    #[error("invalid video number: contains whitespace or a control character")]
    BadCharacter,
    #[error("invalid video number: longer than {MAX_VIDEO_NO_LEN} characters")]
    TooLong,
    #[error("invalid video number: does not match the pattern {}", printable::quoted(.0, printable::QUOTED))]
    Pattern(String),
}

/// The checks a video number must pass; built from `batch.video_no_pattern`.
#[derive(Debug, Clone)]
pub struct VideoNoRule {
    pattern: Regex,
}

impl VideoNoRule {
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            pattern: Regex::new(pattern)?,
        })
    }

    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    pub fn parse(&self, raw: &str) -> Result<VideoNo, InvalidVideoNo> {
        if raw.is_empty() {
            return Err(InvalidVideoNo::Empty);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidVideoNo::BadCharacter);
        }
        if raw.len() > MAX_VIDEO_NO_LEN {
            return Err(InvalidVideoNo::TooLong);
        }
        if !self.pattern.is_match(raw) {
            return Err(InvalidVideoNo::Pattern(self.pattern.as_str().to_owned()));
        }
        Ok(VideoNo(raw.to_owned()))
    }
}

impl Default for VideoNoRule {
    fn default() -> Self {
        // The default pattern is a constant that the tests below compile.
        Self::new(DEFAULT_VIDEO_NO_PATTERN).expect("default pattern compiles")
    }
}

/// A `unique_id` namespace: the uploader's own string. The API documents no restriction
/// beyond non-empty, so only what cannot be meant is refused: empty, control characters,
/// more than 128 characters (the schema's limit). Spaces and any other character are
/// kept, and percent-encoded in the request's query string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let shown = printable::quoted(raw, printable::QUOTED);
        if raw.is_empty() || raw.chars().count() > 128 {
            return Err(format!(
                "invalid namespace {shown}: it must be 1 to 128 characters"
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(format!(
                "invalid namespace {shown}: control characters are not allowed"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == "default"
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("default".to_owned())
    }
}

/// Escaped: a namespace may hold any printable character, direction overrides too.
impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable::escaped(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_video_numbers() {
        let rule = VideoNoRule::default();
        assert_eq!(
            rule.parse("VI606404158946574336").unwrap().as_str(),
            "VI606404158946574336"
        );
    }

    #[test]
    fn rejects_what_cannot_be_a_video_number() {
        let rule = VideoNoRule::default();
        assert_eq!(rule.parse(""), Err(InvalidVideoNo::Empty));
        assert_eq!(rule.parse("VI1 2"), Err(InvalidVideoNo::BadCharacter));
        assert_eq!(rule.parse(" VI12"), Err(InvalidVideoNo::BadCharacter));
        assert_eq!(rule.parse("VI12\u{7}"), Err(InvalidVideoNo::BadCharacter));
        let long = format!("VI{}", "1".repeat(MAX_VIDEO_NO_LEN));
        assert_eq!(rule.parse(&long), Err(InvalidVideoNo::TooLong));
        assert!(matches!(
            rule.parse("PI-123"),
            Err(InvalidVideoNo::Pattern(_))
        ));
        assert!(matches!(
            rule.parse("VI12a"),
            Err(InvalidVideoNo::Pattern(_))
        ));
    }

    #[test]
    fn the_pattern_is_configurable() {
        let rule = VideoNoRule::new("^(VI[0-9]+|PI-[0-9]+)$").unwrap();
        assert!(rule.parse("PI-123").is_ok());
        assert!(rule.parse("VI123").is_ok());
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(Namespace::parse("tenant-42").is_ok());
        // The uploader's strings, whatever they hold.
        for kept in [
            "Tenant B",
            " padded ",
            "ünïcode/ünd?&=#%",
            "a\u{202e}b",
            "x".repeat(128).as_str(),
        ] {
            assert_eq!(
                Namespace::parse(kept).map(|n| n.as_str().to_owned()),
                Ok(kept.to_owned())
            );
        }
        assert!(Namespace::parse("").is_err());
        assert!(Namespace::parse("a\nb").is_err());
        assert!(Namespace::parse("a\u{0}b").is_err());
        assert!(Namespace::parse("a\u{7f}b").is_err());
        assert!(Namespace::parse(&"x".repeat(129)).is_err());
        assert!(Namespace::default().is_default());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

            /// Only what the default rule describes gets through, unchanged; the same for
            /// namespaces and their rule.
            #[test]
            fn only_valid_ids_parse(raw in prop_oneof!["\\PC{0,80}", "VI[0-9]{0,70}", "\\s*VI[0-9]{18}\\s*"]) {
                let looks_valid = raw.len() <= MAX_VIDEO_NO_LEN
                    && raw.strip_prefix("VI").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
                match VideoNoRule::default().parse(&raw) {
                    Ok(id) => {
                        prop_assert!(looks_valid, "{raw:?} parsed");
                        prop_assert_eq!(id.as_str(), raw.as_str());
                    }
                    Err(_) => prop_assert!(!looks_valid, "{raw:?} refused"),
                }
                if let Ok(ns) = Namespace::parse(&raw) {
                    prop_assert_eq!(ns.as_str(), raw.as_str());
                    prop_assert!(!raw.is_empty() && raw.chars().count() <= 128 && !raw.chars().any(char::is_control));
                }
            }
        }
    }
}
