//! Placed faults: which of a scenario's protocol-placed faults really
//! landed in a run. A placed fault names a trade or a phase ("power off in
//! the middle of a batch upload"); if the run never reaches it, the fault
//! never happens and the scenario tests less than it says. `possim run`
//! prints the count and what did not land, `possim sweep` how many seeds
//! each landed in, and `--coverage` lists one that never landed.
//!
//! ```
//! use possim_models::iso8583::values::TerminalId;
//! use possim_sim::placed::landed;
//! use possim_sim::scenario::model::ProtocolFault;
//! use possim_sim::trace::Trace;
//! let terminal = TerminalId::new("PR000001").unwrap();
//! let plan = vec![ProtocolFault::DropAnswer { terminal, trade: 2 }];
//! let placed = landed(&plan, &[], &Trace::new());
//! assert_eq!(placed[0].times, 0);
//! assert_eq!(placed[0].to_string(), "drop_answer on PR000001: drop the answer to trade 2");
//! ```

use std::fmt;

use possim_models::iso8583::values::TerminalId;

use crate::scenario::model::ProtocolFault;
use crate::trace::{FaultCause, Trace, TraceEvent};

/// One placed fault of the plan and how often it landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFault {
    pub terminal: TerminalId,
    /// Whose fault records it makes: the terminal's trimmed id, or the
    /// host it lands on ([`ProtocolFault::record_target`]).
    pub target: String,
    /// The kind as the scenario writes it.
    pub kind: &'static str,
    /// The words its fault records carry ([`ProtocolFault::placement`]).
    pub placement: String,
    /// Fault records in the trace that it made (a fault such as "drop every
    /// reversal" lands more than once).
    pub times: u64,
    /// Drawn by swarm mode rather than written in the scenario: it may name
    /// a trade the seed never reaches, so missing it fails nothing.
    pub drawn: bool,
}

impl PlacedFault {
    /// `fault` as planned, before the run.
    pub fn planned(fault: &ProtocolFault) -> PlacedFault {
        PlacedFault {
            terminal: fault.terminal(),
            target: fault.record_target(),
            kind: fault.kind_name(),
            placement: fault.placement(),
            times: 0,
            drawn: false,
        }
    }

    pub fn landed(&self) -> bool {
        self.times > 0
    }
}

impl fmt::Display for PlacedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}: {}", self.kind, self.terminal.trimmed(), self.placement)
    }
}

/// Every fault of `plan`, then of `drawn` (swarm mode's placements), in
/// order, with the times it landed in `trace`.
pub fn landed(plan: &[ProtocolFault], drawn: &[ProtocolFault], trace: &Trace) -> Vec<PlacedFault> {
    let mut placed: Vec<PlacedFault> = plan.iter().map(PlacedFault::planned).collect();
    placed.extend(
        drawn.iter().map(|fault| PlacedFault { drawn: true, ..PlacedFault::planned(fault) }),
    );
    for record in trace.records() {
        let TraceEvent::Fault(fault) = &record.event else { continue };
        let FaultCause::Protocol(words) = &fault.cause else { continue };
        // Two identical placements on one terminal are one fault twice over:
        // the first in plan order is credited.
        if let Some(entry) = placed
            .iter_mut()
            .find(|entry| entry.placement == *words && entry.target == fault.target)
        {
            entry.times += 1;
        }
    }
    placed
}

/// `placed    3 of 4 landed; never: ...`, or `None` when nothing was
/// placed; then, in swarm mode, `drawn     1 of 2 landed: ...` naming each.
pub fn line(placed: &[PlacedFault]) -> Option<String> {
    let (drawn, written): (Vec<&PlacedFault>, Vec<&PlacedFault>) =
        placed.iter().partition(|p| p.drawn);
    let mut lines = Vec::new();
    if !written.is_empty() {
        let count = written.iter().filter(|p| p.landed()).count();
        let mut text = format!("placed    {count} of {} landed", written.len());
        let missed: Vec<String> =
            written.iter().filter(|p| !p.landed()).map(ToString::to_string).collect();
        if !missed.is_empty() {
            text.push_str(&format!("; never: {}", missed.join("; ")));
        }
        lines.push(text);
    }
    if !drawn.is_empty() {
        let count = drawn.iter().filter(|p| p.landed()).count();
        let each: Vec<String> = drawn
            .iter()
            .map(|p| format!("{p} ({})", if p.landed() { "landed" } else { "never reached" }))
            .collect();
        lines.push(format!("drawn     {count} of {} landed: {}", drawn.len(), each.join("; ")));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}
