//! The journal (流水): the trades of the current batch that the terminal
//! considers done, in the order they were done. It is the merchant's proof
//! (reprints come from it), the source of the settlement totals and of the
//! batch upload detail.
//!
//! Totals follow the switch: approved debits (sales, completions, offline
//! sales and e-cash not refused on upload) and approved credits (voids,
//! refunds the host acknowledged). A voided sale stays a debit, its void
//! counts as a credit. A refund is journaled when its advice is stored,
//! before it leaves, and counts once the host has acknowledged it.
//!
//! ```
//! use possim_models::terminal::journal::{EntryStatus, Journal, JournalEntry};
//! use possim_models::iso8583::trade::TradeKind;
//! use possim_models::iso8583::values::*;
//! let mut journal = Journal::new(2);
//! journal.push(JournalEntry::approved(
//!     TradeKind::Sale, Stan::new(1).unwrap(), BatchNo::new(1).unwrap(),
//!     AmountFen::new(500).unwrap(), Pan::new("6222021234567890123").unwrap(),
//! ));
//! assert_eq!(journal.totals().debit_amount, 500);
//! assert!(!journal.is_full());
//! ```

use crate::bounded::BoundedQueue;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::subfields::{BatchDetailEntry, BatchTotals};
use crate::iso8583::trade::{Side, TradeKind};
use crate::iso8583::values::{AmountFen, AuthCode, BatchNo, Pan, Rrn, Stan};

/// Where a journal entry stands with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Approved online.
    Approved,
    /// An offline trade not yet uploaded.
    OfflinePending,
    /// An offline trade the host took (00 or 94).
    OfflineUploaded,
    /// A refund advice stored and not yet acknowledged: not counted, no
    /// slip yet (the host may still refuse it).
    AdvicePending,
    /// An advice (offline trade or refund) the host refused: not counted,
    /// listed after settlement.
    AdviceRefused(ResponseCode),
}

impl EntryStatus {
    /// Whether the trade counts in the totals (and is owed a slip): not a
    /// refund still unacknowledged, nor an advice the host refused.
    pub fn stands(self) -> bool {
        !matches!(self, EntryStatus::AdvicePending | EntryStatus::AdviceRefused(_))
    }
}

/// One trade of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub kind: TradeKind,
    pub stan: Stan,
    pub batch: BatchNo,
    pub amount: AmountFen,
    pub pan: Pan,
    pub rrn: Option<Rrn>,
    pub auth_code: Option<AuthCode>,
    pub status: EntryStatus,
    /// A sale or completion cancelled by a later void of this batch.
    pub voided: bool,
    /// The approval slip came out readable at least once.
    pub slip_printed: bool,
}

impl JournalEntry {
    pub fn approved(
        kind: TradeKind,
        stan: Stan,
        batch: BatchNo,
        amount: AmountFen,
        pan: Pan,
    ) -> JournalEntry {
        JournalEntry {
            kind,
            stan,
            batch,
            amount,
            pan,
            rrn: None,
            auth_code: None,
            status: EntryStatus::Approved,
            voided: false,
            slip_printed: false,
        }
    }

    /// Whether the entry counts in the totals and the batch upload.
    pub fn counts(&self) -> bool {
        self.status.stands() && self.kind.side() != Side::None
    }
}

/// The bounded journal. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    entries: BoundedQueue<JournalEntry>,
}

impl Journal {
    pub fn new(journal_max: usize) -> Journal {
        Journal { entries: BoundedQueue::new(journal_max) }
    }

    /// Appends an entry; callers refuse new trades first when full.
    pub fn push(&mut self, entry: JournalEntry) {
        assert!(self.find(entry.stan).is_none(), "stan {} twice in one journal", entry.stan);
        self.entries.push_expect(entry, "journal");
    }

    /// Removes the entry with `stan` (only the
    /// `refund_advice_dropped_when_unanswered` mutation: a refund forgotten).
    pub(crate) fn remove(&mut self, stan: Stan) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.stan != stan);
        before != self.entries.len()
    }

    /// Drops the oldest entry (only the `journal_overwrites_oldest` mutation).
    pub(crate) fn drop_oldest(&mut self) {
        self.entries.pop();
    }

    pub fn is_full(&self) -> bool {
        self.entries.is_full()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries.iter()
    }

    pub fn find(&self, stan: Stan) -> Option<&JournalEntry> {
        self.entries.iter().find(|entry| entry.stan == stan)
    }

    pub fn find_mut(&mut self, stan: Stan) -> Option<&mut JournalEntry> {
        self.entries.iter_mut().find(|entry| entry.stan == stan)
    }

    pub fn last(&self) -> Option<&JournalEntry> {
        self.entries.iter().last()
    }

    /// The sale a cashier voids (after keying a wrong amount): the latest
    /// approved sale of `batch` not voided yet.
    pub fn last_voidable_sale(&self, batch: BatchNo) -> Option<&JournalEntry> {
        self.entries
            .iter()
            .filter(|entry| {
                entry.kind == TradeKind::Sale
                    && !entry.voided
                    && entry.batch == batch
                    && entry.status == EntryStatus::Approved
            })
            .last()
    }

    /// The trade a drawn void cancels: the latest approved sale or
    /// completion of `batch` not voided yet (a completion by a completion
    /// void).
    pub fn last_voidable(&self, batch: BatchNo) -> Option<&JournalEntry> {
        self.entries
            .iter()
            .filter(|entry| {
                matches!(
                    entry.kind,
                    TradeKind::Sale | TradeKind::Completion | TradeKind::CompletionAdvice
                ) && !entry.voided
                    && entry.batch == batch
                    && entry.status == EntryStatus::Approved
            })
            .last()
    }

    pub fn totals(&self) -> BatchTotals {
        let mut totals = BatchTotals::default();
        for entry in self.entries.iter().filter(|entry| entry.counts()) {
            match entry.kind.side() {
                Side::Debit => totals.add_debit(entry.amount),
                Side::Credit => totals.add_credit(entry.amount),
                Side::None => {}
            }
        }
        // Field 48 carries three-digit counts and twelve-digit amounts: the
        // journal's bound and the terminal's refusal of a trade that would
        // overflow keep them there.
        assert!(
            totals.debit_count.max(totals.credit_count) <= BatchTotals::COUNT_MAX,
            "batch counts over three digits: {totals:?}"
        );
        assert!(
            totals.debit_amount.max(totals.credit_amount) <= AmountFen::MAX,
            "batch amounts over twelve digits: {totals:?}"
        );
        totals
    }

    /// The batch upload detail, in journal order.
    pub fn upload_detail(&self) -> Vec<BatchDetailEntry> {
        self.entries
            .iter()
            .filter(|entry| entry.counts())
            .map(|entry| BatchDetailEntry {
                // 00: domestic CUP card; the model has no foreign cards.
                card_organisation: 0,
                stan: entry.stan,
                pan: entry.pan,
                amount: entry.amount,
            })
            .collect()
    }

    /// Advices (offline trades, refunds) the host refused: the list printed
    /// after settlement.
    pub fn offline_failures(&self) -> Vec<Stan> {
        self.entries
            .iter()
            .filter(|entry| matches!(entry.status, EntryStatus::AdviceRefused(_)))
            .map(|entry| entry.stan)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(stan: u32, batch: u32) -> JournalEntry {
        JournalEntry::approved(
            TradeKind::Sale,
            Stan::new(stan).unwrap(),
            BatchNo::new(batch).unwrap(),
            AmountFen::new(100).unwrap(),
            Pan::new("6222020000000001").unwrap(),
        )
    }

    #[test]
    fn the_voidable_sale_is_the_latest_approved_unvoided_sale_of_the_batch() {
        let mut journal = Journal::new(10);
        journal.push(sale(1, 1));
        journal.push(sale(2, 1));
        let mut voided = sale(3, 1);
        voided.voided = true;
        journal.push(voided);
        journal.push(sale(4, 2));
        let batch = BatchNo::new(1).unwrap();
        assert_eq!(journal.last_voidable_sale(batch).map(|e| e.stan.value()), Some(2));
        assert!(journal.last_voidable_sale(BatchNo::new(3).unwrap()).is_none());
    }
}
