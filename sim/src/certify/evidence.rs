//! What a case's run showed, step by step: which event each step matched,
//! the step that deviated, and every frame observed. The same record comes
//! from a simulator run, a live `--serve` run (a real terminal) and a live
//! `--drive` run (a real host): each collects matcher [`Event`]s and calls
//! [`Evidence::of`]; the report renders [`Evidence::view`] as two columns
//! (`possim_reports::evidence`).
//!
//! ```
//! use possim_sim::certify::case::Step;
//! use possim_sim::certify::evidence::Evidence;
//! use possim_sim::certify::matcher::Event;
//! let frame = |seq: u64, mti: &str| Event {
//!     seq, at_ms: seq * 10, source: "frame", name: mti.into(),
//!     fields: serde_json::json!({"from": "T1", "to": "switch", "stan": 2, "fate": "delivered"}),
//!     line: String::new(),
//! };
//! let step = |mti: &str| Step { frame: Some(mti.into()), ..Step::default() };
//! let evidence = Evidence::of_steps(&[step("0200"), step("0400")], &[frame(1, "0200"), frame(2, "0210")]);
//! assert_eq!(evidence.deviation.as_ref().map(|d| d.step), Some(2));
//! assert_eq!(evidence.matched, vec![Some(1), None]);
//! assert_eq!(evidence.frames.len(), 2);
//! ```

use possim_reports::evidence::{CaseEvidence, EvidenceFrame, StepMark, StepRow, FRAMES_MAX};
use serde_json::Value;

use super::case::{compact, Case, Step};
use super::matcher::{match_steps, Deviation, Event};

/// A case's steps against one run's events.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Each step as written: `frame 0400 from=T1 code=98`,
    /// `never frame 0200 from=T1 until frame 0410 ...`.
    pub steps: Vec<String>,
    /// Per step, the seq of the event it matched; `None` for the
    /// deviating step and those after it, and for a `never` step without
    /// `until` (it has no event of its own).
    pub matched: Vec<Option<u64>>,
    /// The first step that did not hold.
    pub deviation: Option<Deviation>,
    /// Every frame event, in order.
    pub frames: Vec<Event>,
    /// Milliseconds of each matched event, by seq (for the view).
    times: Vec<(u64, u64)>,
    /// A complaint about the end state, set by the caller once the
    /// outcome was judged.
    pub outcome: Option<String>,
}

/// A step as one line.
pub fn describe_step(step: &Step) -> String {
    let mut text = match (&step.never, &step.until) {
        (Some(never), Some(until)) => {
            format!("never {} until {}", never.describe(), until.describe())
        }
        (Some(never), None) => format!("never {}", never.describe()),
        _ => step.pattern().describe(),
    };
    if let Some(window) = step.within_ms {
        text.push_str(&format!(" within {window} ms"));
    }
    text
}

impl Evidence {
    /// Matches the case's steps against `events` and keeps what a report
    /// shows.
    pub fn of(case: &Case, events: &[Event]) -> Evidence {
        Evidence::of_steps(&case.steps, events)
    }

    /// As [`Evidence::of`], for bare steps.
    pub fn of_steps(steps: &[Step], events: &[Event]) -> Evidence {
        let (seqs, deviation) = match match_steps(steps, events) {
            Ok(seqs) => (seqs, None),
            Err(deviation) => (deviation.matched.clone(), Some(deviation)),
        };
        let matched: Vec<Option<u64>> = steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let seq = seqs.get(index).copied()?;
                // A `never` step without `until` records the position it
                // judged from, not an event of its own.
                (step.never.is_none() || step.until.is_some()).then_some(seq)
            })
            .collect();
        let times = events
            .iter()
            .filter(|event| matched.contains(&Some(event.seq)))
            .map(|event| (event.seq, event.at_ms))
            .collect();
        Evidence {
            steps: steps.iter().map(describe_step).collect(),
            matched,
            deviation,
            frames: events.iter().filter(|event| event.source == "frame").cloned().collect(),
            times,
            outcome: None,
        }
    }

    /// Whether every step held.
    pub fn steps_held(&self) -> bool {
        self.deviation.is_none()
    }

    /// The record the HTML report renders.
    pub fn view(&self) -> CaseEvidence {
        let failed_at = self.deviation.as_ref().map(|deviation| deviation.step);
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let number = index + 1;
                let mark = match (failed_at, self.matched[index]) {
                    (Some(step), _) if step == number => {
                        let deviation = self.deviation.as_ref().expect("a deviation");
                        StepMark::Deviated {
                            expected: deviation.expected.clone(),
                            found: deviation.found.clone(),
                        }
                    }
                    (Some(step), _) if number > step => StepMark::NotReached,
                    (_, Some(seq)) => StepMark::Found { seq, at_ms: self.time_of(seq) },
                    (_, None) => StepMark::Held,
                };
                StepRow { text: text.clone(), mark }
            })
            .collect();
        let forbidden = self.deviation.as_ref().and_then(|deviation| deviation.forbidden);
        let frames = self
            .frames
            .iter()
            .take(FRAMES_MAX)
            .map(|event| frame_row(event, &self.matched, forbidden))
            .collect();
        CaseEvidence {
            steps,
            frames,
            frames_left_off: self.frames.len().saturating_sub(FRAMES_MAX),
            outcome: self.outcome.clone(),
        }
    }

    fn time_of(&self, seq: u64) -> u64 {
        self.times.iter().find(|(at, _)| *at == seq).map_or(0, |(_, ms)| *ms)
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(compact(other)),
    }
}

fn frame_row(event: &Event, matched: &[Option<u64>], forbidden: Option<u64>) -> EvidenceFrame {
    let field = |key: &str| text_of(&event.fields[key]);
    EvidenceFrame {
        seq: event.seq,
        at_ms: event.at_ms,
        from: field("from").unwrap_or_default(),
        to: field("to").unwrap_or_default(),
        mti: event.name.clone(),
        stan: event.fields["stan"].as_u64(),
        code: field("code"),
        fate: field("fate").unwrap_or_default(),
        step: matched.iter().position(|seq| *seq == Some(event.seq)).map(|index| index + 1),
        forbidden: forbidden == Some(event.seq),
    }
}
