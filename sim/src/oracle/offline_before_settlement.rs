//! **offline-before-settlement**: no 0500 leaves a terminal while it holds an
//! advice not yet acknowledged — an offline trade, or a refund (DOMAIN.md,
//! Transactions: "CUP carries it as an 0220 advice: the terminal keeps it
//! (persistently) and re-sends it, same STAN, until the host acknowledges
//! it"); none is lost or taken twice.
//!
//! What is checked:
//!
//! - *No 0500 while one is held*: per terminal, the advices held —
//!   offline trades queued (`OfflineQueued`) and refunds stored
//!   (`AdviceStored`) — not yet answered with a verdict (`OfflineUploaded`
//!   or `OfflineUploadFailed`; a refund's `TradeAnswered`; a deferred one
//!   is still held, and a refund forgotten unanswered is still owed). A
//!   `RequestSent` of an 0500 while any is held is a violation naming the
//!   first.
//! - *None lost*: by the end, every held advice was taken, or refused
//!   and listed — on a readable offline-failures slip (`SlipPrinted` of kind
//!   `OfflineFailures` listing its STAN) once its batch's journal was
//!   cleared. A refund refused at its first answer is a decline the
//!   cashier saw at the counter, and needs no listing.
//! - *None taken twice*: the issuer approved one advice key more than once,
//!   or moved money for it more than once (an offline trade debited twice,
//!   a refund credited twice). The issuer answers a repeated key 94, so
//!   this catches a host that does not, or an issuer policy that books
//!   copies; a terminal resending an advice is what it must do, and never
//!   changes its key.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::OfflineBeforeSettlement).passed());
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::values::Stan;
use possim_models::iso8583::Mti;
use possim_models::terminal::events::TerminalEventKind;

use super::index::{TraceIndex, TradeId};
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::OfflineBeforeSettlement;

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (terminal, events) in &index.terminal_events {
        // STAN -> (seq held since, the trade).
        let mut held: BTreeMap<Stan, (u64, Option<TradeId>)> = BTreeMap::new();
        for event in events {
            match event.kind {
                TerminalEventKind::OfflineQueued { stan, .. }
                | TerminalEventKind::AdviceStored { stan } => {
                    let id = index.trade_of(*terminal, *stan).map(|(id, _)| id);
                    held.insert(*stan, (event.seq, id));
                }
                TerminalEventKind::OfflineUploaded { stan, .. }
                | TerminalEventKind::OfflineUploadFailed { stan, .. }
                | TerminalEventKind::TradeAnswered { stan, .. } => {
                    held.remove(stan);
                }
                TerminalEventKind::RequestSent { stan, mti }
                    if *mti == Mti::SETTLEMENT && !held.is_empty() =>
                {
                    let (first_stan, (queued, id)) = held.iter().next().expect("not empty");
                    let trade = match id {
                        Some(id) => index.trade_ref(*id),
                        None => {
                            TradeRef { stan: Some(*first_stan), ..TradeRef::terminal(*terminal) }
                        }
                    };
                    let message = format!(
                        "the 0500 (stan {stan}) left while {} advices (offline trades, refunds) were not acknowledged, among them stan {first_stan}",
                        held.len()
                    );
                    let seqs = [*queued, event.seq];
                    violations.push(Violation::new(
                        INVARIANT,
                        Some(trade),
                        message,
                        index.evidence_of(seqs),
                    ));
                }
                _ => {}
            }
        }
    }
    for (id, view) in &index.trades {
        let Some(queued) = view.advice_held() else { continue };
        let what = if view.advice_stored.is_some() { "refund advice" } else { "offline trade" };
        let trade = Some(index.trade_ref(*id));
        let end = index.end().map(|(seq, _)| seq);
        let refused = view.advice_refused();
        if view.advice_taken().is_none() && refused.is_none() {
            let message = match view.journal_cleared {
                Some(_) => {
                    format!("the {what} was never acknowledged and its journal was cleared: lost")
                }
                None => format!("the {what} was never acknowledged by the end"),
            };
            let seqs = [Some(queued), view.failed, view.journal_cleared, end].into_iter().flatten();
            violations.push(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)));
            continue;
        }
        if let (Some(refused), Some(cleared), None, true) =
            (refused, view.journal_cleared, view.listed_as_failed, view.refusal_owes_listing())
        {
            let message = format!(
                "the host refused the {what} and its journal was cleared without it on a readable offline-failures list"
            );
            violations.push(Violation::new(
                INVARIANT,
                trade,
                message,
                index.evidence_of([queued, refused, cleared]),
            ));
        }
    }
    for (id, view) in &index.issuer {
        let Some(kind) = view.kind.filter(|kind| kind.is_advice()) else { continue };
        let moved_twice =
            if kind.is_offline_upload() { view.debits.len() > 1 } else { view.moves.len() > 1 };
        if moved_twice || view.approved.len() > 1 {
            let message = if kind.is_offline_upload() {
                format!(
                    "the issuer approved one offline trade {} times and debited it {} times",
                    view.approved.len(),
                    view.debits.len()
                )
            } else {
                format!(
                    "the issuer approved one {} {} times and moved its money {} times",
                    kind.label(),
                    view.approved.len(),
                    view.moves.len()
                )
            };
            let seqs = view.approved.iter().chain(&view.moves).copied();
            violations.push(Violation::new(
                INVARIANT,
                Some(index.trade_ref(*id)),
                message,
                index.evidence_of(seqs),
            ));
        }
    }
    violations
}
