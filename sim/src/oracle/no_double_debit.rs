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
//! - *The terminals' side*: every trade a terminal considers approved —
//!   `TradeAnswered{approved: true}` (for a refund, its advice acknowledged
//!   00 or 94, whichever copy got the verdict: credited once), or
//!   `OfflineQueued` not later `OfflineUploadFailed` — signed by
//!   `TradeKind::side()`: sales,
//!   completions and offline uploads debit; voids and refunds credit;
//!   pre-auths and inquiries move nothing. Amount, kind and card come from
//!   the trade's `TradeStarted`.
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
    for (id, view) in &index.trades {
        let Some(pan) = view.pan else { continue };
        *terminal.entry(pan).or_insert(0) += view.expected_debit_fen();
        trades_of.entry(pan).or_default().insert(*id);
    }
    for (id, view) in &index.issuer {
        if let Some(pan) = view.pan {
            trades_of.entry(pan).or_default().insert(*id);
        }
    }
    let cards: BTreeSet<Pan> =
        terminal.keys().chain(index.card_net_debit.keys()).copied().collect();
    let mut violations = Vec::new();
    for pan in cards {
        let held = index.card_net_debit.get(&pan).copied().unwrap_or(0);
        let approved = terminal.get(&pan).copied().unwrap_or(0);
        if held == approved {
            continue;
        }
        let mut differing = Vec::new();
        for id in trades_of.get(&pan).into_iter().flatten() {
            let expected = index.trades.get(id).map_or(0, |view| view.expected_debit_fen());
            let at_issuer = index.issuer.get(id).map_or(0, |view| view.net_debit_fen);
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
            if let Some(view) = index.trades.get(id) {
                seqs.extend(
                    [view.started, view.answered.map(|(s, _)| s), view.failed, view.power_lost]
                        .into_iter()
                        .flatten(),
                );
                seqs.extend(view.reversal_abandoned);
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
