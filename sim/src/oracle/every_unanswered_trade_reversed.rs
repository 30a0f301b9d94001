//! **every-unanswered-trade-reversed**: a reversible trade (sale, void,
//! pre-auth, completion: `TradeKind::is_reversible`) sent without a usable
//! answer is reversed before its terminal's next online message, and the
//! reversal is acknowledged by the end of healing.
//!
//! What is compared, from the log alone:
//!
//! - *Sent without a usable answer*: the terminal's `TradeFailed` (after a
//!   timeout, a bad MAC, a garbled or mismatched answer, a tamper lock), or a
//!   `PowerLost` after the trade's `RequestSent` and before any answer. A
//!   `TradeAnswered` (even a decline) is a usable answer.
//! - *Reversed before the next online message*: from the failure until the
//!   terminal's `ReversalAcknowledged`, every `RequestSent` of that terminal
//!   is the 0400 of that STAN — except an 0800 sign-in, which never waits for
//!   a reversal (a terminal that must sign in could otherwise never send it;
//!   see docs/DESIGN.md, "The terminal"). This catches the cashier's retry
//!   that leaves before the reversal (`cashier_retry_after_failure: true`).
//! - *Acknowledged by the end*: `ReversalAcknowledged` at the terminal, or the
//!   issuer shows the reversal settled (`Reversed`, or `ReversalIgnored`:
//!   original unknown, declined, or a repeat). A reversal `ReversalAbandoned`
//!   by the terminal (`reversal_exhausted: delete`) with nothing upstream
//!   showing it reversed is a violation; so is a trade that never had a
//!   reversal at all (`reversal_persist: after_send` and a power cut after the
//!   request left: the evidence is its `RequestSent`, the `PowerLost`, and no
//!   `ReversalSent` for that STAN).
//! - *Upstream reversals*: a reversal the switch queued (its own after an
//!   upstream timeout, or a terminal's it acknowledged) is acknowledged at the
//!   switch by the end; one the network queued (after an issuer timeout, or
//!   in custody) is acknowledged by the issuer, not abandoned.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::EveryUnansweredTradeReversed).passed());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::network::NetworkEventKind;
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;

use super::index::{TraceIndex, TradeId, TradeView};
use super::{Invariant, Violation};

const INVARIANT: Invariant = Invariant::EveryUnansweredTradeReversed;

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut reported = BTreeSet::new();
    for (id, view) in &index.trades {
        if let Some(violation) = terminal_side(index, *id, view) {
            reported.insert(*id);
            violations.push(violation);
        }
    }
    upstream(index, &reported, &mut violations);
    violations
}

fn terminal_side(index: &TraceIndex, id: TradeId, view: &TradeView) -> Option<Violation> {
    let kind = view.kind?;
    if !kind.is_reversible() || view.answered.is_some() {
        return None;
    }
    let lost = match (view.failed, view.power_lost) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    let trade = Some(index.trade_ref(id));
    let upstream = index.reversed_upstream(id);
    let issuer_moves = index.issuer.get(&id).map(|v| v.moves.clone()).unwrap_or_default();
    let base: Vec<u64> =
        [view.started, view.sent, Some(lost), view.reversal_armed].into_iter().flatten().collect();

    if view.reversal_sent.is_empty()
        && view.reversal_armed.is_none()
        && view.reversal_stored.is_none()
    {
        if upstream.is_some() {
            return None;
        }
        let why = if view.power_lost.is_some() {
            "the power went after the request left, and no reversal was ever stored or sent"
        } else {
            "the trade failed without a usable answer, and no reversal was ever stored or sent"
        };
        let mut seqs = base;
        seqs.extend(issuer_moves.iter().take(2));
        return Some(Violation::new(INVARIANT, trade, why.to_string(), index.evidence_of(seqs)));
    }

    // From the failure on, only the reversal (or a sign-in) may leave.
    let until = view.reversal_acknowledged.unwrap_or(u64::MAX);
    let events = index.terminal_events.get(&id.terminal).map(Vec::as_slice).unwrap_or(&[]);
    // Events are in log order: start right after the loss.
    let from = events.partition_point(|e| e.seq <= lost);
    for event in events[from..].iter().take_while(|e| e.seq < until) {
        if view.reversal_abandoned.is_some_and(|abandoned| event.seq > abandoned) {
            break;
        }
        let TerminalEventKind::RequestSent { stan, mti } = event.kind else { continue };
        let own_reversal = mti == "0400" && *stan == id.stan;
        if own_reversal || mti == "0800" {
            continue;
        }
        let message = format!(
            "{mti} stan {stan} left at {} while the reversal of this trade was unacknowledged",
            event.at
        );
        let mut seqs = base;
        seqs.push(event.seq);
        seqs.extend(view.reversal_sent.first());
        return Some(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)));
    }

    if view.reversal_acknowledged.is_some() || upstream.is_some() {
        return None;
    }
    let mut seqs = base;
    seqs.extend(view.reversal_sent.iter().take(2));
    seqs.extend(view.reversal_sent.last());
    seqs.extend(issuer_moves.iter().take(1));
    let message = match view.reversal_abandoned {
        Some(abandoned) => {
            seqs.push(abandoned);
            format!(
                "the reversal was abandoned after {} tries and nothing upstream reversed the trade",
                view.reversal_sent.len()
            )
        }
        None if view.reversal_sent.is_empty() => {
            "the reversal was armed but never sent by the end".to_string()
        }
        None => format!(
            "the reversal was sent {} times and never acknowledged by the end",
            view.reversal_sent.len()
        ),
    };
    seqs.extend(index.end().map(|(seq, _)| seq));
    Some(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)))
}

/// Reversals the switch or the network took on must be done by the end.
fn upstream(index: &TraceIndex, reported: &BTreeSet<TradeId>, violations: &mut Vec<Violation>) {
    // Per trade: (queued seq, acknowledged seq) at the switch, then the network.
    let mut switch: BTreeMap<TradeId, (u64, Option<u64>)> = BTreeMap::new();
    for (seq, kind) in index.switch_events() {
        match kind {
            SwitchEventKind::ReversalQueued { key, .. } => {
                switch.entry(TradeId::of(key)).or_insert((seq, None));
            }
            SwitchEventKind::ReversalAcknowledged { key, .. } => {
                if let Some(entry) = switch.get_mut(&TradeId::of(key)) {
                    entry.1 = Some(seq);
                }
            }
            _ => {}
        }
    }
    let mut network: BTreeMap<TradeId, (u64, Option<u64>, Option<u64>)> = BTreeMap::new();
    for (seq, kind) in index.network_events() {
        match kind {
            NetworkEventKind::ReversalQueued { key, .. } => {
                network.entry(TradeId::of(key)).or_insert((seq, None, None));
            }
            NetworkEventKind::ReversalAcknowledged { key, .. } => {
                if let Some(entry) = network.get_mut(&TradeId::of(key)) {
                    entry.1 = Some(seq);
                }
            }
            NetworkEventKind::ReversalAbandoned { key, .. } => {
                if let Some(entry) = network.get_mut(&TradeId::of(key)) {
                    entry.2 = Some(seq);
                }
            }
            _ => {}
        }
    }
    let end = index.end().map(|(seq, _)| seq);
    for (id, (queued, acknowledged)) in &switch {
        if acknowledged.is_some() || reported.contains(id) || index.reversed_upstream(*id).is_some()
        {
            continue;
        }
        let message =
            "the switch queued a reversal that was never acknowledged by the end".to_string();
        let seqs = [Some(*queued), end].into_iter().flatten();
        violations.push(Violation::new(
            INVARIANT,
            Some(index.trade_ref(*id)),
            message,
            index.evidence_of(seqs),
        ));
    }
    for (id, (queued, acknowledged, abandoned)) in &network {
        if acknowledged.is_some() || reported.contains(id) || index.reversed_upstream(*id).is_some()
        {
            continue;
        }
        let message = match abandoned {
            Some(_) => "the network abandoned its reversal toward the issuer".to_string(),
            None => {
                "the network held a reversal the issuer never acknowledged by the end".to_string()
            }
        };
        let seqs = [Some(*queued), *abandoned, end].into_iter().flatten();
        violations.push(Violation::new(
            INVARIANT,
            Some(index.trade_ref(*id)),
            message,
            index.evidence_of(seqs),
        ));
    }
}
