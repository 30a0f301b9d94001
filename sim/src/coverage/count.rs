//! Counting what one run reached, from its trace: terminal events, phases
//! and the transitions between them, answer codes received, reversal
//! reasons, each fault with the phase its terminal was in, settlement
//! outcomes. Counts merge across seeds; every map is ordered. Counted one
//! record at a time ([`CoverageCount`]), so a streamed trace is counted as
//! it is written.
//!
//! ```
//! use possim_sim::coverage::count::Coverage;
//! use possim_sim::trace::Trace;
//! let mut total = Coverage::of(&Trace::new());
//! total.merge(&Coverage::of(&Trace::new()));
//! assert_eq!(total.runs, 2);
//! assert!(total.codes.is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::values::{Stan, TerminalId};
use possim_models::iso8583::Mti;
use possim_models::terminal::events::TerminalEventKind as E;
use possim_models::terminal::reasons::Recovery;
use serde::{Deserialize, Serialize};

use super::universe::{fault_name, HOST_FAULTS, TERMINAL_FAULTS};
use crate::execute::RunReport;
use crate::trace::{Trace, TraceEvent, TraceRecord};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Coverage {
    /// Runs merged into these counts.
    pub runs: u64,
    pub terminal_events: BTreeMap<String, u64>,
    pub phases: BTreeMap<String, u64>,
    /// "from -> to".
    pub transitions: BTreeMap<String, u64>,
    /// "00 approved": answers to trades, reversals and offline uploads.
    pub codes: BTreeMap<String, u64>,
    pub reversal_reasons: BTreeMap<String, u64>,
    /// "kind @ phase" for a terminal's faults, "kind" for the hosts' (a
    /// fault's end is not counted).
    pub faults: BTreeMap<String, u64>,
    pub settlements: BTreeMap<String, u64>,
    /// The kinds of trade an issuer approved (`pre_auth`, `completion_void`,
    /// ...): which members of the catalogue a workload exercised.
    pub trade_kinds: BTreeMap<String, u64>,
    /// The scenario's placed faults ([`crate::placed`]): every one planned,
    /// and the runs each landed in.
    pub placed_planned: BTreeSet<String>,
    pub placed: BTreeMap<String, u64>,
}

/// The serde name of a tagged value (`{"event": "trade_started", ...}`).
fn tag(value: &impl Serialize, key: &str) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.get(key).and_then(|v| v.as_str()).unwrap_or("?").to_string(),
        Err(_) => "?".into(),
    }
}

/// The phase a terminal is in after `event`, from the one it was in.
/// `queued_offline`: the event is a request whose STAN is an offline trade
/// waiting for upload.
pub fn phase_after(phase: &'static str, event: &E, queued_offline: bool) -> &'static str {
    match event {
        E::TradeStarted { .. } => "awaiting_answer",
        E::RequestSent { mti, .. } => match *mti {
            Mti::REVERSAL => "reversal_pending",
            Mti::SETTLEMENT => "settlement",
            Mti::NETWORK | Mti::NETWORK_ADVICE => "signing_in",
            // Batch upload detail, and a refund's advice, keep their phase.
            Mti::ADVICE | Mti::BATCH
                if matches!(phase, "settlement" | "batch_upload" | "awaiting_answer") =>
            {
                phase
            }
            Mti::ADVICE | Mti::BATCH if queued_offline => "offline_upload",
            // An e-cash upload is a 0320 too, but its STAN is a queued
            // trade's. Any other 0320 is batch upload: a resumed upload past
            // its first message (after a refusal or a power cut) has no
            // `BatchUploadStarted` before it.
            Mti::BATCH => "batch_upload",
            Mti::ADVICE => "offline_upload",
            _ => "awaiting_answer",
        },
        // Not `ReversalStored`: a reversal is stored before every request
        // leaves (`before_send`), pending only once armed.
        E::ReversalArmed { .. } | E::ReversalSent { .. } | E::ReversalUnanswered { .. } => {
            "reversal_pending"
        }
        E::SettlementStarted { .. }
        | E::SettlementNotBalanced { .. }
        | E::BatchUploadEnded { .. } => "settlement",
        E::BatchUploadStarted { .. } => "batch_upload",
        E::TradeAnswered { .. }
        | E::TradeTimedOut { .. }
        | E::TradeFailed { .. }
        | E::ReversalAcknowledged { .. }
        | E::ReversalAbandoned { .. }
        | E::OfflineUploaded { .. }
        | E::OfflineUploadFailed { .. }
        | E::OfflineUploadDeferred { .. }
        | E::AdviceDeferred { .. }
        | E::SettlementBalanced { .. }
        | E::SettlementCompleted { .. }
        | E::SettlementFailed { .. }
        | E::SignedIn { .. }
        | E::PowerOn
        | E::Unlocked => "idle",
        E::SignInRequired { .. } | E::SignInFailed { .. } | E::SignedOff => "signed_out",
        E::PowerLost => "powered_off",
        E::TamperLocked => "locked",
        _ => phase,
    }
}

impl Coverage {
    /// What the run that left `trace` reached.
    pub fn of(trace: &Trace) -> Coverage {
        let mut count = CoverageCount::default();
        for record in trace.records() {
            count.observe(record);
        }
        count.finish()
    }

    /// What `report`'s run reached, its placed faults included.
    pub fn of_run(report: &RunReport) -> Coverage {
        let mut coverage = Coverage::of(&report.trace);
        // Swarm mode's drawn placements differ seed by seed: what they
        // reached is counted as faults by phase, not as a plan to cover.
        for placed in report.placed.iter().filter(|placed| !placed.drawn) {
            coverage.placed_planned.insert(placed.to_string());
            if placed.landed() {
                coverage.placed.insert(placed.to_string(), 1);
            }
        }
        coverage
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Coverage) {
        self.runs += other.runs;
        self.placed_planned.extend(other.placed_planned.iter().cloned());
        let pairs = [
            (&mut self.terminal_events, &other.terminal_events),
            (&mut self.phases, &other.phases),
            (&mut self.transitions, &other.transitions),
            (&mut self.codes, &other.codes),
            (&mut self.reversal_reasons, &other.reversal_reasons),
            (&mut self.faults, &other.faults),
            (&mut self.settlements, &other.settlements),
            (&mut self.trade_kinds, &other.trade_kinds),
            (&mut self.placed, &other.placed),
        ];
        for (mine, theirs) in pairs {
            for (key, count) in theirs {
                *mine.entry(key.clone()).or_default() += count;
            }
        }
    }
}

/// The coverage of one run, counted as its records come: what it keeps
/// between records is each terminal's phase and its queued offline trades.
#[derive(Debug)]
pub struct CoverageCount {
    coverage: Coverage,
    phases: BTreeMap<TerminalId, &'static str>,
    queued: BTreeSet<(TerminalId, Stan)>,
}

impl Default for CoverageCount {
    fn default() -> CoverageCount {
        CoverageCount {
            coverage: Coverage { runs: 1, ..Coverage::default() },
            phases: BTreeMap::new(),
            queued: BTreeSet::new(),
        }
    }
}

impl CoverageCount {
    /// Counts one more record.
    pub fn observe(&mut self, record: &TraceRecord) {
        let CoverageCount { coverage, phases, queued } = self;
        let bump = |map: &mut BTreeMap<String, u64>, key: String| *map.entry(key).or_default() += 1;
        match &record.event {
            TraceEvent::Terminal(event) => {
                let kind = &event.kind;
                bump(&mut coverage.terminal_events, tag(kind, "event"));
                let before = phases.get(&event.terminal).copied().unwrap_or("idle");
                match kind {
                    E::OfflineQueued { stan, .. } => {
                        queued.insert((event.terminal, *stan));
                    }
                    E::OfflineUploaded { stan, .. } | E::OfflineUploadFailed { stan, .. } => {
                        queued.remove(&(event.terminal, *stan));
                    }
                    E::Replaced { .. } => queued.retain(|(id, _)| *id != event.terminal),
                    _ => {}
                }
                let queued_offline = matches!(kind, E::RequestSent { stan, .. }
                    if queued.contains(&(event.terminal, *stan)));
                let after = phase_after(before, kind, queued_offline);
                if after != before {
                    bump(&mut coverage.transitions, format!("{before} -> {after}"));
                    bump(&mut coverage.phases, after.to_string());
                }
                phases.insert(event.terminal, after);
                match kind {
                    E::TradeAnswered { code, .. }
                    | E::ReversalAcknowledged { code, .. }
                    | E::OfflineUploaded { code, .. }
                    | E::OfflineUploadFailed { code, .. } => {
                        bump(&mut coverage.codes, format!("{code} {}", code.meaning()))
                    }
                    E::ReversalArmed { reason, .. } => {
                        bump(&mut coverage.reversal_reasons, tag(reason, ""))
                    }
                    E::SettlementBalanced { .. } => {
                        bump(&mut coverage.settlements, "balanced".into())
                    }
                    E::SettlementNotBalanced { .. } => {
                        bump(&mut coverage.settlements, "not_balanced".into())
                    }
                    E::BatchUploadEnded { network_code, .. } => {
                        bump(&mut coverage.settlements, format!("batch_upload_{network_code}"))
                    }
                    E::SettlementFailed { .. } => bump(&mut coverage.settlements, "failed".into()),
                    E::Recovered { what: Recovery::SettlementResumes { .. } } => {
                        bump(&mut coverage.settlements, "resumed_after_power".into())
                    }
                    _ => {}
                }
            }
            TraceEvent::Issuer { event, .. } => {
                if let possim_models::issuer::IssuerEventKind::Approved { kind, .. } = &event.kind {
                    bump(&mut coverage.trade_kinds, tag(kind, ""));
                }
            }
            TraceEvent::Fault(fault) => {
                let name = fault_name(fault.kind);
                if TERMINAL_FAULTS.contains(&fault.kind) {
                    let phase = phases
                        .iter()
                        .find(|(id, _)| id.trimmed() == fault.target)
                        .map_or("idle", |(_, phase)| *phase);
                    bump(&mut coverage.faults, format!("{name} @ {phase}"));
                } else if HOST_FAULTS.contains(&fault.kind) {
                    bump(&mut coverage.faults, name);
                }
            }
            _ => {}
        }
    }

    /// What the run reached.
    pub fn finish(self) -> Coverage {
        self.coverage
    }
}
