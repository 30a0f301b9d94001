//! **numbering**: STAN unique within a batch, a reversal reuses its
//! original's STAN, the batch number increases after each settlement.
//!
//! Judged from fields 11 (STAN) and 60.2 (batch) of the frames each
//! terminal sent, as they left it ([`super::wire`]; whatever the line then
//! did with them), not from the terminal's word about its own counters:
//!
//! - *STAN unique within a batch*: the first frame with a (batch, STAN)
//!   claims it for its message (MTI, trade kind from fields 3, 25 and 60.1,
//!   amount). A later frame with the same (batch, STAN) is the same message
//!   sent again (an advice until acknowledged, a copy), or the 0400 of a
//!   reversible trade (`TradeKind::is_reversible`) for the same amount;
//!   anything else took the STAN twice.
//! - *A reversal reuses its original's STAN*: an 0400 whose (batch, STAN) no
//!   earlier reversible request of the terminal carried, for the same
//!   amount, is a violation.
//! - *The batch number increases after each settlement*: the batch a
//!   terminal's messages name (its reversals aside: one may reverse a trade
//!   of a batch it has left; its 0800s aside: a sign-in asks, the 0810
//!   answers) moves only to `batch.next()`, 999999 wrapping
//!   to 000001, once it sent an 0500 for the batch, or to the batch an 0810
//!   it received named (the host's word on the batch is the one the
//!   terminal must follow); it never returns to a batch it left, unless an
//!   0810 names it again; and once it was told a batch is settled (an 0510
//!   whose field 48 result flag says balanced, or the 0330 to its batch
//!   upload's end, 60.3 202 or 207, arrived with no bit flipped: neither
//!   carries a MAC) it starts no new
//!   message in that batch.
//! - Kept from the switch's own events, since no frame shows it: the
//!   switch's `BatchClosed{batch, next}` has `next = batch.next()`.
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

use super::index::TraceIndex;
use super::wire::{field, WireFrame};
use super::{Invariant, TradeRef, Violation};
use crate::trace::Fate;

const INVARIANT: Invariant = Invariant::Numbering;

/// The message that first took a (terminal, batch, STAN).
#[derive(Debug, Clone, Copy)]
struct Claim<'a> {
    seq: u64,
    mti: &'a str,
    kind: Option<TradeKind>,
    amount_fen: Option<u64>,
}

impl Claim<'_> {
    fn describe(&self) -> String {
        match self.kind {
            Some(kind) => format!("{} ({})", self.mti, kind.label()),
            None => self.mti.to_string(),
        }
    }
}

/// Where one terminal's batch number stands.
#[derive(Debug, Default)]
struct BatchState {
    /// The batch its messages name now, and the frame that first named it.
    current: Option<(BatchNo, u64)>,
    /// Batches it sent an 0500 for.
    settling: BTreeSet<BatchNo>,
    /// Batches it moved on from.
    left: BTreeSet<BatchNo>,
    /// The batch the latest 0810 it received named.
    host_said: Option<(BatchNo, u64)>,
    /// Batches whose settlement it was told is done: an 0510 saying
    /// balanced, or the 0330 to its batch upload's last message.
    closed: BTreeMap<BatchNo, u64>,
}

/// Whether `frame` tells a terminal its batch is settled: an 0510 whose
/// field 48 result flag (after the 30 digits of totals) is 1, balanced; or
/// the 0330 to a batch upload end (60.3 202 or 207) that took it (00: a
/// 95, reconciliation error, keeps the batch open for its upload again).
fn closes_batch(frame: &WireFrame) -> bool {
    let field_60 = field(&frame.record.fields, 60).unwrap_or("");
    match frame.mti {
        Some("0510") => field(&frame.record.fields, 48)
            .and_then(|totals| totals.as_bytes().get(30).copied())
            .is_some_and(|flag| flag == b'1'),
        Some("0330") => {
            matches!(field_60.get(8..11), Some("202" | "207"))
                && frame.record.code.is_none_or(|code| code.is_approved())
        }
        _ => false,
    }
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut claims: BTreeMap<(TerminalId, BatchNo, Stan), Claim> = BTreeMap::new();
    let mut batches: BTreeMap<TerminalId, BatchState> = BTreeMap::new();
    let mut reported: BTreeSet<(TerminalId, Option<BatchNo>, Stan)> = BTreeSet::new();
    for frame in &index.frames {
        if frame.to_terminal() {
            if let (Some(terminal), Some(batch)) = (frame.terminal, frame.batch) {
                let state = batches.entry(terminal).or_default();
                if frame.mti == Some("0810") && frame.intact() {
                    state.host_said = Some((batch, frame.seq));
                }
                // An answer naming no request the terminal sent (a garbled
                // 0500 served: the 0500 carries no MAC) is one it discards.
                let answers_own = frame.stan.is_some_and(|stan| {
                    claims.get(&(terminal, batch, stan)).is_some_and(|claim| {
                        frame.request_mti().is_some_and(|mti| mti == claim.mti)
                    })
                });
                if answers_own && closes_batch(frame) {
                    // A later record of the same answer as lost (the
                    // terminal was off when it came) takes it back.
                    if frame.arrived() && !frame.flipped {
                        state.closed.insert(batch, frame.seq);
                    } else if frame.fate == Fate::Lost {
                        state.closed.remove(&batch);
                    }
                }
            }
            continue;
        }
        if !(frame.from_terminal() && frame.is_request()) {
            continue;
        }
        let (Some(terminal), Some(stan), Some(batch), Some(mti)) =
            (frame.terminal, frame.stan, frame.batch, frame.mti)
        else {
            continue;
        };
        let new_stan = !claims.contains_key(&(terminal, batch, stan));
        let mut finding = stan_finding(&mut claims, frame, terminal, batch, stan, mti);
        // A sign-in asks for the batch (the 0810 answers it: a swapped
        // device may name any), and a reversal may name a batch left behind.
        if mti != "0400" && mti != "0800" {
            let state = batches.entry(terminal).or_default();
            if let Some(batch_finding) = batch_finding(state, frame, batch, mti, new_stan) {
                finding = finding.or(Some(batch_finding));
            }
        }
        let Some((message, seqs)) = finding else { continue };
        if !reported.insert((terminal, Some(batch), stan)) {
            continue;
        }
        let trade =
            TradeRef { batch: Some(batch), stan: Some(stan), ..TradeRef::terminal(terminal) };
        violations.push(Violation::new(INVARIANT, Some(trade), message, index.evidence_of(seqs)));
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

/// The STAN rules for one frame a terminal sent.
fn stan_finding<'a>(
    claims: &mut BTreeMap<(TerminalId, BatchNo, Stan), Claim<'a>>,
    frame: &WireFrame<'a>,
    terminal: TerminalId,
    batch: BatchNo,
    stan: Stan,
    mti: &'a str,
) -> Option<(String, Vec<u64>)> {
    let key = (terminal, batch, stan);
    let this = Claim { seq: frame.seq, mti, kind: frame.kind, amount_fen: frame.amount_fen };
    let Some(first) = claims.get(&key).copied() else {
        if mti == "0400" {
            return Some((
                format!("an 0400 with stan {stan} in batch {batch}, which no reversible request of this terminal carried"),
                vec![frame.seq],
            ));
        }
        claims.insert(key, this);
        return None;
    };
    let same_message =
        first.mti == mti && first.kind == this.kind && first.amount_fen == this.amount_fen;
    let reversal_of_first = mti == "0400"
        && first.kind.is_some_and(TradeKind::is_reversible)
        && first.amount_fen == this.amount_fen;
    let reversal_again = mti == "0400" && first.mti == "0400";
    if same_message || reversal_of_first || reversal_again {
        return None;
    }
    if mti == "0400" {
        return Some((
            format!(
                "an 0400 with stan {stan} in batch {batch}, which {} carried first: no reversible request of this terminal for that amount",
                first.describe()
            ),
            vec![first.seq, frame.seq],
        ));
    }
    Some((
        format!(
            "stan {stan} taken twice in one batch: {} after {}",
            this.describe(),
            first.describe()
        ),
        vec![first.seq, frame.seq],
    ))
}

/// The batch rules for one frame a terminal sent (not a reversal).
fn batch_finding(
    state: &mut BatchState,
    frame: &WireFrame,
    batch: BatchNo,
    mti: &str,
    new_stan: bool,
) -> Option<(String, Vec<u64>)> {
    let host_named = state.host_said.is_some_and(|(said, _)| said == batch);
    let reopened = state
        .closed
        .get(&batch)
        .copied()
        .filter(|&closed| new_stan && state.host_said.is_none_or(|(_, said)| said < closed));
    if let Some(closed) = reopened {
        return Some((
            format!("a new message in batch {batch} after its settlement was answered: the batch number did not move"),
            vec![closed, frame.seq],
        ));
    }
    let finding = match state.current {
        None => None,
        Some((current, _)) if current == batch => None,
        Some((current, since)) => {
            let settled_on = current.next() == batch && state.settling.contains(&current);
            if host_named {
                None
            } else if state.left.contains(&batch) {
                Some((
                    format!("the terminal went back to batch {batch}, which it had left for batch {current}"),
                    vec![since, frame.seq],
                ))
            } else if !settled_on {
                let why = if current.next() == batch {
                    "without an 0500 for it"
                } else {
                    "not its next batch, and no 0810 named it"
                };
                Some((
                    format!("the terminal went from batch {current} to batch {batch}, {why}"),
                    vec![since, frame.seq],
                ))
            } else {
                None
            }
        }
    };
    if let Some((current, _)) = state.current.filter(|(current, _)| *current != batch) {
        state.left.insert(current);
    }
    if host_named {
        state.left.remove(&batch);
    }
    if state.current.is_none_or(|(current, _)| current != batch) {
        state.current = Some((batch, frame.seq));
    }
    if mti == "0500" {
        state.settling.insert(batch);
    }
    finding
}
