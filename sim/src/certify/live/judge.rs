//! A live case's verdict, from what possim recorded of it: the steps
//! matched by the simulator's matcher with the device's numbering judged by
//! symbols ([`Symbols`]), then the outcome's card balances at possim's own
//! issuers. The terminal's own counts (approved, reversed, ...) and batch
//! number are not on the wire: the verdict says they were not judged rather
//! than pretending. A step the run ended before judging is "not exercised",
//! never a pass.
//!
//! ```
//! use possim_sim::certify::live::judge::LiveVerdict;
//! assert_eq!(LiveVerdict::NotExercised("no terminal".into()).word(), "not_exercised");
//! ```

use super::super::case::{Case, Outcome};
use super::super::matcher::{events_of, match_steps_with};
use super::super::outcome::EndState;
use super::super::symbols::Symbols;
use crate::trace::Trace;

/// One live case's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveVerdict {
    /// Passed; the note says what was not judged live.
    Pass { note: String },
    /// The deviation.
    Fail(String),
    /// What never happened.
    NotExercised(String),
}

impl LiveVerdict {
    /// The protocol's word: `pass`, `fail`, `not_exercised`.
    pub fn word(&self) -> &'static str {
        match self {
            LiveVerdict::Pass { .. } => "pass",
            LiveVerdict::Fail(_) => "fail",
            LiveVerdict::NotExercised(_) => "not_exercised",
        }
    }

    pub fn why(&self) -> &str {
        match self {
            LiveVerdict::Pass { note } => note,
            LiveVerdict::Fail(why) | LiveVerdict::NotExercised(why) => why,
        }
    }
}

/// The outcome's parts a live run cannot see.
fn not_judged(outcome: &Outcome) -> Vec<&'static str> {
    let counts = [
        ("approved", outcome.approved.is_some()),
        ("declined", outcome.declined.is_some()),
        ("reversed", outcome.reversed.is_some()),
        ("refused", outcome.refused.is_some()),
        ("offline_uploaded", outcome.offline_uploaded.is_some()),
        ("settled", outcome.settled.is_some()),
        ("batch", outcome.batch.is_some()),
    ];
    counts.iter().filter(|(_, named)| *named).map(|(name, _)| *name).collect()
}

/// Judges `case` on the records of its live run.
pub fn judge(case: &Case, trace: &Trace) -> LiveVerdict {
    if trace.is_full() {
        return LiveVerdict::NotExercised(format!(
            "the recording of the case passed its bound of {} records and was cut",
            trace.len()
        ));
    }
    let events = events_of(trace.records());
    if let Err(deviation) = match_steps_with(&case.steps, &events, &mut Symbols::default()) {
        if deviation.found.starts_with("not exercised") {
            return LiveVerdict::NotExercised(deviation.to_string());
        }
        return LiveVerdict::Fail(deviation.to_string());
    }
    let state = EndState::of(trace);
    for (pan, expected) in &case.outcome.balances {
        let found = state.balances.get(pan).copied().unwrap_or(0);
        if found != *expected {
            return LiveVerdict::Fail(format!(
                "outcome balance of {pan}: expected {expected}; found {found}"
            ));
        }
    }
    let unseen = not_judged(&case.outcome);
    let note = if unseen.is_empty() {
        String::new()
    } else {
        format!(
            "outcome {} not judged: the terminal's own counts are not on the wire",
            unseen.join(", ")
        )
    };
    LiveVerdict::Pass { note }
}
