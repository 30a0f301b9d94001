//! A case's end state, read from the run: counts of what the terminals saw,
//! each terminal's batch number, card balances at the issuers, and the
//! oracle's verdicts (which must all pass in every case).
//!
//! A live run sees one side only. [`EndState::of_events`] builds the end
//! state from the matcher events a live run collected, and [`check_live`]
//! judges the outcome items that side can see: against a real terminal
//! (`device: terminal`) the balances at possim's issuers; against a real
//! host (`device: host`) the counts and batch numbers of possim's own
//! terminals. It names the items it could not judge, so a report does not
//! pass them in silence.
//!
//! ```
//! use possim_sim::certify::case::{Device, Outcome};
//! use possim_sim::certify::outcome::{check_live, EndState};
//! use possim_sim::trace::Trace;
//! let state = EndState::of(&Trace::new());
//! assert_eq!(state.approved, 0);
//! assert!(state.batches.is_empty());
//! let outcome = Outcome { approved: Some(0), ..Outcome::default() };
//! assert_eq!(check_live(&outcome, Device::Terminal, &state), Ok(vec!["approved"]));
//! assert_eq!(check_live(&outcome, Device::Host, &state), Ok(vec![]));
//! ```

use std::collections::BTreeMap;

use possim_models::issuer::{IssuerEventKind, Purse};
use possim_models::terminal::events::TerminalEventKind;

use possim_models::iso8583::values::BatchNo;
use serde_json::Value;

use super::case::{Device, Outcome};
use super::matcher::Event;
use crate::execute::RunReport;
use crate::scenario::compile::CompiledScenario;
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

/// Each card's account balance before a run of `scenario`, by card number:
/// the `opening` of [`EndState::of_events`].
pub fn opening_balances(scenario: &CompiledScenario) -> BTreeMap<String, i64> {
    scenario.cards.iter().map(|card| (card.pan.as_str().to_string(), card.balance_fen)).collect()
}

impl EndState {
    /// The end state from matcher events (a live run's, or a trace's):
    /// `opening` gives each card's balance before the run (the scenario's
    /// cards), which the issuers' account movements then update. Counts
    /// come from terminal events, so a run against a real terminal has
    /// none.
    pub fn of_events(opening: &BTreeMap<String, i64>, events: &[Event]) -> EndState {
        let mut state = EndState { balances: opening.clone(), ..EndState::default() };
        for event in events {
            let fields = &event.fields;
            match (event.source, event.name.as_str()) {
                ("terminal", name) => {
                    let terminal = fields["terminal"].as_str().unwrap_or_default().to_string();
                    let batch = fields["batch"]
                        .as_u64()
                        .and_then(|batch| u32::try_from(batch).ok())
                        .and_then(BatchNo::new);
                    match name {
                        "trade_answered" if fields["approved"] == Value::Bool(true) => {
                            state.approved += 1
                        }
                        "trade_answered" => state.declined += 1,
                        "reversal_acknowledged" => state.reversed += 1,
                        "refused" => state.refused += 1,
                        "offline_uploaded" => state.offline_uploaded += 1,
                        "settlement_completed" => {
                            state.settled += 1;
                            if let Some(batch) = batch {
                                state.batches.insert(terminal, batch.next().value());
                            }
                        }
                        "signed_in" => {
                            if let Some(batch) = batch {
                                state.batches.insert(terminal, batch.value());
                            }
                        }
                        _ => {}
                    }
                }
                ("issuer", "moved") if fields["purse"] == "account" => {
                    let pan = fields["pan"].as_str();
                    let after = fields["balance_after_fen"].as_i64();
                    if let (Some(pan), Some(after)) = (pan, after) {
                        state.balances.insert(pan.to_string(), after);
                    }
                }
                _ => {}
            }
        }
        state
    }
}

/// The outcome items a live run against `device` can judge, compared with
/// `state`: for a real terminal, the balances at possim's issuers; for a
/// real host, the counts and batch numbers of possim's terminals. `Ok`
/// lists the items the outcome names that this side cannot see (empty:
/// everything named was judged); `Err` is the first difference. The
/// oracle's verdicts are not part of it: a live run has its own checks.
pub fn check_live(
    outcome: &Outcome,
    device: Device,
    state: &EndState,
) -> Result<Vec<&'static str>, String> {
    let mut not_judged = Vec::new();
    let (counts_seen, balances_seen) = match device {
        Device::Terminal => (false, true),
        Device::Host => (true, false),
    };
    if counts_seen {
        check_counts(outcome, state)?;
    } else {
        not_judged.extend(named_counts(outcome));
    }
    if balances_seen {
        check_balances(outcome, state)?;
    } else if !outcome.balances.is_empty() {
        not_judged.push("balances");
    }
    Ok(not_judged)
}

/// The count and batch items `outcome` names.
fn named_counts(outcome: &Outcome) -> Vec<&'static str> {
    let named = [
        ("approved", outcome.approved.is_some()),
        ("declined", outcome.declined.is_some()),
        ("reversed", outcome.reversed.is_some()),
        ("refused", outcome.refused.is_some()),
        ("offline_uploaded", outcome.offline_uploaded.is_some()),
        ("settled", outcome.settled.is_some()),
        ("batch", outcome.batch.is_some()),
    ];
    named.into_iter().filter(|(_, named)| *named).map(|(name, _)| name).collect()
}

fn check_counts(outcome: &Outcome, state: &EndState) -> Result<(), String> {
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

fn check_balances(outcome: &Outcome, state: &EndState) -> Result<(), String> {
    for (pan, expected) in &outcome.balances {
        let found = state.balances.get(pan).copied().unwrap_or(0);
        if found != *expected {
            return Err(format!("outcome balance of {pan}: expected {expected}; found {found}"));
        }
    }
    Ok(())
}

/// The first way the run's end differs from `outcome`, or a failed verdict.
pub fn check(outcome: &Outcome, report: &RunReport) -> Result<(), String> {
    let failed = report.failed();
    if !failed.is_empty() {
        return Err(format!("outcome: invariants must all pass; failed {}", failed.join(", ")));
    }
    let state = EndState::of(&report.trace);
    check_counts(outcome, &state)?;
    check_balances(outcome, &state)
}
