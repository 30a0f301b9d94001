//! What a drive saw, as trace records shaped as the simulator writes them:
//! each terminal event, each frame on a terminal's connection (up: from
//! the terminal to the switch; down: back), each fault the fleet applied.
//! `possim certify --drive` judges a host case on these with the
//! simulator's matcher. Off unless asked for ([`FleetOptions::records_max`]);
//! past the bound nothing more is kept and [`Recorder::overflowed`] says so,
//! so a judge never reads a silently shortened run.
//!
//! ```
//! use possim_sim::live::fleet::Recorder;
//! use possim_sim::trace::{Phase, TraceEvent};
//! use possim_models::time::Instant;
//! let mut recorder = Recorder::new(1);
//! recorder.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::Safety });
//! recorder.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
//! assert_eq!(recorder.trace().len(), 1);
//! assert!(recorder.overflowed());
//! ```
//!
//! [`FleetOptions::records_max`]: super::FleetOptions::records_max

use possim_models::actor::Node;
use possim_models::iso8583::values::TerminalId;
use possim_models::time::Instant;

use crate::frame_facts::FrameFacts;
use crate::trace::{Fate, FaultCause, FaultKind, FaultRecord, FrameRecord, Trace, TraceEvent};

/// A bounded trace of one drive.
#[derive(Debug)]
pub struct Recorder {
    trace: Trace,
    records_max: usize,
    overflowed: bool,
}

impl Recorder {
    pub fn new(records_max: usize) -> Recorder {
        Recorder { trace: Trace::new(), records_max, overflowed: false }
    }

    pub fn push(&mut self, at: Instant, event: TraceEvent) {
        if self.trace.len() >= self.records_max {
            self.overflowed = true;
            return;
        }
        self.trace.push(at, event);
    }

    /// A frame on `terminal`'s connection: `up` from it, else to it.
    pub fn frame(&mut self, at: Instant, terminal: TerminalId, up: bool, bytes: &[u8], fate: Fate) {
        let (from, to) = if up {
            (Node::Terminal(terminal), Node::Switch)
        } else {
            (Node::Switch, Node::Terminal(terminal))
        };
        let record = FrameRecord::new(from, to, FrameFacts::of(bytes), fate);
        self.push(at, TraceEvent::Frame(Box::new(record)));
    }

    /// A fault the fleet applied to `terminal`'s line or device.
    pub fn fault(&mut self, at: Instant, terminal: TerminalId, kind: FaultKind, words: String) {
        let record = FaultRecord {
            kind,
            target: terminal.trimmed().to_string(),
            cause: FaultCause::Protocol(words),
            frame: None,
        };
        self.push(at, TraceEvent::Fault(record));
    }

    /// Whether a record was refused for the bound.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn records_max(&self) -> usize {
        self.records_max
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn into_trace(self) -> Trace {
        self.trace
    }
}
