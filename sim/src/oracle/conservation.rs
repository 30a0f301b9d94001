//! **conservation**: cardholder debits = merchant credits = settled batch
//! totals.
//!
//! What is compared, per terminal batch the switch closed by the end
//! (`SwitchEventKind::BatchClosed`, after a balanced 0500 or a batch upload's
//! end message):
//!
//! - *Cardholder debits*: the issuers' net debit on the trades of that batch:
//!   `Moved` deltas on the account and offline purses, negated, for every key
//!   whose terminal and batch are the batch's (holds excluded). Reversals,
//!   voids, refunds and clearing returns move money under the trade's key, so
//!   they count where their trade does.
//! - *Settled batch totals*: what the acquirer settles with the merchant for
//!   the batch (debits minus credits): the totals of the trades it filed for
//!   clearing (`SwitchEventKind::BatchFiled`) — its own approved, unreversed
//!   trades when the batch balanced, the terminal's batch upload when it did
//!   not; in a log without that event, the switch's own totals from its last
//!   `SettlementAnswered`.
//! - *Merchant credits*: the totals the terminal settled with (debits minus
//!   credits of its last `SettlementStarted` for the batch; if the log has no
//!   terminal events, the `terminal_totals` the switch received) — what the
//!   merchant's settlement slip says it is owed.
//!
//! Summed over all closed batches this is the global equation (issuer net
//! debits over all cards = sum over terminals of settled totals); checking
//! each batch names the batch that breaks it.
//!
//! Out of scope: trades of a batch not closed by the end (still open, or its
//! settlement unfinished), and money moved without a trade key (an e-cash
//! load moves money between a card's two purses, not to a merchant). A
//! pre-authorisation's hold is not a debit until completed.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::Conservation).passed());
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::subfields::BatchTotals;
use possim_models::iso8583::values::{BatchNo, TerminalId};
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;

use super::index::{fen, TraceIndex};
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::Conservation;

fn net(totals: &BatchTotals) -> i64 {
    totals.debit_amount as i64 - totals.credit_amount as i64
}

#[derive(Debug, Default)]
struct Batch {
    closed: Option<u64>,
    /// The last `SettlementAnswered`: its seq, switch totals, terminal totals.
    answered: Option<(u64, i64, i64)>,
    /// The terminal's last `SettlementStarted`: its seq and totals.
    started: Option<(u64, i64)>,
    /// What the acquirer filed for clearing: its seq and totals.
    filed: Option<(u64, i64)>,
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut batches: BTreeMap<(TerminalId, BatchNo), Batch> = BTreeMap::new();
    for (seq, kind) in index.switch_events() {
        match kind {
            SwitchEventKind::BatchClosed { terminal, batch, .. } => {
                batches.entry((*terminal, *batch)).or_default().closed.get_or_insert(seq);
            }
            SwitchEventKind::BatchFiled { terminal, batch, totals, .. } => {
                batches.entry((*terminal, *batch)).or_default().filed = Some((seq, net(totals)));
            }
            SwitchEventKind::SettlementAnswered {
                terminal,
                batch,
                switch_totals,
                terminal_totals,
                ..
            } => {
                batches.entry((*terminal, *batch)).or_default().answered =
                    Some((seq, net(switch_totals), net(terminal_totals)));
            }
            _ => {}
        }
    }
    for (terminal, events) in &index.terminal_events {
        for event in events {
            if let TerminalEventKind::SettlementStarted { batch, totals } = event.kind {
                batches.entry((*terminal, *batch)).or_default().started =
                    Some((event.seq, net(totals)));
            }
        }
    }
    let mut violations = Vec::new();
    for ((terminal, batch), record) in &batches {
        let (Some(closed), Some((answered, answered_net, received_net))) =
            (record.closed, record.answered)
        else {
            continue;
        };
        let switch_net = record.filed.map_or(answered_net, |(_, net)| net);
        let merchant_net = record.started.map_or(received_net, |(_, net)| net);
        let in_batch: Vec<_> = index.issuer_in_batch(*terminal, *batch).collect();
        let cardholders: i64 = in_batch.iter().map(|(_, view)| view.net_debit_fen).sum();
        if cardholders == switch_net && switch_net == merchant_net {
            continue;
        }
        let message = format!(
            "cardholders paid {} net, the switch settled {}, the terminal settled {}",
            fen(cardholders),
            fen(switch_net),
            fen(merchant_net)
        );
        let filed = record.filed.map(|(s, _)| s);
        let mut seqs: Vec<u64> =
            [record.started.map(|(s, _)| s), Some(answered), Some(closed), filed]
                .into_iter()
                .flatten()
                .collect();
        // The trades whose money disagrees with what the terminal counts.
        for (id, view) in &in_batch {
            let expected = index.trades.get(id).map_or(0, |t| t.expected_debit_fen());
            if expected != view.net_debit_fen {
                seqs.extend(view.moves.iter().take(2));
            }
        }
        let trade = TradeRef { batch: Some(*batch), ..TradeRef::terminal(*terminal) };
        violations.push(Violation::new(INVARIANT, Some(trade), message, index.evidence_of(seqs)));
    }
    violations
}
