//! What a run did, counted from its trace: trades by outcome, reversals,
//! settlements, faults by kind. Printed by `possim run`, aggregated by
//! `possim sweep`. Counted one record at a time ([`Summary::observe`]), so
//! a streamed trace is summarised as it is written.
//!
//! ```
//! use possim_sim::summary::Summary;
//! use possim_sim::trace::Trace;
//! let summary = Summary::of(&Trace::new());
//! assert_eq!(summary.trades_started, 0);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use possim_models::issuer::IssuerEventKind;
use possim_models::terminal::events::TerminalEventKind;

use crate::trace::{Fate, Trace, TraceEvent, TraceRecord};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub trades_started: u64,
    pub approved: u64,
    /// Declines by response code.
    pub declined: BTreeMap<String, u64>,
    pub timed_out: u64,
    pub failed_unusable: u64,
    pub refused_locally: u64,
    pub reversals_sent: u64,
    pub reversals_acknowledged: u64,
    pub offline_queued: u64,
    pub offline_uploaded: u64,
    pub settlements_balanced: u64,
    pub settlements_unbalanced: u64,
    pub slips_printed: u64,
    pub slips_failed: u64,
    /// Trade requests (not reversals) that reached an issuer: what the
    /// money invariants have to judge.
    pub issuer_requests: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Frames by fate.
    pub frames: BTreeMap<String, u64>,
}

fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.get("fate").and_then(|v| v.as_str()).unwrap_or("?").to_string(),
        Err(_) => "?".into(),
    }
}

impl Summary {
    pub fn of(trace: &Trace) -> Summary {
        let mut summary = Summary::default();
        for record in trace.records() {
            summary.observe(record);
        }
        summary
    }

    /// Counts one more record.
    pub fn observe(&mut self, record: &TraceRecord) {
        let summary = self;
        match &record.event {
            TraceEvent::Terminal(event) => match &event.kind {
                TerminalEventKind::TradeStarted { .. } => summary.trades_started += 1,
                TerminalEventKind::TradeAnswered { approved: true, .. } => summary.approved += 1,
                TerminalEventKind::TradeAnswered { code, .. } => {
                    *summary.declined.entry(code.to_string()).or_default() += 1
                }
                TerminalEventKind::TradeTimedOut { .. } => summary.timed_out += 1,
                TerminalEventKind::TradeFailed { .. } => summary.failed_unusable += 1,
                TerminalEventKind::Refused { .. } => summary.refused_locally += 1,
                TerminalEventKind::ReversalSent { .. } => summary.reversals_sent += 1,
                TerminalEventKind::ReversalAcknowledged { .. } => {
                    summary.reversals_acknowledged += 1
                }
                TerminalEventKind::OfflineQueued { .. } => summary.offline_queued += 1,
                TerminalEventKind::OfflineUploaded { .. } => summary.offline_uploaded += 1,
                TerminalEventKind::SettlementBalanced { .. } => summary.settlements_balanced += 1,
                TerminalEventKind::SettlementNotBalanced { .. } => {
                    summary.settlements_unbalanced += 1
                }
                TerminalEventKind::SlipPrinted { .. } => summary.slips_printed += 1,
                TerminalEventKind::SlipFailed { .. } => summary.slips_failed += 1,
                _ => {}
            },
            TraceEvent::Issuer { event, .. } => {
                if matches!(event.kind, IssuerEventKind::RequestReceived { reversal: false, .. }) {
                    summary.issuer_requests += 1
                }
            }
            TraceEvent::Fault(fault) => *summary.faults.entry(label(&fault.kind)).or_default() += 1,
            TraceEvent::Frame(frame) => {
                let fate = match frame.fate {
                    Fate::Delayed { .. } => "delayed".to_string(),
                    other => label(&other),
                };
                *summary.frames.entry(fate).or_default() += 1
            }
            _ => {}
        }
    }
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "trades    {} started: {} approved, declined {}, {} timed out, {} unusable answers, {} refused at the terminal",
            self.trades_started,
            self.approved,
            counts(&self.declined),
            self.timed_out,
            self.failed_unusable,
            self.refused_locally
        )?;
        writeln!(
            f,
            "reversals {} sent, {} acknowledged; offline {} queued, {} uploaded",
            self.reversals_sent,
            self.reversals_acknowledged,
            self.offline_queued,
            self.offline_uploaded
        )?;
        writeln!(
            f,
            "settled   {} balanced, {} not balanced; slips {} printed, {} failed",
            self.settlements_balanced,
            self.settlements_unbalanced,
            self.slips_printed,
            self.slips_failed
        )?;
        writeln!(f, "faults    {}", counts(&self.faults))?;
        write!(f, "frames    {}", counts(&self.frames))
    }
}
