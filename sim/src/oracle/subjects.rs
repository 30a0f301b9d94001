//! What each invariant judged, counted: an invariant with nothing to judge
//! (no settlement for settlement-balances, no offline trade for
//! offline-before-settlement) says "judged nothing" instead of "passed",
//! so a report never shows a pass that tested nothing. The count does not
//! go into the trace: it is derived from it.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::SettlementBalances);
//! assert_eq!(verdict.judged, 0);
//! assert!(verdict.to_string().contains("judged nothing (no settlements)"));
//! ```

use possim_models::terminal::events::TerminalEventKind;

use super::index::TraceIndex;
use super::Invariant;
use crate::trace::TraceEvent;

/// How many things `invariant` judged in `index`, and what they are.
pub(crate) fn count(invariant: Invariant, index: &TraceIndex) -> (usize, &'static str) {
    let terminal_events = || index.terminal_events.values().flatten();
    match invariant {
        Invariant::EveryUnansweredTradeReversed => (
            index.wire_trades.values().filter(|trade| trade.kind.is_reversible()).count(),
            "reversible trades sent",
        ),
        Invariant::OfflineBeforeSettlement => (
            index
                .trades
                .values()
                .filter(|trade| trade.offline_queued.is_some() || trade.advice_stored.is_some())
                .count(),
            "offline trades and advices",
        ),
        Invariant::NoDoubleDebit => (index.issuer.len(), "trades at an issuer"),
        Invariant::Conservation | Invariant::SettlementBalances => (
            terminal_events()
                .filter(|event| matches!(event.kind, TerminalEventKind::SettlementStarted { .. }))
                .count(),
            "settlements",
        ),
        Invariant::SlipTruth => {
            (index.trades.values().filter(|trade| trade.approved()).count(), "approvals")
        }
        Invariant::AuthenticatedOnly => (
            index
                .records
                .iter()
                .filter(|record| matches!(record.event, TraceEvent::Frame(_)))
                .count(),
            "frames",
        ),
        Invariant::HoldsAccounted => (super::holds_accounted::holds(index), "holds"),
        Invariant::Numbering => (
            index
                .frames
                .iter()
                .filter(|frame| {
                    frame.from_terminal()
                        && frame.is_request()
                        && frame.stan.is_some()
                        && frame.batch.is_some()
                })
                .count(),
            "messages sent by terminals",
        ),
        Invariant::EcashBalances => (super::ecash_balances::cards_judged(index), "e-cash cards"),
        Invariant::SignOffEndsSession => {
            (super::sign_off_ends_session::judged(index), "acknowledged sign-offs")
        }
        Invariant::TamperEndsSession => (super::tamper_ends_session::judged(index), "tamper locks"),
        Invariant::VoidsMatchOriginals => {
            (super::voids_match_originals::judged(index), "voids whose original was sent")
        }
        Invariant::DeclinesAreFinal => {
            (super::declines_are_final::judged(index), "declines of reversible trades")
        }
    }
}
