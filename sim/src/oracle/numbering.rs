//! **numbering**: STAN unique within a batch, a reversal reuses its
//! original's STAN, the batch number increases after each settlement.
//!
//! What is compared, per terminal (the batch of each terminal event is
//! derived by [`super::index`] from `SignedIn` and `SettlementCompleted`,
//! since terminal events do not carry it):
//!
//! - *STAN unique within a batch*: each STAN is taken once per batch — by a
//!   trade (`TradeStarted`, online or offline) or by a message of its own
//!   (`RequestSent` of an 0800, 0820, 0500, batch upload 0320, ...). A second
//!   taking of a STAN in the same batch is a violation. Not a repeat: the
//!   0400 of a reversible trade (a reversal reuses its original's STAN), the
//!   upload (0220 / 0320) of an offline trade (every upload reuses the STAN
//!   the trade got when it was made), and the trade's own request sent again.
//! - *A reversal reuses its original's STAN*: an 0400 whose STAN belongs to
//!   no reversible trade of the terminal is a violation.
//! - *The batch number increases after each settlement*: after
//!   `SettlementCompleted{batch}`, the next batch the terminal names
//!   (`SignedIn{batch}` from the host, or `SettlementStarted{batch}`) is
//!   `batch.next()` (999999 wraps to 1); a batch completed twice did not
//!   move; and the switch's `BatchClosed{batch, next}` has `next =
//!   batch.next()`.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::Numbering).passed());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::{BatchNo, Stan, TerminalId};
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;

use super::index::{TermEvent, TraceIndex};
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::Numbering;

/// Who took a STAN first in a batch.
#[derive(Debug, Clone, Copy)]
enum Owner<'a> {
    Trade { kind: TradeKind },
    Message { mti: &'a str },
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (terminal, events) in &index.terminal_events {
        stans(index, *terminal, events, &mut violations);
        batches(index, *terminal, events, &mut violations);
    }
    for (seq, kind) in index.switch_events() {
        if let SwitchEventKind::BatchClosed { terminal, batch, next, .. } = kind {
            if *next != batch.next() {
                let trade = TradeRef { batch: Some(*batch), ..TradeRef::terminal(*terminal) };
                let message = format!(
                    "the switch closed batch {batch} and opened {next}, not {}",
                    batch.next()
                );
                violations.push(Violation::new(
                    INVARIANT,
                    Some(trade),
                    message,
                    index.evidence_of([seq]),
                ));
            }
        }
    }
    violations
}

fn reference(terminal: TerminalId, batch: Option<BatchNo>, stan: Stan) -> TradeRef {
    TradeRef { batch, stan: Some(stan), ..TradeRef::terminal(terminal) }
}

fn stans<'a>(
    index: &TraceIndex,
    terminal: TerminalId,
    events: &[TermEvent<'a>],
    violations: &mut Vec<Violation>,
) {
    let mut used: BTreeMap<(Option<BatchNo>, Stan), (u64, Owner<'a>)> = BTreeMap::new();
    let mut reported: BTreeSet<(Option<BatchNo>, Stan)> = BTreeSet::new();
    let mut repeat = |violations: &mut Vec<Violation>,
                      batch: Option<BatchNo>,
                      stan: Stan,
                      first: u64,
                      now: u64,
                      what: String| {
        if reported.insert((batch, stan)) {
            let message = format!("stan {stan} taken twice in one batch: {what}");
            violations.push(Violation::new(
                INVARIANT,
                Some(reference(terminal, batch, stan)),
                message,
                index.evidence_of([first, now]),
            ));
        }
    };
    for event in events {
        match event.kind {
            TerminalEventKind::TradeStarted { stan, kind, .. } => {
                let key = (event.batch, *stan);
                match used.get(&key) {
                    Some(&(first, _)) => repeat(
                        violations,
                        event.batch,
                        *stan,
                        first,
                        event.seq,
                        format!("by a new {}", kind.label()),
                    ),
                    None => {
                        used.insert(key, (event.seq, Owner::Trade { kind: *kind }));
                    }
                }
            }
            TerminalEventKind::RequestSent { stan, mti } => {
                let key = (event.batch, *stan);
                match used.get(&key) {
                    Some(&(_, Owner::Trade { kind })) => {
                        let own = *mti == kind.mti().to_string();
                        let reversal = mti == "0400" && kind.is_reversible();
                        if !own && !reversal {
                            let first = used[&key].0;
                            repeat(
                                violations,
                                event.batch,
                                *stan,
                                first,
                                event.seq,
                                format!("{mti} reused the stan of a {}", kind.label()),
                            );
                        }
                    }
                    Some(&(first, Owner::Message { mti: earlier })) => {
                        repeat(
                            violations,
                            event.batch,
                            *stan,
                            first,
                            event.seq,
                            format!("{mti} after {earlier}"),
                        );
                    }
                    None if mti == "0400" => {
                        // The original may lie in a batch the terminal left
                        // by signing in; it still must be a reversible trade.
                        let original =
                            index.trade_of(terminal, *stan).and_then(|(_, view)| view.kind);
                        if !original.is_some_and(TradeKind::is_reversible) {
                            let message = format!("an 0400 with stan {stan}, which names no reversible trade of this terminal");
                            violations.push(Violation::new(
                                INVARIANT,
                                Some(reference(terminal, event.batch, *stan)),
                                message,
                                index.evidence_of([event.seq]),
                            ));
                        }
                    }
                    None => {
                        used.insert(key, (event.seq, Owner::Message { mti: mti.as_str() }));
                    }
                }
            }
            _ => {}
        }
    }
}

fn batches(
    index: &TraceIndex,
    terminal: TerminalId,
    events: &[TermEvent<'_>],
    violations: &mut Vec<Violation>,
) {
    let mut completed: BTreeMap<BatchNo, u64> = BTreeMap::new();
    // After a settlement: the batch that must come next, and the completion.
    let mut expected: Option<(BatchNo, BatchNo, u64)> = None;
    let batch_ref =
        |batch: BatchNo| Some(TradeRef { batch: Some(batch), ..TradeRef::terminal(terminal) });
    for event in events {
        let named = match event.kind {
            TerminalEventKind::SettlementCompleted { batch } => {
                if let Some(&first) = completed.get(batch) {
                    let message = format!("batch {batch} settled twice: its number did not move after the first settlement");
                    violations.push(Violation::new(
                        INVARIANT,
                        batch_ref(*batch),
                        message,
                        index.evidence_of([first, event.seq]),
                    ));
                }
                completed.insert(*batch, event.seq);
                expected = Some((*batch, batch.next(), event.seq));
                continue;
            }
            TerminalEventKind::SignedIn { batch }
            | TerminalEventKind::SettlementStarted { batch, .. } => *batch,
            _ => continue,
        };
        if let Some((settled, next, at)) = expected.take() {
            if named != next {
                let message = format!("after settling batch {settled} the terminal went on in batch {named}, not {next}");
                violations.push(Violation::new(
                    INVARIANT,
                    batch_ref(named),
                    message,
                    index.evidence_of([at, event.seq]),
                ));
            }
        }
    }
}
