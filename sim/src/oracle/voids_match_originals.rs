//! **voids-match-originals**: a void a terminal sends is the void of its
//! original's kind. DOMAIN.md, Transactions: "pre-authorisation, its
//! cancel, completion and completion void | ... each has its own processing
//! code and 60.1"; the CUP catalogue (`iso8583/trade.rs`): a sale is voided
//! by a sale void (F25 00, 60.1 23), a completion by a completion void
//! (F25 06, 60.1 21), which the issuer looks for among completions only.
//! A completion voided as a sale (`mutation: completion_void_as_sale_void`)
//! names an original the issuer does not hold as a sale: it answers 25, no
//! money moves, and the cardholder stays charged for a trade the cashier
//! meant to cancel, with every money invariant satisfied.
//!
//! Read from the terminal's line:
//!
//! - *A void*: an 0200 leaving the terminal that identifies as a sale void
//!   or a completion void; its original is named by field 61 (batch and
//!   STAN, six digits each).
//! - *Its original*: the first request of that batch and STAN that left the
//!   same terminal before it. A void whose original is not on the line (the
//!   log starts later, or the frame does not decode) is not judged.
//! - The void's kind must be the one for its original's kind: a sale void
//!   for a sale, a completion void for a completion (online or advice).
//!   Anything else is a violation, reported once per void.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::VoidsMatchOriginals);
//! assert!(verdict.passed());
//! assert_eq!(verdict.judged, 0);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::{BatchNo, Stan, TerminalId};

use super::index::TraceIndex;
use super::wire::field;
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::VoidsMatchOriginals;

/// One void judged: its frame's seq and kind, its original's seq and kind.
struct Judged {
    terminal: TerminalId,
    stan: Stan,
    batch: Option<BatchNo>,
    void: (u64, TradeKind),
    original: (u64, TradeKind),
}

/// The void kind that cancels `original`, if any does.
fn void_for(original: TradeKind) -> Option<TradeKind> {
    match original {
        TradeKind::Sale => Some(TradeKind::Void),
        TradeKind::Completion | TradeKind::CompletionAdvice => Some(TradeKind::CompletionVoid),
        _ => None,
    }
}

/// Field 61 of a void: the original's batch and STAN.
fn original_of(field_61: &str) -> Option<(BatchNo, Stan)> {
    let batch = BatchNo::new(field_61.get(..6)?.parse().ok()?)?;
    let stan = Stan::new(field_61.get(6..12)?.parse().ok()?)?;
    Some((batch, stan))
}

/// Every void whose original is on the line, with both kinds.
fn voids(index: &TraceIndex) -> Vec<Judged> {
    // Per terminal, the first request of each (batch, STAN): seq and kind.
    let mut sent: BTreeMap<(TerminalId, BatchNo, Stan), (u64, Option<TradeKind>)> = BTreeMap::new();
    let mut seen: BTreeSet<(TerminalId, Option<BatchNo>, Stan)> = BTreeSet::new();
    let mut judged = Vec::new();
    for frame in &index.frames {
        let (Some(terminal), Some(stan)) = (frame.terminal, frame.stan) else { continue };
        if !(frame.from_terminal() && frame.is_request()) {
            continue;
        }
        let is_void = frame.mti == Some("0200")
            && matches!(frame.kind, Some(TradeKind::Void | TradeKind::CompletionVoid));
        if is_void && seen.insert((terminal, frame.batch, stan)) {
            let original = field(&frame.record.fields, 61)
                .and_then(original_of)
                .and_then(|(batch, stan)| sent.get(&(terminal, batch, stan)).copied());
            if let (Some((seq, Some(kind))), Some(void)) = (original, frame.kind) {
                judged.push(Judged {
                    terminal,
                    stan,
                    batch: frame.batch,
                    void: (frame.seq, void),
                    original: (seq, kind),
                });
            }
        }
        if let Some(batch) = frame.batch {
            sent.entry((terminal, batch, stan)).or_insert((frame.seq, frame.kind));
        }
    }
    judged
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for void in voids(index) {
        let (void_seq, void_kind) = void.void;
        let (original_seq, original_kind) = void.original;
        if void_for(original_kind) == Some(void_kind) {
            continue;
        }
        let mut trade = TradeRef::terminal(void.terminal);
        trade.batch = void.batch;
        trade.stan = Some(void.stan);
        violations.push(Violation::new(
            INVARIANT,
            Some(trade),
            format!("a {} of a {}", void_kind.label(), original_kind.label()),
            index.evidence_of([original_seq, void_seq]),
        ));
    }
    violations
}

/// Voids judged (those whose original is on the line).
pub(crate) fn judged(index: &TraceIndex) -> usize {
    voids(index).len()
}
