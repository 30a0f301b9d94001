//! A case's end state, read from the run: counts of what the terminals saw,
//! each terminal's batch number, card balances at the issuers, and the
//! oracle's verdicts (which must all pass in every case).
//!
//! ```
//! use possim_sim::certify::outcome::EndState;
//! use possim_sim::trace::Trace;
//! let state = EndState::of(&Trace::new());
//! assert_eq!(state.approved, 0);
//! assert!(state.batches.is_empty());
//! ```

use std::collections::BTreeMap;

use possim_models::issuer::{IssuerEventKind, Purse};
use possim_models::terminal::events::TerminalEventKind;

use super::case::Outcome;
use crate::execute::RunReport;
use crate::trace::{Trace, TraceEvent};

/// What the run ended with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndState {
    pub approved: u64,
    pub declined: u64,
    pub reversed: u64,
    pub refused: u64,
    pub offline_uploaded: u64,
    pub settled: u64,
    /// Terminal id → its batch number at the end.
    pub batches: BTreeMap<String, u32>,
    /// Card number → account balance at the end.
    pub balances: BTreeMap<String, i64>,
}

impl EndState {
    pub fn of(trace: &Trace) -> EndState {
        let mut state = EndState::default();
        for record in trace.records() {
            match &record.event {
                TraceEvent::Setup(setup) => {
                    for card in &setup.cards {
                        state.balances.insert(card.pan.as_str().into(), card.balance_fen);
                    }
                }
                TraceEvent::Terminal(event) => {
                    let id = event.terminal.trimmed().to_string();
                    match &event.kind {
                        TerminalEventKind::TradeAnswered { approved: true, .. } => {
                            state.approved += 1
                        }
                        TerminalEventKind::TradeAnswered { .. } => state.declined += 1,
                        TerminalEventKind::ReversalAcknowledged { .. } => state.reversed += 1,
                        TerminalEventKind::Refused { .. } => state.refused += 1,
                        TerminalEventKind::OfflineUploaded { .. } => state.offline_uploaded += 1,
                        TerminalEventKind::SettlementCompleted { batch } => {
                            state.settled += 1;
                            state.batches.insert(id, batch.next().value());
                        }
                        TerminalEventKind::SignedIn { batch } => {
                            state.batches.insert(id, batch.value());
                        }
                        _ => {}
                    }
                }
                TraceEvent::Issuer { event, .. } => {
                    if let IssuerEventKind::Moved {
                        pan,
                        purse: Purse::Account,
                        balance_after_fen,
                        ..
                    } = &event.kind
                    {
                        state.balances.insert(pan.as_str().into(), *balance_after_fen);
                    }
                }
                _ => {}
            }
        }
        state
    }
}

/// The first way the run's end differs from `outcome`, or a failed verdict.
pub fn check(outcome: &Outcome, report: &RunReport) -> Result<(), String> {
    let failed = report.failed();
    if !failed.is_empty() {
        return Err(format!("outcome: invariants must all pass; failed {}", failed.join(", ")));
    }
    let state = EndState::of(&report.trace);
    check_counts(outcome, &state)?;
    for (pan, expected) in &outcome.balances {
        let found = state.balances.get(pan).copied().unwrap_or(0);
        if found != *expected {
            return Err(format!("outcome balance of {pan}: expected {expected}; found {found}"));
        }
    }
    Ok(())
}

/// The first way `state`'s counts and batch numbers differ from `outcome`
/// (balances not looked at: a real host's are not on the wire).
pub fn check_counts(outcome: &Outcome, state: &EndState) -> Result<(), String> {
    let counts = [
        ("approved", outcome.approved, state.approved),
        ("declined", outcome.declined, state.declined),
        ("reversed", outcome.reversed, state.reversed),
        ("refused", outcome.refused, state.refused),
        ("offline_uploaded", outcome.offline_uploaded, state.offline_uploaded),
        ("settled", outcome.settled, state.settled),
    ];
    for (name, expected, found) in counts {
        if let Some(expected) = expected {
            if expected != found {
                return Err(format!("outcome {name}: expected {expected}; found {found}"));
            }
        }
    }
    if let Some(expected) = outcome.batch {
        for (terminal, found) in &state.batches {
            if *found != expected {
                return Err(format!(
                    "outcome batch: expected {expected}; found {found} at terminal {terminal}"
                ));
            }
        }
    }
    Ok(())
}
