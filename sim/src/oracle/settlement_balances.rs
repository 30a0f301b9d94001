//! **settlement-balances**: once healed, every terminal's last settlement
//! balanced; a batch upload follows any unbalanced 0500.
//!
//! What is compared, per terminal:
//!
//! - *The last settlement balanced*: the latest settlement result by the
//!   end — the terminal's `SettlementBalanced` / `SettlementNotBalanced`, or
//!   the switch's `SettlementAnswered{balanced}` (whichever is later: the
//!   switch's answer may be lost on the way, and a log may lack terminal
//!   events) — is balanced. A `SettlementStarted` with no
//!   `SettlementCompleted` for its batch by the end is an unfinished
//!   settlement, and a violation too: healing must converge.
//! - *An upload follows an unbalanced 0510*: after `SettlementNotBalanced`
//!   for a batch, the terminal's batch upload ends (`BatchUploadEnded`, the
//!   0320 end message) by the end. `BatchUploadStarted` precedes it when the
//!   journal holds trades; an empty journal uploads nothing and sends only
//!   the end message, so the end message is what is required.
//! - *A batch upload can reconcile*: a last settlement that did not balance
//!   still passes when its batch upload ended 202 and brought the switch
//!   every trade it holds for the batch — as many uploaded entries as the
//!   switch's settled count, none unknown to it (`BatchUploaded`). A 0500 has
//!   no MAC, so a flipped bit in its totals makes an honest batch look
//!   unbalanced; the upload is the protocol's remedy, and it worked. An
//!   upload with fewer entries than the switch settled reconciles too when
//!   the acquirer filed the upload for clearing (`BatchFiled{by_upload}`):
//!   what the switch holds beyond it is not cleared and goes back to its
//!   card (a reversal the terminal gave up: DOMAIN.md, "the two sides
//!   reconcile the next day"); conservation, no-double-debit and slip-truth
//!   judge that on the money.
//! - *The end code tells the truth*: an end message with network code 207
//!   ("balanced") for a batch whose 0510 said not balanced is a violation:
//!   the unsafe `upload_end_code_when_unbalanced: code207`. 202 is right.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::SettlementBalances).passed());
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::values::{BatchNo, TerminalId};
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;

use super::index::TraceIndex;
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::SettlementBalances;

/// The batch-upload end code that claims the batch balanced.
const END_BALANCED: u16 = 207;

#[derive(Debug, Default)]
struct Terminal {
    /// The latest result: seq, balanced, batch.
    last: Option<(u64, bool, BatchNo)>,
    /// Batches whose 0510 said not balanced and whose upload has not ended.
    awaiting_upload: BTreeMap<BatchNo, u64>,
    /// Batches whose 0510 said not balanced, ever.
    unbalanced: BTreeMap<BatchNo, u64>,
    /// Settlements started and not completed.
    open: BTreeMap<BatchNo, u64>,
    /// Batches whose upload ended 202.
    ended_unbalanced: std::collections::BTreeSet<BatchNo>,
    /// Per batch: trades the switch settled (its counts), entries uploaded
    /// to it, and entries it did not hold.
    switch_trades: BTreeMap<BatchNo, u64>,
    uploaded: BTreeMap<BatchNo, (u64, u64)>,
    /// Batches the acquirer filed for clearing from their batch upload.
    filed_by_upload: std::collections::BTreeSet<BatchNo>,
}

impl Terminal {
    /// Whether the batch upload brought the switch every trade it holds.
    fn reconciled(&self, batch: BatchNo) -> bool {
        let (entries, unknown) = self.uploaded.get(&batch).copied().unwrap_or((0, 0));
        self.ended_unbalanced.contains(&batch)
            && unknown == 0
            && (self.switch_trades.get(&batch) == Some(&entries)
                || self.filed_by_upload.contains(&batch))
    }
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut terminals: BTreeMap<TerminalId, Terminal> = BTreeMap::new();
    let mut violations = Vec::new();
    for (seq, kind) in index.switch_events() {
        match kind {
            SwitchEventKind::SettlementAnswered {
                terminal,
                batch,
                balanced,
                switch_totals,
                ..
            } => {
                let state = terminals.entry(*terminal).or_default();
                state.last = Some((seq, *balanced, *batch));
                let count =
                    u64::from(switch_totals.debit_count) + u64::from(switch_totals.credit_count);
                state.switch_trades.insert(*batch, count);
            }
            SwitchEventKind::BatchFiled { terminal, batch, by_upload: true, .. } => {
                terminals.entry(*terminal).or_default().filed_by_upload.insert(*batch);
            }
            SwitchEventKind::BatchUploaded { terminal, batch, entries, unknown } => {
                let state = terminals.entry(*terminal).or_default();
                let uploaded = state.uploaded.entry(*batch).or_default();
                uploaded.0 += *entries as u64;
                uploaded.1 += *unknown as u64;
            }
            _ => {}
        }
    }
    for (terminal, events) in &index.terminal_events {
        let state = terminals.entry(*terminal).or_default();
        for event in events {
            match event.kind {
                TerminalEventKind::SettlementStarted { batch, .. } => {
                    state.open.entry(*batch).or_insert(event.seq);
                }
                // The switch's answer precedes the terminal's hearing of it;
                // the later of the two is the last word.
                TerminalEventKind::SettlementBalanced { batch }
                    if state.last.is_none_or(|(seq, _, _)| seq < event.seq) =>
                {
                    state.last = Some((event.seq, true, *batch));
                }
                TerminalEventKind::SettlementNotBalanced { batch } => {
                    if state.last.is_none_or(|(seq, _, _)| seq < event.seq) {
                        state.last = Some((event.seq, false, *batch));
                    }
                    state.awaiting_upload.insert(*batch, event.seq);
                    state.unbalanced.insert(*batch, event.seq);
                }
                TerminalEventKind::BatchUploadEnded { batch, network_code } => {
                    state.awaiting_upload.remove(batch);
                    if *network_code != END_BALANCED {
                        state.ended_unbalanced.insert(*batch);
                    }
                    if *network_code == END_BALANCED {
                        if let Some(&not_balanced) = state.unbalanced.get(batch) {
                            let trade =
                                TradeRef { batch: Some(*batch), ..TradeRef::terminal(*terminal) };
                            let message = format!(
                                "the batch upload ended with {END_BALANCED} (balanced) although the 0510 said not balanced"
                            );
                            let seqs = [not_balanced, event.seq];
                            violations.push(Violation::new(
                                INVARIANT,
                                Some(trade),
                                message,
                                index.evidence_of(seqs),
                            ));
                        }
                    }
                }
                TerminalEventKind::SettlementCompleted { batch } => {
                    state.open.remove(batch);
                }
                _ => {}
            }
        }
    }
    let end = index.end().map(|(seq, _)| seq);
    for (terminal, state) in &terminals {
        let reference =
            |batch: BatchNo| Some(TradeRef { batch: Some(batch), ..TradeRef::terminal(*terminal) });
        for (batch, seq) in &state.awaiting_upload {
            let message =
                "the 0510 said not balanced and no batch upload ended by the end".to_string();
            let seqs = [Some(*seq), end].into_iter().flatten();
            violations.push(Violation::new(
                INVARIANT,
                reference(*batch),
                message,
                index.evidence_of(seqs),
            ));
        }
        if let Some((seq, false, batch)) =
            state.last.filter(|(_, _, batch)| !state.reconciled(*batch))
        {
            let message = "the last settlement did not balance".to_string();
            let seqs =
                [state.unbalanced.get(&batch).copied(), Some(seq), end].into_iter().flatten();
            violations.push(Violation::new(
                INVARIANT,
                reference(batch),
                message,
                index.evidence_of(seqs),
            ));
        }
        for (batch, seq) in &state.open {
            let message = "the settlement started and never completed by the end".to_string();
            let seqs = [Some(*seq), end].into_iter().flatten();
            violations.push(Violation::new(
                INVARIANT,
                reference(*batch),
                message,
                index.evidence_of(seqs),
            ));
        }
    }
    violations
}
