//! A failing case's evidence, side by side: on the left the case's steps in
//! order, each found (with its event's seq and time), the one that
//! deviated (expected and found) or not reached; on the right every frame
//! the run saw, the frames a step matched highlighted. The simulator, a
//! live `--serve` run and a live `--drive` run fill in the same record, so
//! a deviation reads the same whichever device was judged.
//!
//! ```
//! use possim_reports::evidence::{html, CaseEvidence, EvidenceFrame, StepMark, StepRow};
//! let evidence = CaseEvidence {
//!     steps: vec![
//!         StepRow { text: "frame 0200 from=T1".into(), mark: StepMark::Found { seq: 12, at_ms: 10_000 } },
//!         StepRow {
//!             text: "frame 0400 code=98".into(),
//!             mark: StepMark::Deviated { expected: "frame 0400 code=98".into(), found: "#20 ...".into() },
//!         },
//!     ],
//!     frames: vec![EvidenceFrame {
//!         seq: 12, at_ms: 10_000, from: "T1".into(), to: "switch".into(), mti: "0200".into(),
//!         stan: Some(2), code: None, fate: "delivered".into(), step: Some(1), forbidden: false,
//!     }],
//!     frames_left_off: 0,
//!     outcome: None,
//! };
//! let page = html(&evidence);
//! assert!(page.contains("frame 0400 code=98"));
//! assert!(page.contains("class=\"matched\""));
//! ```

use std::fmt::Write;

use crate::escape;

/// The evidence tables' stylesheet, inlined by the suite page.
pub const CSS: &str = "table.evidence>tbody>tr>td{padding:0 .6em 0 0;border:none}\
tr.found td:last-child{color:#176f2c}tr.deviated{background:#fbe3e6}\
tr.not-reached{color:#888}tr.matched{background:#fff3b0}tr.forbidden{background:#f4b6bf}";

/// Frames listed for one case; a longer run says how many were left off.
pub const FRAMES_MAX: usize = 2_000;

/// What became of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMark {
    /// Its event: seq and milliseconds since the run began.
    Found { seq: u64, at_ms: u64 },
    /// A `never` step that held to the end (no event of its own).
    Held,
    /// The first step that did not hold.
    Deviated { expected: String, found: String },
    /// After the deviation: not judged.
    NotReached,
}

/// One step of the case, as written, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub text: String,
    pub mark: StepMark,
}

/// One frame the run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFrame {
    pub seq: u64,
    pub at_ms: u64,
    pub from: String,
    pub to: String,
    pub mti: String,
    pub stan: Option<u64>,
    /// Field 39.
    pub code: Option<String>,
    /// delivered, dropped, corrupted, ...
    pub fate: String,
    /// The step (1-based) this frame matched.
    pub step: Option<usize>,
    /// A frame a `never` step forbade.
    pub forbidden: bool,
}

/// A case's steps beside the frames observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseEvidence {
    pub steps: Vec<StepRow>,
    /// At most [`FRAMES_MAX`], in the order seen.
    pub frames: Vec<EvidenceFrame>,
    pub frames_left_off: usize,
    /// The outcome's complaint, when every step held but the end state
    /// did not.
    pub outcome: Option<String>,
}

fn seconds(ms: u64) -> String {
    format!("+{}.{:03}s", ms / 1000, ms % 1000)
}

/// The two columns as one HTML table (no script, no external style).
pub fn html(evidence: &CaseEvidence) -> String {
    let mut out = String::new();
    out.push_str(
        "<table class=\"evidence\"><tr><th>expected steps</th><th>frames observed</th></tr>\
         <tr><td>\n<table class=\"steps\"><tr><th>#</th><th>step</th><th>result</th></tr>\n",
    );
    for (index, row) in evidence.steps.iter().enumerate() {
        let (class, result) = match &row.mark {
            StepMark::Found { seq, at_ms } => {
                ("found", format!("found #{seq} {}", seconds(*at_ms)))
            }
            StepMark::Held => ("found", "held".to_string()),
            StepMark::Deviated { expected, found } => {
                ("deviated", format!("DEVIATION: expected {expected}; found {found}"))
            }
            StepMark::NotReached => ("not-reached", "not reached".to_string()),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            index + 1,
            escape::html(&row.text),
            escape::html(&result)
        );
    }
    if let Some(outcome) = &evidence.outcome {
        let _ = writeln!(
            out,
            "<tr class=\"deviated\"><td></td><td>end state</td><td>{}</td></tr>",
            escape::html(outcome)
        );
    }
    out.push_str(
        "</table>\n</td><td>\n<table class=\"frames\"><tr><th>seq</th><th>time</th>\
         <th>from → to</th><th>MTI</th><th>STAN</th><th>code</th><th>fate</th><th>step</th></tr>\n",
    );
    if evidence.frames.is_empty() {
        out.push_str("<tr><td colspan=\"8\">no frames observed</td></tr>\n");
    }
    for frame in &evidence.frames {
        let class = match (frame.forbidden, frame.step) {
            (true, _) => " class=\"forbidden\"",
            (false, Some(_)) => " class=\"matched\"",
            (false, None) => "",
        };
        let step = match (frame.forbidden, frame.step) {
            (true, _) => "forbidden".to_string(),
            (false, Some(step)) => format!("step {step}"),
            (false, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr{class}><td>#{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            frame.seq,
            seconds(frame.at_ms),
            escape::html(&frame.from),
            escape::html(&frame.to),
            escape::html(&frame.mti),
            frame.stan.map_or(String::new(), |stan| stan.to_string()),
            escape::html(frame.code.as_deref().unwrap_or("")),
            escape::html(&frame.fate),
            step
        );
    }
    if evidence.frames_left_off > 0 {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"8\">{} more frames not shown</td></tr>",
            evidence.frames_left_off
        );
    }
    out.push_str("</table>\n</td></tr></table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_after_the_deviation_are_not_reached_and_text_is_escaped() {
        let evidence = CaseEvidence {
            steps: vec![
                StepRow {
                    text: "frame 0200 text~\"<x>\"".into(),
                    mark: StepMark::Found { seq: 3, at_ms: 1_500 },
                },
                StepRow {
                    text: "no frame 0400".into(),
                    mark: StepMark::Deviated {
                        expected: "no frame 0400".into(),
                        found: "#9 frame 0400".into(),
                    },
                },
                StepRow { text: "frame 0210".into(), mark: StepMark::NotReached },
            ],
            frames: vec![EvidenceFrame {
                seq: 9,
                at_ms: 2_000,
                from: "T1".into(),
                to: "switch".into(),
                mti: "0400".into(),
                stan: Some(2),
                code: Some("98".into()),
                fate: "delivered".into(),
                step: None,
                forbidden: true,
            }],
            frames_left_off: 3,
            outcome: None,
        };
        let page = html(&evidence);
        assert!(page.contains("found #3 +1.500s"), "{page}");
        assert!(page.contains("&lt;x&gt;"), "{page}");
        assert!(page.contains("DEVIATION: expected no frame 0400; found #9 frame 0400"), "{page}");
        assert!(page.contains("<tr class=\"not-reached\"><td>3</td>"), "{page}");
        assert!(page.contains("class=\"forbidden\""), "{page}");
        assert!(page.contains("3 more frames not shown"), "{page}");
    }
}
