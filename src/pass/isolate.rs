//! Isolation: splitting a refused batch until the ids the API refuses stand alone.
//!
//! A state machine over a stack of parts. [`Isolation::next`] gives the ids to send next;
//! the pass reports what became of them with [`Isolation::went_through`] (settled: deleted
//! or failed) or [`Isolation::split`] (refused: halve it). One inference saves requests:
//! when the left half of a refused part goes through, the right half holds what was
//! refused, so it is split at once instead of being sent whole. Only a lone id's own answer
//! ever settles it: the inference decides what to send, never what the API said.

use crate::video::VideoNo;

#[derive(Debug)]
struct Part {
    ids: Vec<VideoNo>,
    /// The left half of a split: if it goes through, its sibling holds the refusal.
    left: bool,
    /// Holds what its refused parent was refused for: split before sending.
    culprit: bool,
    /// A refusal of it is confirmed (a half, or a whole batch refused once already).
    confirmed: bool,
}

/// The ids to send next, and whether a refusal of them is already confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    pub ids: Vec<VideoNo>,
    pub confirmed: bool,
}

#[derive(Debug)]
pub struct Isolation {
    stack: Vec<Part>,
    /// The part given out by `next`, until its fate is reported.
    current: Option<Part>,
}

impl Isolation {
    /// A claim's distinct ids, to be sent whole first.
    pub fn new(ids: Vec<VideoNo>) -> Self {
        Self {
            stack: vec![Part {
                ids,
                left: false,
                culprit: false,
                confirmed: false,
            }],
            current: None,
        }
    }

    /// The next ids to send; `None` when every id is settled.
    pub fn next(&mut self) -> Option<Next> {
        // A part not reported on is given out again.
        if let Some(part) = &self.current {
            return Some(Next {
                ids: part.ids.clone(),
                confirmed: part.confirmed,
            });
        }
        loop {
            let part = self.stack.pop()?;
            if part.culprit && part.ids.len() > 1 {
                // Sending it whole would only be refused again.
                self.push_halves(part);
                continue;
            }
            let next = Next {
                ids: part.ids.clone(),
                confirmed: part.confirmed,
            };
            self.current = Some(part);
            return Some(next);
        }
    }

    /// The ids last given out were deleted. When they were the left half of a refused
    /// part, the right half holds what was refused.
    pub fn went_through(&mut self) {
        if let Some(part) = self.current.take() {
            if part.left {
                if let Some(right) = self.stack.last_mut() {
                    right.culprit = true;
                }
            }
        }
    }

    /// The lone id last given out was refused for good (failed). It explains its parent's
    /// refusal as far as anyone knows: its sibling is sent whole.
    pub fn failed(&mut self) {
        self.current = None;
    }

    /// The ids last given out were refused as a whole: split them.
    pub fn split(&mut self) {
        if let Some(part) = self.current.take() {
            self.push_halves(part);
        }
    }

    /// In stack order: the right half first, so that the left one is sent first.
    fn push_halves(&mut self, mut part: Part) {
        if part.ids.len() < 2 {
            // A lone id cannot be split; given out again (the pass fails it, not this).
            self.stack.push(part);
            return;
        }
        let right = part.ids.split_off(part.ids.len() / 2);
        self.stack.push(Part {
            ids: right,
            left: false,
            culprit: false,
            confirmed: true,
        });
        self.stack.push(Part {
            ids: part.ids,
            left: true,
            culprit: false,
            confirmed: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::VideoNoRule;

    fn ids(range: std::ops::Range<u32>) -> Vec<VideoNo> {
        let rule = VideoNoRule::default();
        range
            .map(|n| rule.parse(&format!("VI{n}")).expect("valid"))
            .collect()
    }

    /// Drives the machine against an API that refuses any request holding one of `bad`,
    /// and returns the sizes of the requests sent, in order.
    fn requests_to_isolate(n: u32, bad: &[u32]) -> (Vec<usize>, Vec<VideoNo>) {
        let all = ids(0..n);
        let bad: Vec<VideoNo> = bad.iter().map(|b| all[*b as usize].clone()).collect();
        let mut machine = Isolation::new(all);
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        while let Some(next) = machine.next() {
            sent.push(next.ids.len());
            let refused = next.ids.iter().any(|id| bad.contains(id));
            match (refused, next.ids.len()) {
                (false, _) => machine.went_through(),
                (true, 1) => {
                    failed.push(next.ids[0].clone());
                    machine.failed();
                }
                (true, _) => machine.split(),
            }
            assert!(sent.len() < 1000, "no end");
        }
        (sent, failed)
    }

    #[test]
    fn a_batch_that_goes_through_is_one_request() {
        let (sent, failed) = requests_to_isolate(100, &[]);
        assert_eq!(sent, vec![100]);
        assert!(failed.is_empty());
    }

    #[test]
    fn a_refused_right_half_is_split_without_being_sent_whole() {
        // The left half goes through each time, so its sibling is split at once: one
        // request per level, and the lone id.
        let (sent, failed) = requests_to_isolate(100, &[99]);
        assert_eq!(failed, ids(99..100));
        assert_eq!(sent, vec![100, 50, 25, 12, 6, 3, 2, 1, 1]);
    }

    #[test]
    fn one_bad_id_anywhere_costs_at_most_two_requests_a_level() {
        for bad in 0..100 {
            let (sent, failed) = requests_to_isolate(100, &[bad]);
            assert_eq!(failed, ids(bad..bad + 1));
            // The whole, then at most two requests at each of the 7 levels.
            assert!(sent.len() <= 1 + 2 * 7, "id {bad}: {sent:?}");
        }
    }

    #[test]
    fn a_bad_id_in_the_left_half_sends_the_right_half_whole() {
        let (sent, failed) = requests_to_isolate(4, &[0]);
        assert_eq!(failed, ids(0..1));
        // 4 refused; [0,1] refused; [0] refused (failed); [1] ok; [2,3] ok, sent whole:
        // a failed id does not make its sibling a suspect.
        assert_eq!(sent, vec![4, 2, 1, 1, 2]);
        let (sent, _) = requests_to_isolate(3, &[1]);
        // 3 refused; [0] ok, so [1,2] is split at once; [1] refused; [2] ok.
        assert_eq!(sent, vec![3, 1, 1, 1]);
    }

    #[test]
    fn every_bad_id_is_found_and_only_those() {
        for bad in [vec![0, 1, 2], vec![5, 50, 95], (0..10).collect::<Vec<_>>()] {
            let (_, failed) = requests_to_isolate(100, &bad);
            let want: Vec<VideoNo> = bad.iter().map(|b| ids(*b..*b + 1)[0].clone()).collect();
            let mut failed = failed;
            failed.sort();
            let mut want = want;
            want.sort();
            assert_eq!(failed, want);
        }
    }

    #[test]
    fn only_the_claims_first_sending_is_unconfirmed() {
        let mut machine = Isolation::new(ids(0..4));
        let first = machine.next().expect("the whole");
        assert!(!first.confirmed);
        machine.split();
        let half = machine.next().expect("a half");
        assert!(half.confirmed);
        assert_eq!(half.ids, ids(0..2));
    }

    #[test]
    fn a_part_not_reported_on_is_given_out_again() {
        let mut machine = Isolation::new(ids(0..3));
        let first = machine.next();
        assert_eq!(machine.next(), first);
        machine.went_through();
        assert_eq!(machine.next(), None);
    }

    #[test]
    fn a_lone_id_told_to_split_is_given_out_again() {
        let mut machine = Isolation::new(ids(0..1));
        machine.next();
        machine.split();
        assert_eq!(machine.next().map(|n| n.ids), Some(ids(0..1)));
    }
}
