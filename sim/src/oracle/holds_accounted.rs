//! **holds-accounted**: a pre-authorisation's hold is money the cardholder
//! cannot spend, so it must end exactly when its pre-auth does, and a
//! completion must take the place of the hold, not add to it.
//!
//! Judged from the issuers' events alone, per pre-auth (issuer, trade key):
//! `HoldPlaced` (approved, or open again after its completion or cancel
//! was reversed), `HoldClosed` (completed, cancelled, expired, reversed),
//! and the `Moved` deltas on the hold purse under the pre-auth's key. It
//! fails when:
//!
//! - **a hold outlives its end**: after a `HoldClosed`, money is still held
//!   under the pre-auth's key (the completion debited while the hold stood:
//!   the cardholder pays twice, once held and once debited);
//! - **a hold outlives its expiry**: a hold closed later than its
//!   `expires_at` (plus one second, the shell's timer resolution being a
//!   tick), or still open at the end of the judged log past it;
//! - **a completion exceeds the allowance**: it captured more than 115 %
//!   of the hold (`COMPLETION_ALLOWANCE_PERCENT`, CUP's allowance);
//! - **a pre-auth is captured twice**: a second completion stands while the
//!   first does (one reopened by the reversal of its completion may be
//!   completed again).
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::HoldsAccounted);
//! assert!(verdict.passed());
//! assert!(verdict.to_string().contains("judged nothing (no holds)"));
//! ```

use std::collections::BTreeMap;

use possim_models::actor::TradeKey;
use possim_models::issuer::{
    within_allowance, HoldClosedWhy, IssuerEventKind, Purse, COMPLETION_ALLOWANCE_PERCENT,
};
use possim_models::time::Instant;

use super::index::{fen, TraceIndex, TradeId};
use super::{Invariant, TradeRef, Violation};
use crate::trace::TraceEvent;

const INVARIANT: Invariant = Invariant::HoldsAccounted;

/// How late past its `expires_at` a hold may close: the shell fires an
/// actor's deadline at the next tick, and no bundled tick exceeds this.
pub const EXPIRY_SLACK_MS: u64 = 1_000;

#[derive(Debug, Default)]
struct Hold {
    /// The pre-auth's amount, as its first `HoldPlaced` said.
    held_fen: i64,
    /// What the hold purse still holds under the pre-auth's key (sum of
    /// its `Moved` deltas, negated).
    standing_fen: i64,
    /// The open hold: placed at (seq), lapsing at.
    open: Option<(u64, Instant)>,
    /// Completions standing now.
    captures: u32,
    /// Whether the last close was a completion (a reopening undoes it).
    closed_by_completion: bool,
    seqs: Vec<u64>,
}

/// The pre-auths that held money, by issuer and key.
pub(crate) fn holds(index: &TraceIndex) -> usize {
    index
        .records
        .iter()
        .filter(|record| {
            matches!(&record.event, TraceEvent::Issuer { event, .. }
                if matches!(event.kind, IssuerEventKind::HoldPlaced { .. }))
        })
        .count()
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut holds: BTreeMap<(u16, TradeKey), Hold> = BTreeMap::new();
    let mut violations = Vec::new();
    let trade = |key: &TradeKey, held_fen: i64| TradeRef {
        amount_fen: Some(held_fen.max(0) as u64),
        ..index.trade_ref(TradeId::of(key))
    };
    for record in index.records {
        let TraceEvent::Issuer { issuer, event } = &record.event else { continue };
        let (seq, at) = (record.seq, record.at);
        match &event.kind {
            IssuerEventKind::Moved { key: Some(key), purse: Purse::Hold, delta_fen, .. } => {
                let hold = holds.entry((*issuer, *key)).or_default();
                hold.standing_fen -= delta_fen;
                hold.seqs.push(seq);
            }
            IssuerEventKind::HoldPlaced { pre_auth, held_fen, expires_at, .. } => {
                let hold = holds.entry((*issuer, *pre_auth)).or_default();
                if hold.held_fen == 0 {
                    hold.held_fen = *held_fen;
                }
                if hold.closed_by_completion {
                    hold.captures = hold.captures.saturating_sub(1);
                    hold.closed_by_completion = false;
                }
                hold.open = Some((seq, *expires_at));
                hold.seqs.push(seq);
            }
            IssuerEventKind::HoldClosed { pre_auth, why, captured_fen, .. } => {
                let hold = holds.entry((*issuer, *pre_auth)).or_default();
                hold.seqs.push(seq);
                let mut fail = |message: String, seqs: &[u64]| {
                    let evidence = index.evidence_of(seqs.iter().copied());
                    let trade = Some(trade(pre_auth, hold.held_fen));
                    violations.push(Violation::new(INVARIANT, trade, message, evidence));
                };
                if hold.standing_fen != 0 {
                    let message = format!(
                        "the hold outlives its {}: {} still held after it",
                        label(*why),
                        fen(hold.standing_fen)
                    );
                    fail(message, &hold.seqs);
                }
                if let Some((placed, expires_at)) = hold.open {
                    let deadline = expires_at.as_millis() + EXPIRY_SLACK_MS;
                    if at.as_millis() > deadline {
                        let message = format!(
                            "the hold outlives its expiry at {expires_at}: it ended ({}) at {at}",
                            label(*why)
                        );
                        fail(message, &[placed, seq]);
                    }
                }
                if *why == HoldClosedWhy::Completed {
                    if !within_allowance(*captured_fen, hold.held_fen) {
                        let message = format!(
                            "a completion of {} exceeds {COMPLETION_ALLOWANCE_PERCENT} % of the hold {}",
                            fen(*captured_fen),
                            fen(hold.held_fen)
                        );
                        fail(message, &[seq]);
                    }
                    hold.captures += 1;
                    hold.closed_by_completion = true;
                    if hold.captures > 1 {
                        let message = format!(
                            "the pre-auth is captured {} times: the card is debited twice",
                            hold.captures
                        );
                        fail(message, &hold.seqs);
                    }
                }
                hold.open = None;
            }
            _ => {}
        }
    }
    // Still open at the end of the judged log, past its expiry.
    if let Some((end_seq, end_at)) = index.end() {
        for ((_, key), hold) in &holds {
            let Some((placed, expires_at)) = hold.open else { continue };
            if end_at.as_millis() > expires_at.as_millis() + EXPIRY_SLACK_MS {
                let message = format!(
                    "the hold of {} outlives its expiry at {expires_at}: still open at {end_at}",
                    fen(hold.standing_fen)
                );
                let evidence = index.evidence_of([placed, end_seq]);
                violations.push(Violation::new(
                    INVARIANT,
                    Some(trade(key, hold.held_fen)),
                    message,
                    evidence,
                ));
            }
        }
    }
    violations
}

fn label(why: HoldClosedWhy) -> &'static str {
    match why {
        HoldClosedWhy::Completed => "completion",
        HoldClosedWhy::Cancelled => "cancel",
        HoldClosedWhy::Expired => "expiry",
        HoldClosedWhy::Reversed => "reversal",
    }
}

#[cfg(test)]
mod tests {
    use possim_models::iso8583::values::{BatchNo, MerchantId, Pan, Stan, TerminalId};
    use possim_models::issuer::IssuerEvent;

    use super::*;
    use crate::oracle::check_one;
    use crate::trace::{Phase, Trace};

    fn key(stan: u32) -> TradeKey {
        TradeKey {
            terminal: TerminalId::new("T0000001").unwrap(),
            merchant: MerchantId::new("898100000000001").unwrap(),
            batch: BatchNo::new(1).unwrap(),
            stan: Stan::new(stan).unwrap(),
        }
    }

    fn pan() -> Pan {
        Pan::new("6222020000000001").unwrap()
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn push(trace: &mut Trace, ms: u64, kind: IssuerEventKind) {
        trace.push(
            at(ms),
            TraceEvent::Issuer { issuer: 0, event: IssuerEvent { at: at(ms), kind } },
        );
    }

    fn hold_moved(trace: &mut Trace, ms: u64, delta_fen: i64) {
        let kind = IssuerEventKind::Moved {
            key: Some(key(1)),
            pan: pan(),
            purse: Purse::Hold,
            delta_fen,
            balance_after_fen: 0,
        };
        push(trace, ms, kind);
    }

    /// A pre-auth of 100.00 placed at 1 s, lapsing at 61 s, completed at
    /// `closed_ms` for `captured_fen`, releasing `released_fen`.
    fn completed(closed_ms: u64, released_fen: i64, captured_fen: i64) -> Trace {
        let mut trace = Trace::new();
        hold_moved(&mut trace, 1_000, -10_000);
        let placed = IssuerEventKind::HoldPlaced {
            pre_auth: key(1),
            pan: pan(),
            held_fen: 10_000,
            expires_at: at(61_000),
        };
        push(&mut trace, 1_000, placed);
        if released_fen != 0 {
            hold_moved(&mut trace, closed_ms, released_fen);
        }
        let closed = IssuerEventKind::HoldClosed {
            pre_auth: key(1),
            pan: pan(),
            by: Some(key(2)),
            why: HoldClosedWhy::Completed,
            released_fen,
            captured_fen,
        };
        push(&mut trace, closed_ms, closed);
        trace.push(at(closed_ms + 1), TraceEvent::Phase { phase: Phase::End });
        trace
    }

    #[test]
    fn a_completion_that_releases_its_hold_within_the_allowance_passes() {
        let verdict = check_one(&completed(30_000, 10_000, 11_500), INVARIANT);
        assert!(verdict.passed(), "{verdict}");
        assert_eq!(verdict.to_string(), "holds-accounted: passed (1 holds)");
    }

    #[test]
    fn a_completion_that_leaves_the_hold_standing_fails() {
        let verdict = check_one(&completed(30_000, 0, 10_000), INVARIANT);
        assert!(verdict.to_string().contains("outlives its completion"), "{verdict}");
    }

    #[test]
    fn a_completion_past_the_allowance_fails() {
        let verdict = check_one(&completed(30_000, 10_000, 11_501), INVARIANT);
        assert!(verdict.to_string().contains("exceeds 115 % of the hold"), "{verdict}");
    }

    #[test]
    fn a_hold_closed_late_or_still_open_past_its_expiry_fails() {
        let verdict = check_one(&completed(62_001, 10_000, 10_000), INVARIANT);
        assert!(verdict.to_string().contains("outlives its expiry"), "{verdict}");
        let mut open = Trace::new();
        hold_moved(&mut open, 1_000, -10_000);
        let placed = IssuerEventKind::HoldPlaced {
            pre_auth: key(1),
            pan: pan(),
            held_fen: 10_000,
            expires_at: at(61_000),
        };
        push(&mut open, 1_000, placed);
        open.push(at(62_001), TraceEvent::Phase { phase: Phase::End });
        let verdict = check_one(&open, INVARIANT);
        assert!(verdict.to_string().contains("still open at"), "{verdict}");
    }
}
