//! Each card's money from the issuers' `Moved` events: every movement is
//! booked as the debit, reversal or credit it was, told by the issuer event
//! that follows it (`Reversed`, `ReturnedAtClearing`, `Approved`, ...). Held
//! money (pre-authorisations) is not the cardholder's to lose and is left
//! out; a load of electronic cash moves money between the card's own two
//! purses and nets to nothing.

use std::collections::BTreeMap;

use possim_models::iso8583::values::Pan;
use possim_models::issuer::{IssuerEventKind, Purse};
use possim_reports::ledger::{LedgerCard, Movement};

use crate::trace::{Trace, TraceEvent};

struct Card {
    ledger: LedgerCard,
    opening_account_fen: i64,
    opening_offline_fen: i64,
    last_account_fen: Option<i64>,
    last_offline_fen: Option<i64>,
}

/// A movement waiting for the event that says what it was.
struct Pending {
    pan: Pan,
    delta_fen: i64,
}

fn book(cards: &mut BTreeMap<Pan, Card>, pending: Vec<Pending>, by: Option<&IssuerEventKind>) {
    for moved in pending {
        let Some(card) = cards.get_mut(&moved.pan) else { continue };
        let movement = match by {
            Some(IssuerEventKind::ECashLoaded { .. }) => continue,
            Some(IssuerEventKind::Reversed { .. }) => Movement::Reversal,
            Some(IssuerEventKind::ReturnedAtClearing { .. }) => Movement::Credit,
            _ if moved.delta_fen < 0 => Movement::Debit,
            _ => Movement::Credit,
        };
        card.ledger.post(movement, moved.delta_fen);
    }
}

/// Every card of the run, in card-number order.
pub(crate) fn ledger(trace: &Trace) -> Vec<LedgerCard> {
    let mut cards: BTreeMap<Pan, Card> = BTreeMap::new();
    let mut pending: BTreeMap<u16, Vec<Pending>> = BTreeMap::new();
    for record in trace.records() {
        match &record.event {
            TraceEvent::Setup(setup) => {
                for card in &setup.cards {
                    cards.insert(
                        card.pan,
                        Card {
                            ledger: LedgerCard::new(
                                &card.pan.masked(),
                                &format!("issuer {}", card.issuer),
                                card.balance_fen + card.offline_balance_fen,
                            ),
                            opening_account_fen: card.balance_fen,
                            opening_offline_fen: card.offline_balance_fen,
                            last_account_fen: None,
                            last_offline_fen: None,
                        },
                    );
                }
            }
            TraceEvent::Issuer { issuer, event } => match &event.kind {
                IssuerEventKind::Moved { pan, purse, delta_fen, balance_after_fen, .. } => {
                    let Some(card) = cards.get_mut(pan) else { continue };
                    match purse {
                        Purse::Hold => continue,
                        Purse::Account => card.last_account_fen = Some(*balance_after_fen),
                        Purse::Offline => card.last_offline_fen = Some(*balance_after_fen),
                    }
                    pending
                        .entry(*issuer)
                        .or_default()
                        .push(Pending { pan: *pan, delta_fen: *delta_fen });
                }
                other => {
                    let moves = pending.remove(issuer).unwrap_or_default();
                    book(&mut cards, moves, Some(other));
                }
            },
            _ => {}
        }
    }
    for (_, moves) in std::mem::take(&mut pending) {
        book(&mut cards, moves, None);
    }
    cards
        .into_values()
        .map(|mut card| {
            card.ledger.issuer_closing_fen = Some(
                card.last_account_fen.unwrap_or(card.opening_account_fen)
                    + card.last_offline_fen.unwrap_or(card.opening_offline_fen),
            );
            card.ledger
        })
        .collect()
}
