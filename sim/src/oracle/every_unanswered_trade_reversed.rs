//! **every-unanswered-trade-reversed**: a reversible trade (sale, void,
//! pre-auth, completion: `TradeKind::is_reversible`) sent without a usable
//! answer is reversed before its terminal's next online message, and the
//! reversal is acknowledged by the end of healing.
//!
//! What is compared, from the terminal's line and the issuer's money
//! ([`super::wire_trades`] reads the line), never the terminal's own word:
//!
//! - *Sent without a usable answer*: the request left the terminal, and the
//!   terminal stopped waiting (sent something else, or lost power) before an
//!   intact answer reached it; a 94 is not an answer to a reversible trade.
//! - *Reversed before the next online message*: every frame the terminal
//!   sends after that is the 0400 of the trade, until an intact 0410 (00, 12
//!   or 25) reaches it — except an 0800 sign-in, which never waits for a
//!   reversal (a terminal that must sign in could otherwise never send it;
//!   see docs/DESIGN.md, "The terminal"), and except after the terminal gave
//!   the reversal up (no 0400 of it follows): what a given-up reversal left
//!   is judged on the money below. A message that leaves before any 0400 of
//!   the trade, or between two of its 0400s, is a violation: this catches the
//!   cashier's retry that leaves before the reversal
//!   (`cashier_retry_after_failure: true`).
//! - *Acknowledged by the end*: an intact 0410 reached the terminal, or the
//!   issuer shows the reversal settled (`Reversed`, or `ReversalIgnored`:
//!   original unknown, declined, or a repeat). A reversal the terminal tried
//!   and gave up is judged on the money instead: the issuer holds nothing
//!   of the trade by the end — it handed the money back at the end of day's
//!   clearing (the acquirer did not clear a trade its terminal did not
//!   settle: DOMAIN.md, "if the reversal cannot get through before
//!   settlement, the two sides reconcile the next day"), or never took it. A trade with
//!   no 0400 at all is a violation unless reversed upstream, whatever the
//!   clearing did (`reversal_persist: after_send` and a power cut after the
//!   request left: the evidence is the request, the power cut, and no
//!   reversal).
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

use super::index::{TraceIndex, TradeId};
use super::wire_trades::WireTrade;
use super::{Invariant, Violation};
use crate::trace::TraceEvent;

const INVARIANT: Invariant = Invariant::EveryUnansweredTradeReversed;

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut reported = BTreeSet::new();
    for (id, trade) in &index.wire_trades {
        if let Some(violation) = terminal_side(index, *id, trade) {
            reported.insert(*id);
            violations.push(violation);
        }
    }
    upstream(index, &reported, &mut violations);
    violations
}

fn terminal_side(index: &TraceIndex, id: TradeId, trade: &WireTrade) -> Option<Violation> {
    if !trade.unanswered() {
        return None;
    }
    // Still waiting at the end: nothing was owed yet (healing judges that).
    let lost = trade.stopped_waiting?;
    let trade_ref = Some(index.trade_ref(id));
    let reversed_upstream = index.reversed_upstream(id);
    let issuer_moves = index.issuer.get(&id).map(|v| v.moves.clone()).unwrap_or_default();
    let base = [trade.request, lost];

    if trade.reversals.is_empty() {
        // Never tried: only a reversal upstream excuses it, not the next
        // day's clearing (the terminal broke the rule, whatever came after).
        if reversed_upstream.is_some() {
            return None;
        }
        let power =
            index.record(lost).is_some_and(|record| !matches!(record.event, TraceEvent::Frame(_)));
        let why = if power {
            "the power went after the request left, and no reversal was ever sent"
        } else {
            "the trade got no usable answer, and no reversal was ever sent"
        };
        let mut seqs = base.to_vec();
        seqs.extend(issuer_moves.iter().take(2));
        return Some(Violation::new(
            INVARIANT,
            trade_ref,
            why.to_string(),
            index.evidence_of(seqs),
        ));
    }

    // From the loss on, only the reversal (or a sign-in) may leave while the
    // reversal is alive.
    let until = trade.reversal_acknowledged.unwrap_or(u64::MAX);
    let last_reversal = trade.reversals.last().copied().unwrap_or(0);
    let from = index.frames.partition_point(|frame| frame.seq < lost);
    for frame in index.frames[from..].iter().take_while(|frame| frame.seq < until) {
        if !frame.from_terminal() || frame.terminal != Some(id.terminal) {
            continue;
        }
        let Some(mti) = frame.mti else { continue };
        if mti == "0800" || (mti == "0400" && frame.stan == Some(id.stan)) {
            continue;
        }
        if frame.seq > last_reversal {
            // The terminal gave the reversal up before this: the money says
            // whether that was harmless.
            break;
        }
        let tried = trade.reversals.first().is_some_and(|first| *first < frame.seq);
        let message = format!(
            "{mti} stan {} left at {} {} the reversal of this trade",
            frame.stan.map_or("-".to_string(), |stan| stan.to_string()),
            index.record(frame.seq).map_or_else(String::new, |record| record.at.to_string()),
            if tried { "between two tries of" } else { "before any try of" }
        );
        let mut seqs = base.to_vec();
        seqs.push(frame.seq);
        seqs.extend(trade.reversals.first());
        return Some(Violation::new(INVARIANT, trade_ref, message, index.evidence_of(seqs)));
    }

    // Tried and given up: judged on the money, which DOMAIN.md's next-day
    // clearing puts right: the issuer holds nothing of the trade by the end
    // (handed back at clearing, or never taken: the request may never have
    // reached it).
    let holds_nothing = index.issuer.get(&id).is_none_or(|view| view.net_debit_fen == 0);
    if trade.reversal_acknowledged.is_some() || reversed_upstream.is_some() || holds_nothing {
        return None;
    }
    let mut seqs = base.to_vec();
    seqs.extend(trade.reversals.iter().take(2));
    seqs.extend(trade.reversals.last());
    seqs.extend(issuer_moves.iter().take(1));
    seqs.extend(index.end().map(|(seq, _)| seq));
    let message = format!(
        "the reversal was sent {} times, never acknowledged, and nothing upstream reversed the trade or returned its money by the end",
        trade.reversals.len()
    );
    Some(Violation::new(INVARIANT, trade_ref, message, index.evidence_of(seqs)))
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
