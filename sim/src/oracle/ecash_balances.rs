//! **ecash-balances**: the chip's offline balance never goes below zero nor
//! above the issuer's load limit (`ecash_load_max_fen`), and once every
//! e-cash trade of a card is uploaded the issuer's record of the chip
//! balance agrees with the chip.
//!
//! DOMAIN.md, Transactions: electronic cash is "paid from the chip's
//! offline balance (loaded up to 1000 yuan per load ...) ... If the offline
//! balance is too small, the terminal goes online instead and asks for the
//! PIN."
//!
//! Each side is rebuilt from the log, not taken from any actor's word:
//!
//! - *The chip*: the card's opening offline balance (the `Setup` record),
//!   minus every e-cash trade a terminal paid offline with it
//!   (`TradeStarted` of an e-cash upload followed by `OfflineQueued`: the
//!   terminal wrote the chip), plus every load (`ECashLoaded`: a load writes
//!   the chip). Checked after each change against 0 and the load limit.
//! - *The issuer's record*: the same opening balance plus every `Moved` on
//!   the offline purse.
//!
//! The two are compared at the end for each card whose e-cash trades all
//! came back uploaded (`OfflineUploaded`); a card with one still queued or
//! refused is left to offline-before-settlement, which owes the refusal a
//! listing. A card with no e-cash trade and no load is not judged.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::EcashBalances);
//! assert!(verdict.passed());
//! assert_eq!(verdict.judged, 0);
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::Pan;
use possim_models::issuer::{IssuerEventKind, Purse};

use super::index::{fen, short_pan, TraceIndex};
use super::{Invariant, TradeRef, Violation};
use crate::trace::TraceEvent;

const INVARIANT: Invariant = Invariant::EcashBalances;

/// One card's two views of the chip.
#[derive(Debug, Default)]
struct Chip {
    opening_fen: i64,
    load_max_fen: i64,
    chip_fen: i64,
    issuer_record_fen: i64,
    /// Offline e-cash trades paid with it, and loads: its judged changes.
    changes: Vec<u64>,
    /// Issuer moves on the offline purse.
    moves: Vec<u64>,
    /// Whether every e-cash trade paid with it came back uploaded.
    all_uploaded: bool,
}

/// One change of the chip, in log order.
#[derive(Debug, Clone, Copy)]
struct Change {
    seq: u64,
    pan: Pan,
    delta_fen: i64,
    trade: Option<super::index::TradeId>,
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut chips = opening(index);
    let mut changes: Vec<Change> = Vec::new();
    for (id, trade) in &index.trades {
        if trade.kind != Some(TradeKind::ECashUpload) {
            continue;
        }
        let (Some(queued), Some(pan), Some(amount)) =
            (trade.offline_queued, trade.pan, trade.amount_fen)
        else {
            continue;
        };
        changes.push(Change { seq: queued, pan, delta_fen: -(amount as i64), trade: Some(*id) });
        if let Some(chip) = chips.get_mut(&pan) {
            chip.all_uploaded &= trade.offline_uploaded.is_some();
        }
    }
    for (seq, _, kind) in index.issuer_events() {
        match kind {
            IssuerEventKind::ECashLoaded { pan, amount_fen } => {
                changes.push(Change { seq, pan: *pan, delta_fen: *amount_fen, trade: None });
            }
            IssuerEventKind::Moved { pan, purse: Purse::Offline, delta_fen, .. } => {
                if let Some(chip) = chips.get_mut(pan) {
                    chip.issuer_record_fen += delta_fen;
                    chip.moves.push(seq);
                }
            }
            _ => {}
        }
    }
    changes.sort_by_key(|change| change.seq);
    let mut violations = Vec::new();
    for change in changes {
        // A card the setup does not name is refused 14 by its issuer; the
        // chip's balance is unknown, so nothing is judged on it.
        let Some(chip) = chips.get_mut(&change.pan) else { continue };
        chip.chip_fen += change.delta_fen;
        chip.changes.push(change.seq);
        let bound = if chip.chip_fen < 0 {
            "below zero"
        } else if chip.chip_fen > chip.load_max_fen {
            "above the load limit"
        } else {
            continue;
        };
        let message = format!(
            "the chip's offline balance went {bound}: {} (opening {}, limit {})",
            fen(chip.chip_fen),
            fen(chip.opening_fen),
            fen(chip.load_max_fen)
        );
        let trade = change.trade.map(|id| index.trade_ref(id));
        violations.push(Violation::new(
            INVARIANT,
            trade,
            message,
            index.evidence_of(chip.changes.iter().rev().take(4).copied()),
        ));
    }
    for (pan, chip) in &chips {
        if chip.changes.is_empty() || !chip.all_uploaded || chip.chip_fen == chip.issuer_record_fen
        {
            continue;
        }
        let message = format!(
            "after upload the issuer records {} on the chip of card {}, the chip holds {}",
            fen(chip.issuer_record_fen),
            short_pan(pan),
            fen(chip.chip_fen)
        );
        let seqs = chip.changes.iter().chain(chip.moves.iter()).copied();
        let trade = index
            .trades
            .iter()
            .find(|(_, view)| view.pan == Some(*pan) && view.kind == Some(TradeKind::ECashUpload))
            .map(|(id, _)| index.trade_ref(*id))
            .map(|reference| TradeRef { card: Some(*pan), ..reference });
        violations.push(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)));
    }
    violations
}

/// How many cards the invariant judged: those with an e-cash trade paid
/// offline or a load.
pub(crate) fn cards_judged(index: &TraceIndex) -> usize {
    let mut cards: Vec<Pan> = index
        .trades
        .values()
        .filter(|trade| {
            trade.kind == Some(TradeKind::ECashUpload) && trade.offline_queued.is_some()
        })
        .filter_map(|trade| trade.pan)
        .collect();
    cards.extend(index.issuer_events().filter_map(|(_, _, kind)| match kind {
        IssuerEventKind::ECashLoaded { pan, .. } => Some(*pan),
        _ => None,
    }));
    cards.sort();
    cards.dedup();
    cards.len()
}

/// Every card of the setup, at its opening offline balance.
fn opening(index: &TraceIndex) -> BTreeMap<Pan, Chip> {
    let setup = index.records.iter().find_map(|record| match &record.event {
        TraceEvent::Setup(setup) => Some(setup),
        _ => None,
    });
    setup
        .map(|setup| {
            setup
                .cards
                .iter()
                .map(|card| {
                    let chip = Chip {
                        opening_fen: card.offline_balance_fen,
                        load_max_fen: card.ecash_load_max_fen,
                        chip_fen: card.offline_balance_fen,
                        issuer_record_fen: card.offline_balance_fen,
                        all_uploaded: true,
                        ..Chip::default()
                    };
                    (card.pan, chip)
                })
                .collect()
        })
        .unwrap_or_default()
}
