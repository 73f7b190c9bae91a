//! What an answer means for the ids it was about: the one place that decides.
//!
//! [`decide`] is pure: from the API's verdict and what the pass knows of these ids (how
//! many transient failures this pass, whether they are one id or many, how often the API
//! refused this id before) to what the pass does next. `api::classify` says what an answer
//! *is*; this says what it *means here*. The splitting itself is [`super::isolate`].
//!
//! Two rules shape the table:
//! - **An outage never fails a row.** Transient answers are retried; past
//!   `retry.max_attempts` the pass gives up and the rows wait for the next one.
//! - **One refusal is not proof.** The vendor's own client treats `0001` as a generic
//!   transient answer. A refused batch is sent whole once more before it is split (halves
//!   of a confirmed refusal split at once); a lone id is failed only after
//!   `isolation.confirmations` refusals, counted on its row across passes and restarts.

use std::time::Duration;

use crate::api::Verdict;

/// What the pass knows when an answer comes back.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    /// Transient failures of these ids earlier in this pass.
    pub failures: u32,
    /// `retry.max_attempts`: transient failures allowed, the last one included.
    pub max_attempts: u32,
    /// One video number (a refusal then points at it), or several.
    pub lone: bool,
    /// Refusals the lone id's rows carry from earlier answers (0 for a batch).
    pub refusals: u32,
    /// `isolation.confirmations`: refusals that fail a lone id.
    pub confirmations: u32,
    /// Whether a refusal of these ids is already confirmed: true for the halves of a split
    /// and for a batch the API refused once before; false for a claim's first sending.
    pub confirmed: bool,
}

/// What the pass does next with the ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The videos are deleted: settle the rows `deleted`.
    Deleted,
    /// A lone id refused `confirmations` times: settle its rows `failed`.
    Failed,
    /// Transient: wait (backoff, at least `Retry-After`) and send the same ids again.
    Retry { retry_after: Option<Duration> },
    /// Refused, not yet proven: wait (backoff) and send the same ids again. A lone id's
    /// rows count the refusal.
    Confirm,
    /// Some id in the request is refused: split it in halves (`isolate`).
    Split,
    /// Transient failures outlasted `retry.max_attempts`: stop the pass, rows pending.
    GiveUp,
    /// Key, account or configuration: stop the pass at once, rows pending.
    Stop,
}

impl Action {
    /// Whether the API answered in a way that shows it is working (the window opens):
    /// anything but a transient failure or a stop.
    pub fn api_is_well(self) -> bool {
        !matches!(self, Self::Retry { .. } | Self::GiveUp | Self::Stop)
    }

    /// Whether this answer is one more refusal on a lone id's rows.
    pub fn counts_refusal(self, situation: &Situation, verdict: &Verdict) -> bool {
        situation.lone
            && *verdict == Verdict::Rejected
            && matches!(self, Self::Confirm | Self::Failed)
    }
}

/// The decision table. Every row of it is a case in the tests below.
pub fn decide(verdict: &Verdict, s: &Situation) -> Action {
    match verdict {
        Verdict::Deleted => Action::Deleted,
        // A lone id answered 0409 was deleted before (by us, in a request whose answer was
        // lost, or by someone else). In a batch, some id was: find it.
        Verdict::Duplicate if s.lone => Action::Deleted,
        Verdict::Duplicate => Action::Split,
        Verdict::Rejected if s.lone && s.refusals.saturating_add(1) >= s.confirmations => {
            Action::Failed
        }
        Verdict::Rejected if s.lone => Action::Confirm,
        Verdict::Rejected if s.confirmed => Action::Split,
        Verdict::Rejected => Action::Confirm,
        Verdict::Retry { .. } if s.failures.saturating_add(1) >= s.max_attempts => Action::GiveUp,
        Verdict::Retry { retry_after } => Action::Retry {
            retry_after: *retry_after,
        },
        Verdict::Stop => Action::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LATER: Option<Duration> = Some(Duration::from_secs(7));

    fn batch(failures: u32, confirmed: bool) -> Situation {
        Situation {
            failures,
            max_attempts: 5,
            lone: false,
            refusals: 0,
            confirmations: 3,
            confirmed,
        }
    }

    fn lone(failures: u32, refusals: u32) -> Situation {
        Situation {
            lone: true,
            refusals,
            ..batch(failures, true)
        }
    }

    #[test]
    fn the_table() {
        use Action::*;
        let retry = Verdict::Retry { retry_after: LATER };
        #[rustfmt::skip]
        let table: &[(&str, Verdict, Situation, Action)] = &[
            ("success deletes a batch",                 Verdict::Deleted,   batch(0, false), Deleted),
            ("success deletes a lone id",               Verdict::Deleted,   lone(0, 2),      Deleted),
            ("success after failures deletes",          Verdict::Deleted,   batch(4, true),  Deleted),
            ("0409 on a lone id: deleted before",       Verdict::Duplicate, lone(0, 0),      Deleted),
            ("0409 on a batch: find the id",            Verdict::Duplicate, batch(0, false), Split),
            ("0409 on a half: find the id",             Verdict::Duplicate, batch(0, true),  Split),
            ("first refusal of a claim: confirm",       Verdict::Rejected,  batch(0, false), Confirm),
            ("refusal confirmed: split",                Verdict::Rejected,  batch(0, true),  Split),
            ("refusal after failures, unconfirmed",     Verdict::Rejected,  batch(3, false), Confirm),
            ("lone id, first refusal: confirm",         Verdict::Rejected,  lone(0, 0),      Confirm),
            ("lone id, second refusal: confirm",        Verdict::Rejected,  lone(0, 1),      Confirm),
            ("lone id, third refusal: failed",          Verdict::Rejected,  lone(0, 2),      Failed),
            ("lone id, refused more than enough",       Verdict::Rejected,  lone(0, 9),      Failed),
            ("transient: retry with Retry-After",       retry.clone(),      batch(0, false), Retry { retry_after: LATER }),
            ("transient on a lone id: retry",           retry.clone(),      lone(3, 2),      Retry { retry_after: LATER }),
            ("fifth transient failure: give up",        retry.clone(),      batch(4, false), GiveUp),
            ("transient past the budget: give up",      retry.clone(),      lone(7, 0),      GiveUp),
            ("key refused: stop",                       Verdict::Stop,      batch(0, false), Stop),
            ("key refused on a lone id: stop",          Verdict::Stop,      lone(0, 2),      Stop),
        ];
        for (case, verdict, situation, want) in table {
            assert_eq!(decide(verdict, situation), *want, "{case}");
        }
    }

    #[test]
    fn one_confirmation_fails_at_the_first_refusal() {
        let s = Situation {
            confirmations: 1,
            ..lone(0, 0)
        };
        assert_eq!(decide(&Verdict::Rejected, &s), Action::Failed);
    }

    #[test]
    fn counters_at_their_limits_do_not_overflow() {
        let s = Situation {
            failures: u32::MAX,
            refusals: u32::MAX,
            ..lone(0, 0)
        };
        assert_eq!(
            decide(&Verdict::Retry { retry_after: None }, &s),
            Action::GiveUp
        );
        assert_eq!(decide(&Verdict::Rejected, &s), Action::Failed);
    }

    #[test]
    fn refusals_are_counted_only_on_a_lone_id_refused() {
        let s = lone(0, 0);
        let confirm = decide(&Verdict::Rejected, &s);
        assert!(confirm.counts_refusal(&s, &Verdict::Rejected));
        let b = batch(0, false);
        assert!(!decide(&Verdict::Rejected, &b).counts_refusal(&b, &Verdict::Rejected));
        let retry = Verdict::Retry { retry_after: None };
        assert!(!decide(&retry, &s).counts_refusal(&s, &retry));
    }

    #[test]
    fn the_window_opens_on_any_answer_but_trouble() {
        assert!(Action::Deleted.api_is_well());
        assert!(Action::Confirm.api_is_well());
        assert!(Action::Split.api_is_well());
        assert!(!Action::Retry { retry_after: None }.api_is_well());
        assert!(!Action::GiveUp.api_is_well());
        assert!(!Action::Stop.api_is_well());
    }
}
