//! **no-double-debit**: at the end, each cardholder's net debit equals the
//! trades their terminals consider approved, minus voids and refunds — never
//! a trade charged twice, never a failed trade left charged.
//!
//! What is compared, per card:
//!
//! - *The issuer's side*: the sum of `IssuerEventKind::Moved` deltas on the
//!   account and offline purses, negated (holds are money set aside, not
//!   moved, and are excluded; an e-cash load moves money between the two
//!   purses and nets to zero).
//! - *The terminals' side*, from their lines ([`super::wire_trades`]), never
//!   their own word: every trade whose terminal was told it was approved (an
//!   intact 00 answer that reached it while it waited, or for an advice —
//!   refund, completion advice, offline upload — 00 or 94 to any copy) and
//!   that it never reversed (no 0400 left for it), signed by
//!   `TradeKind::side()`: sales, completions and uploads debit; voids and
//!   refunds credit; pre-auths and inquiries move nothing. Kind and amount
//!   come from the request as it left. The card is the one the issuer booked
//!   the trade to, or, for a trade no issuer saw, the one the terminal named
//!   when it started it (naming only).
//!
//! - *When*: the money as it stands when the business day closes, before the
//!   end of day's clearing hands any debit back: a debit the clearing
//!   returns the next day was still taken. The one exception is DOMAIN.md's
//!   own remedy: a trade whose terminal sent its reversal and never got it
//!   through ("the two sides reconcile the next day"); its clearing return
//!   counts.
//!
//! When a card differs, the same comparison per trade (terminal, batch,
//! STAN — the issuer's `TradeKey`) names the trades that explain it, and
//! their events are the evidence.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::NoDoubleDebit).passed());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::values::Pan;

use super::index::{fen, TraceIndex, TradeId};
use super::{Invariant, Violation, EVIDENCE_MAX};

const INVARIANT: Invariant = Invariant::NoDoubleDebit;

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut terminal: BTreeMap<Pan, i64> = BTreeMap::new();
    let mut trades_of: BTreeMap<Pan, BTreeSet<TradeId>> = BTreeMap::new();
    let mut violations = Vec::new();
    for (id, trade) in &index.wire_trades {
        let booked = index.issuer.get(id).and_then(|view| view.pan);
        let named = index.trades.get(id).and_then(|view| view.pan);
        let Some(pan) = booked.or(named) else {
            if trade.expected_debit_fen() != 0 {
                violations.push(Violation::new(
                    INVARIANT,
                    Some(index.trade_ref(*id)),
                    format!(
                        "the terminal was told it approved {} fen that no issuer booked to any card",
                        trade.expected_debit_fen()
                    ),
                    index.evidence_of(trade.evidence()),
                ));
            }
            continue;
        };
        *terminal.entry(pan).or_insert(0) += trade.expected_debit_fen();
        trades_of.entry(pan).or_default().insert(*id);
    }
    for (id, view) in &index.issuer {
        if let Some(pan) = view.pan {
            trades_of.entry(pan).or_default().insert(*id);
        }
    }
    // Debits the clearing handed back that were not DOMAIN.md's remedy for a
    // reversal that could not get through: counted as still held.
    let mut held_at_close: BTreeMap<Pan, i64> = index.card_net_debit.clone();
    for (id, view) in &index.issuer {
        if let Some(pan) = view.pan {
            *held_at_close.entry(pan).or_insert(0) += unremedied_return(index, *id);
        }
    }
    let cards: BTreeSet<Pan> = terminal.keys().chain(held_at_close.keys()).copied().collect();
    for pan in cards {
        let held = held_at_close.get(&pan).copied().unwrap_or(0);
        let approved = terminal.get(&pan).copied().unwrap_or(0);
        if held == approved {
            continue;
        }
        let mut differing = Vec::new();
        for id in trades_of.get(&pan).into_iter().flatten() {
            let expected = index.wire_trades.get(id).map_or(0, |trade| trade.expected_debit_fen());
            let at_issuer = index.issuer.get(id).map_or(0, |view| view.net_debit_fen)
                + unremedied_return(index, *id);
            if expected != at_issuer {
                differing.push((*id, at_issuer, expected));
            }
        }
        let mut message = format!("issuer holds {held} fen, the terminal approved {approved}");
        for (id, at_issuer, expected) in differing.iter().take(4) {
            message.push_str(&format!(
                "; {} batch {} stan {}: issuer {} terminal {}",
                id.terminal,
                id.batch.map_or("?".to_string(), |b| b.to_string()),
                id.stan,
                fen(*at_issuer),
                fen(*expected)
            ));
        }
        if differing.is_empty() {
            message = format!(
                "card {}: {message}; no single trade explains it (money moved without a trade key)",
                super::index::short_pan(&pan)
            );
        }
        let mut seqs = Vec::new();
        for (id, _, _) in &differing {
            if let Some(trade) = index.wire_trades.get(id) {
                seqs.extend(trade.evidence());
            }
            if let Some(view) = index.issuer.get(id) {
                seqs.extend(view.moves.iter().take(3));
            }
            if seqs.len() >= EVIDENCE_MAX {
                break;
            }
        }
        let trade = differing.first().map(|(id, _, _)| {
            let mut trade = index.trade_ref(*id);
            trade.card = Some(pan);
            trade
        });
        violations.push(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)));
    }
    violations
}

/// What the clearing handed back for trade `id` that the day still held: all
/// of it, unless its terminal sent the reversal and never got it through.
fn unremedied_return(index: &TraceIndex, id: TradeId) -> i64 {
    let Some(view) = index.issuer.get(&id) else { return 0 };
    let given_up = index
        .wire_trades
        .get(&id)
        .is_some_and(|trade| !trade.reversals.is_empty() && trade.reversal_acknowledged.is_none());
    if given_up {
        0
    } else {
        view.returned_at_clearing_fen
    }
}
