//! **declines-are-final**: a reversible trade whose decline reached its
//! terminal intact while it waited is never reversed. DOMAIN.md, Response
//! codes: "declines are final answers and need no reversal"; "any response
//! that arrives and checks out, even a decline, settles the trade: the
//! terminal deletes its pending reversal".
//!
//! Read from the terminal's line ([`super::wire_trades`]), as every
//! unanswered trade is:
//!
//! - *A decline*: the trade's usable answer (intact, reaching the terminal
//!   while it waited; a 94 is never one) with any code but an approval. The
//!   retry-later codes (90–96) are declines too: they say the trade did not
//!   happen, so there is nothing to roll back.
//! - *Reversed*: a 0400 naming the trade left the terminal after that
//!   answer.
//! - What the line cannot show, the terminal's own word may excuse (never
//!   accuse): a trade it timed out (the log does not know a line's
//!   latency, so an answer that left the host before the timeout may reach
//!   the terminal after it); an answer whose MAC
//!   failed, that it could not parse or that did not match the request
//!   (the log holds no keys and no codec: such an answer does not "check
//!   out", and the trade stays uncertain; DOMAIN.md gives these reversals
//!   their own reasons, A0 and 06); a trade the tamper lock cut off (its
//!   keys were erased while it waited); and a
//!   decline that came while the terminal was off (its power went as the
//!   request left).
//!
//! A terminal that reverses a decline moves no money (the issuer answers 12
//! or 25 and holds nothing), which is why the money invariants cannot see
//! it; it still costs a round trip on every decline and, with a host that
//! does not keep its reversals idempotent, risks a double release.
//! `mutation: reverse_declines` and `mutation: reverse_retry_later_codes`
//! break it.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::DeclinesAreFinal);
//! assert!(verdict.passed());
//! assert_eq!(verdict.judged, 0);
//! ```

use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::reasons::FailureReason;

use super::index::{TraceIndex, TradeId};
use super::wire_trades::WireTrade;
use super::{Invariant, Violation};
use crate::trace::{FaultKind, TraceEvent};

const INVARIANT: Invariant = Invariant::DeclinesAreFinal;

/// The seq of a trade's usable decline, if it had one.
pub(crate) fn decline_of(trade: &WireTrade) -> Option<u64> {
    if !trade.kind.is_reversible() {
        return None;
    }
    trade.answer.filter(|(_, code)| !code.is_approved()).map(|(seq, _)| seq)
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (id, trade) in &index.wire_trades {
        let Some(answer) = decline_of(trade) else { continue };
        let Some(reversal) = trade.reversals.iter().copied().find(|seq| *seq > answer) else {
            continue;
        };
        if excused(index, *id, answer) {
            continue;
        }
        let code = trade.answer.map(|(_, code)| code.to_string()).unwrap_or_default();
        violations.push(Violation::new(
            INVARIANT,
            Some(index.trade_ref(*id)),
            format!(
                "the terminal was answered {code} (a decline, final) and reversed the trade anyway"
            ),
            index.evidence_of([trade.request, answer, reversal]),
        ));
    }
    violations
}

/// Whether the terminal's own word, or its power, explains why the decline
/// at `answer` did not settle trade `id`.
fn excused(index: &TraceIndex, id: TradeId, answer: u64) -> bool {
    let Some(view) = index.trades.get(&id) else { return false };
    // The line's latency and a delay fault's hold are not all in the log, so
    // whether the timeout came first cannot be told from the times: a
    // terminal that says it timed out the trade is taken at its word.
    if view.timed_out.is_some() {
        return true;
    }
    let unusable = view.failed.and_then(|seq| index.record(seq)).is_some_and(|record| {
        matches!(
            &record.event,
            TraceEvent::Terminal(event) if matches!(
                &event.kind,
                TerminalEventKind::TradeFailed {
                    reason: FailureReason::AnswerMacFails
                        | FailureReason::AnswerDoesNotMatch
                        | FailureReason::UnreadableAnswer(_)
                        | FailureReason::TamperLock,
                    ..
                }
            )
        )
    });
    unusable || off_at(index, id.terminal, answer)
}

/// Whether `terminal` was off when the record `answer` was written: its
/// power went (a cut, a swap, a flat battery) at or before it and had not
/// come back. A frame "delivered" then reached a terminal that could not
/// read it (sign-off-ends-session asks the same of an 0830).
pub(crate) fn off_at(index: &TraceIndex, terminal: TerminalId, answer: u64) -> bool {
    let mut off = false;
    for record in index.records.iter().take_while(|record| record.seq < answer) {
        match &record.event {
            TraceEvent::Fault(fault)
                if matches!(fault.kind, FaultKind::PowerCut | FaultKind::TerminalReplaced)
                    && fault.target == terminal.trimmed() =>
            {
                off = true
            }
            TraceEvent::Terminal(event) if event.terminal == terminal => match event.kind {
                TerminalEventKind::PowerLost => off = true,
                TerminalEventKind::PowerOn => off = false,
                _ => {}
            },
            _ => {}
        }
    }
    off
}

/// Declines the invariant judged.
pub(crate) fn judged(index: &TraceIndex) -> usize {
    index.wire_trades.values().filter(|trade| decline_of(trade).is_some()).count()
}
