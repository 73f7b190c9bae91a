//! What a rule makes of a listing, decided in two pure, table-tested functions: whether one
//! listed video matches ([`matches`]), and whether a listing may be enqueued or trips a
//! wire ([`wires`]). Everything is decided from what the listing itself says of each
//! video, never from the API's filters: an API that ignored a filter must not widen a rule.

use crate::api::ListedVideo;
use crate::config::rules::{Rule, SHORTEST_AGE};
use crate::queue::rules::NamespaceTally;

/// What a rule makes of one listed video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Yes,
    No,
    /// A field the rule needs is missing or unreadable: never matched, and counted.
    Unreadable,
}

impl Match {
    /// As `rule_snapshot.matched` stores it.
    pub fn code(self) -> i64 {
        match self {
            Self::No => 0,
            Self::Yes => 1,
            Self::Unreadable => 2,
        }
    }
}

/// The earliest `create_time` believed: 2000-01-01 in Unix milliseconds. Anything earlier
/// is a time in seconds, a 0, or a stand-in's number, never an upload of this API: read as
/// milliseconds it would make every video decades old.
pub const EARLIEST_UPLOAD_MS: i64 = 946_684_800_000;

/// Whether `video` matches `rule`, ages counted at `now_ms` (the listing's time). Every
/// rule, with `older_than` or without, matches only videos at least
/// [`SHORTEST_AGE`](crate::config::rules::SHORTEST_AGE) old: a rule on a state or a tag never takes
/// a fresh upload.
pub fn matches(rule: &Rule, video: &ListedVideo, now_ms: i64) -> Match {
    let mut verdict = Match::Yes;
    let age = rule.older_than.unwrap_or(SHORTEST_AGE).max(SHORTEST_AGE);
    match video.create_ms {
        None => return Match::Unreadable,
        Some(created) if created < EARLIEST_UPLOAD_MS => return Match::Unreadable,
        Some(created) => {
            let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
            // Younger, or stamped in the future: not old enough.
            if now_ms.saturating_sub(created) < age_ms || created > now_ms {
                verdict = Match::No;
            }
        }
    }
    if let Some(states) = &rule.status {
        match &video.status {
            None => return Match::Unreadable,
            Some(status) if !states.iter().any(|s| s == status) => verdict = Match::No,
            Some(_) => {}
        }
    }
    if let Some(tag) = &rule.tag {
        if !video.tags.as_ref().is_some_and(|tags| tags.contains(tag)) {
            verdict = Match::No;
        }
    }
    verdict
}

/// One namespace of a finished listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub namespace: String,
    /// Distinct videos the listing showed.
    pub listed: u64,
    pub matched: u64,
}

impl Counted {
    /// A namespace as the queue counted it.
    pub fn of(tally: &NamespaceTally) -> Self {
        Self {
            namespace: tally.namespace.clone(),
            listed: tally.listed.unsigned_abs(),
            matched: tally.matched.unsigned_abs(),
        }
    }
}

/// Whether a finished listing may be enqueued.
#[derive(Debug, Clone, PartialEq)]
pub enum Wires {
    Clear,
    /// Enqueue nothing until the operator confirms it or changes the rule; why, in words.
    Tripped(String),
}

/// The trip-wires: more matches than `stop_above` in all, or more than `stop_above_share`
/// of one namespace's videos, and the listing enqueues nothing unconfirmed.
pub fn wires(rule: &Rule, counted: &[Counted]) -> Wires {
    let total: u64 = counted.iter().map(|c| c.matched).sum();
    if total > rule.stop_above {
        return Wires::Tripped(format!(
            "{total} videos match, more than stop_above = {}",
            rule.stop_above
        ));
    }
    for c in counted {
        if c.listed > 0 && c.matched as f64 > rule.stop_above_share * c.listed as f64 {
            return Wires::Tripped(format!(
                "{} of the {} videos of namespace {} match, more than stop_above_share = {}",
                c.matched,
                c.listed,
                crate::printable::quoted(&c.namespace, crate::printable::QUOTED),
                rule.stop_above_share
            ));
        }
    }
    Wires::Clear
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;
    const NOW: i64 = 1_800_000_000_000;

    fn rule(extra: &str) -> Rule {
        #[derive(serde::Deserialize)]
        struct One {
            rule: Rule,
        }
        let text = format!("[rule]\nname = \"r\"\nall_namespaces = true\n{extra}");
        toml::from_str::<One>(&text).unwrap().rule
    }

    fn video(create_ms: Option<i64>, status: Option<&str>, tags: Option<&[&str]>) -> ListedVideo {
        ListedVideo {
            video_no: "VI1".into(),
            create_ms,
            status: status.map(str::to_owned),
            tags: tags.map(|t| t.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn a_video_matches_only_on_what_its_listing_says() {
        let age = rule("older_than = \"90d\"");
        let failed = rule("status = [\"PARSE_ERROR\", \"FAILED\"]");
        let tagged = rule("tag = \"scratch\"");
        let all = rule("older_than = \"30d\"\nstatus = [\"PARSE\"]\ntag = \"scratch\"");
        let old = Some(NOW - 91 * DAY);
        for (rule, video, expected) in [
            (&age, video(old, None, None), Match::Yes),
            (&age, video(Some(NOW - 90 * DAY), None, None), Match::Yes),
            (&age, video(Some(NOW - 90 * DAY + 1), None, None), Match::No),
            (&age, video(Some(NOW + DAY), None, None), Match::No),
            (&age, video(None, Some("PARSE"), None), Match::Unreadable),
            // Milliseconds since 2000, or it cannot be judged: seconds, 0, a small number.
            (
                &age,
                video(Some((NOW - 91 * DAY) / 1000), None, None),
                Match::Unreadable,
            ),
            (&age, video(Some(0), None, None), Match::Unreadable),
            (&age, video(Some(12345), None, None), Match::Unreadable),
            (
                &age,
                video(Some(EARLIEST_UPLOAD_MS), None, None),
                Match::Yes,
            ),
            (&failed, video(old, Some("PARSE_ERROR"), None), Match::Yes),
            (&failed, video(old, Some("FAILED"), None), Match::Yes),
            (&failed, video(old, Some("PARSE"), None), Match::No),
            (&failed, video(old, Some("parse_error"), None), Match::No),
            (&failed, video(old, None, None), Match::Unreadable),
            // Without older_than, still never a video under a day old.
            (
                &failed,
                video(Some(NOW - DAY + 1), Some("PARSE_ERROR"), None),
                Match::No,
            ),
            (
                &failed,
                video(Some(NOW - DAY), Some("PARSE_ERROR"), None),
                Match::Yes,
            ),
            (
                &failed,
                video(None, Some("PARSE_ERROR"), None),
                Match::Unreadable,
            ),
            (
                &tagged,
                video(old, None, Some(&["a", "scratch"])),
                Match::Yes,
            ),
            (&tagged, video(old, None, Some(&["scratched"])), Match::No),
            (&tagged, video(old, None, None), Match::No),
            (
                &tagged,
                video(Some(NOW - 3_600_000), None, Some(&["scratch"])),
                Match::No,
            ),
            (
                &all,
                video(old, Some("PARSE"), Some(&["scratch"])),
                Match::Yes,
            ),
            (
                &all,
                video(old, Some("UNPARSE"), Some(&["scratch"])),
                Match::No,
            ),
            (
                &all,
                video(Some(NOW - DAY), Some("PARSE"), Some(&["scratch"])),
                Match::No,
            ),
            (&all, video(old, Some("PARSE"), None), Match::No),
            (
                &all,
                video(None, Some("PARSE"), Some(&["scratch"])),
                Match::Unreadable,
            ),
        ] {
            assert_eq!(matches(rule, &video, NOW), expected, "{video:?}");
        }
    }

    #[test]
    fn a_listing_trips_on_the_total_or_on_one_namespace_s_share() {
        let r = rule("older_than = \"90d\"\nstop_above = 100\nstop_above_share = 0.5");
        let ns = |namespace: &str, listed, matched| Counted {
            namespace: namespace.into(),
            listed,
            matched,
        };
        assert_eq!(wires(&r, &[ns("a", 1000, 100)]), Wires::Clear);
        assert_eq!(
            wires(&r, &[ns("a", 200, 100), ns("b", 10, 0)]),
            Wires::Clear
        );
        assert_eq!(wires(&r, &[]), Wires::Clear);
        assert_eq!(wires(&r, &[ns("a", 0, 0)]), Wires::Clear);
        for counted in [
            vec![ns("a", 1000, 101)],
            vec![ns("a", 1000, 60), ns("b", 1000, 41)],
            vec![ns("a", 199, 100)],
            vec![ns("a", 1000, 0), ns("b", 3, 2)],
        ] {
            assert!(
                matches!(wires(&r, &counted), Wires::Tripped(_)),
                "{counted:?}"
            );
        }
    }
}
