//! A live case's verdict, from what possim recorded of it: the steps
//! matched by the simulator's matcher with the device's numbering judged by
//! symbols ([`Symbols`]), then the outcome as a live run against a terminal
//! sees it ([`outcome::check_live`]: the card balances at possim's own
//! issuers). The terminal's own counts and batch number are not on the
//! wire: the verdict says they were not judged rather than pretending. A
//! step the run ended before judging is "not exercised", never a pass.
//!
//! ```
//! use possim_sim::certify::live::judge::LiveVerdict;
//! assert_eq!(LiveVerdict::NotExercised("no terminal".into()).word(), "not_exercised");
//! ```

use super::super::case::{Case, Device};
use super::super::evidence::Evidence;
use super::super::matcher::events_of;
use super::super::outcome::{self, opening_balances, EndState};
use super::super::symbols::Symbols;
use crate::scenario::compile::CompiledScenario;
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

/// Judges `case` on the records of its live run against `scenario` (the
/// case's, the device's identity in place): the verdict, and the evidence
/// (its steps beside the frames) for the report.
pub fn judge(case: &Case, scenario: &CompiledScenario, trace: &Trace) -> (LiveVerdict, Evidence) {
    let events = events_of(trace.records());
    let mut evidence = Evidence::of_steps_with(&case.steps, &events, &mut Symbols::default());
    if trace.is_full() {
        let why = format!(
            "the recording of the case passed its bound of {} records and was cut",
            trace.len()
        );
        return (LiveVerdict::NotExercised(why), evidence);
    }
    if let Some(deviation) = &evidence.deviation {
        let verdict = if deviation.found.starts_with("not exercised") {
            LiveVerdict::NotExercised(deviation.to_string())
        } else {
            LiveVerdict::Fail(deviation.to_string())
        };
        return (verdict, evidence);
    }
    let state = EndState::of_events(&opening_balances(scenario), &events);
    match outcome::check_live(&case.outcome, Device::Terminal, &state) {
        Err(why) => {
            evidence.outcome = Some(why.clone());
            (LiveVerdict::Fail(why), evidence)
        }
        Ok(unseen) if unseen.is_empty() => (LiveVerdict::Pass { note: String::new() }, evidence),
        Ok(unseen) => {
            let note = format!(
                "outcome {} not judged: the terminal's own counts are not on the wire",
                unseen.join(", ")
            );
            (LiveVerdict::Pass { note }, evidence)
        }
    }
}
