//! How big a failing case is: what `possim shrink` prints before and after.
//!
//! Terminals and cards count every group member; trades and faults count
//! what the run actually did (trades started, faults injected, not their
//! undoing), so a random workload and a scripted one compare alike.
//!
//! ```
//! use possim_sim::shrink::size::Size;
//! let size = Size { terminals: 1, cards: 2, trades: 3, faults: 1, faults_written: 1,
//!                   safety_ms: 60_000, bytes: 900 };
//! assert!(size.to_string().starts_with("terminals 1, cards 2, trades 3"));
//! ```

use std::fmt;

use possim_models::terminal::events::TerminalEventKind;

use crate::scenario::model::Scenario;
use crate::trace::{FaultKind, Trace, TraceEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub terminals: u64,
    pub cards: u64,
    /// Trades started in the run.
    pub trades: u64,
    /// Faults injected in the run (a fault's end is not counted).
    pub faults: u64,
    /// Entries of `faults.scheduled` and `faults.protocol`.
    pub faults_written: u64,
    pub safety_ms: u64,
    /// The scenario file's length, comment lines aside.
    pub bytes: u64,
}

/// Whether a fault record is the end of a fault rather than one.
fn is_undo(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::LineBlackholeEnd
            | FaultKind::Repair
            | FaultKind::Release
            | FaultKind::HostRestart
            | FaultKind::IssuerUp
            | FaultKind::CutoffEnd
            | FaultKind::PowerOn
            | FaultKind::PrinterFixed
            | FaultKind::TamperUnlock
    )
}

impl Size {
    /// The size of `scenario`, written in `bytes`, whose run left `trace`.
    pub fn of(scenario: &Scenario, bytes: usize, trace: &Trace) -> Size {
        let mut trades = 0;
        let mut faults = 0;
        for record in trace.records() {
            match &record.event {
                TraceEvent::Terminal(event)
                    if matches!(event.kind, TerminalEventKind::TradeStarted { .. }) =>
                {
                    trades += 1
                }
                TraceEvent::Fault(fault) if !is_undo(fault.kind) => faults += 1,
                _ => {}
            }
        }
        let grouped_terminals: u64 =
            scenario.terminal_groups.iter().map(|g| u64::from(g.count)).sum();
        let grouped_cards: u64 = scenario.card_groups.iter().map(|g| u64::from(g.count)).sum();
        Size {
            terminals: scenario.terminals.len() as u64 + grouped_terminals,
            cards: scenario.cards.len() as u64 + grouped_cards,
            trades,
            faults,
            faults_written: (scenario.faults.scheduled.len() + scenario.faults.protocol.len())
                as u64,
            safety_ms: scenario.run.safety_ms,
            bytes: bytes as u64,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "terminals {}, cards {}, trades {}, faults {} injected ({} written), safety_ms {}, {} bytes of YAML",
            self.terminals,
            self.cards,
            self.trades,
            self.faults,
            self.faults_written,
            self.safety_ms,
            self.bytes
        )
    }
}
