//! The sales a cashier can refund later. A refund names a trade of an
//! earlier batch by its reference number (a trade of the open batch is
//! voided instead), so before a terminal's batch settles the cashier keeps
//! its approved, unvoided sales; a drawn refund then refunds one of them.
//! The simulated runner and the live fleet share this, so a drawn refund
//! means the same in both.
//!
//! ```
//! use possim_models::iso8583::values::TerminalId;
//! use possim_models::terminal::journal::Journal;
//! use possim_sim::refunds::RefundHistory;
//! let terminal = TerminalId::new("T0000001").unwrap();
//! let mut history = RefundHistory::default();
//! history.remember(terminal, &Journal::new(8));
//! // Nothing settled yet: nothing to refund, and the cardholder leaves.
//! assert!(history.pick(terminal, 7).is_none());
//! ```

use std::collections::{BTreeMap, VecDeque};

use possim_models::iso8583::trade::{CardRead, TradeKind};
use possim_models::iso8583::values::{AmountFen, MonthDay, Pan, Rrn, TerminalId};
use possim_models::terminal::journal::{EntryStatus, Journal};
use possim_models::terminal::TerminalCommand;

/// A sale that can be refunded: its card, reference number and amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refundable {
    pub pan: Pan,
    pub rrn: Rrn,
    pub amount_fen: u64,
}

impl Refundable {
    /// The cashier's refund of this sale with `card` (this sale's card, as
    /// the reader got it) for at most `amount_fen_max` (a partial refund
    /// when the cardholder returns less than was bought), dated `today`.
    pub fn command(&self, card: CardRead, amount_fen_max: u64, today: MonthDay) -> TerminalCommand {
        let fen = self.amount_fen.clamp(1, amount_fen_max.max(1));
        TerminalCommand::Refund {
            card,
            amount: AmountFen::new(fen).expect("a journal amount fits 12 digits"),
            original_rrn: self.rrn,
            original_date: today,
        }
    }
}

/// Each terminal's refundable sales, oldest first.
#[derive(Debug, Clone, Default)]
pub struct RefundHistory {
    by_terminal: BTreeMap<TerminalId, VecDeque<Refundable>>,
}

impl RefundHistory {
    /// Sales kept per terminal; the oldest are forgotten first.
    pub const PER_TERMINAL_MAX: usize = 64;

    /// Keeps `journal`'s approved, unvoided sales that have a reference
    /// number (an offline sale has none until uploaded).
    pub fn remember(&mut self, terminal: TerminalId, journal: &Journal) {
        let history = self.by_terminal.entry(terminal).or_default();
        for entry in journal.iter() {
            if entry.kind != TradeKind::Sale
                || entry.voided
                || entry.status != EntryStatus::Approved
            {
                continue;
            }
            let Some(rrn) = entry.rrn else { continue };
            if history.len() >= Self::PER_TERMINAL_MAX {
                history.pop_front();
            }
            history.push_back(Refundable { pan: entry.pan, rrn, amount_fen: entry.amount.fen() });
        }
        assert!(history.len() <= Self::PER_TERMINAL_MAX);
    }

    /// The sale a drawn number `pick` chooses among `terminal`'s, if any.
    pub fn pick(&self, terminal: TerminalId, pick: u64) -> Option<Refundable> {
        let history = self.by_terminal.get(&terminal)?;
        if history.is_empty() {
            return None;
        }
        Some(history[(pick % history.len() as u64) as usize])
    }
}

#[cfg(test)]
mod tests {
    use possim_models::iso8583::values::{BatchNo, Stan};
    use possim_models::terminal::journal::JournalEntry;

    use super::*;

    fn sale(stan: u32, rrn: Option<&str>) -> JournalEntry {
        let mut entry = JournalEntry::approved(
            TradeKind::Sale,
            Stan::new(stan).unwrap(),
            BatchNo::new(1).unwrap(),
            AmountFen::new(u64::from(stan) * 100).unwrap(),
            Pan::new("6222020000000001").unwrap(),
        );
        entry.rrn = rrn.map(|text| Rrn::new(text).unwrap());
        entry
    }

    #[test]
    fn only_approved_unvoided_sales_with_a_reference_are_kept() {
        let terminal = TerminalId::new("T0000001").unwrap();
        let mut journal = Journal::new(8);
        journal.push(sale(1, Some("000000000001")));
        let mut voided = sale(2, Some("000000000002"));
        voided.voided = true;
        journal.push(voided);
        journal.push(sale(3, None));
        let mut inquiry = sale(4, Some("000000000004"));
        inquiry.kind = TradeKind::BalanceInquiry;
        journal.push(inquiry);
        let mut history = RefundHistory::default();
        history.remember(terminal, &journal);
        for pick in [0, 1, 7, u64::MAX] {
            let kept = history.pick(terminal, pick).expect("one sale kept");
            assert_eq!(kept.rrn, Rrn::new("000000000001").unwrap());
            assert_eq!(kept.amount_fen, 100);
        }
        let other = TerminalId::new("T0000002").unwrap();
        assert!(history.pick(other, 0).is_none());
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_bound() {
        let terminal = TerminalId::new("T0000001").unwrap();
        let mut history = RefundHistory::default();
        for round in 0..3u32 {
            let mut journal = Journal::new(64);
            for n in 1..=40u32 {
                let stan = round * 40 + n;
                journal.push(sale(stan, Some(&format!("{stan:012}"))));
            }
            history.remember(terminal, &journal);
        }
        // 120 remembered, the newest 64 kept: stans 57..=120, oldest first.
        let oldest = history.pick(terminal, 0).unwrap();
        assert_eq!(oldest.rrn, Rrn::new("000000000057").unwrap());
        let newest = history.pick(terminal, RefundHistory::PER_TERMINAL_MAX as u64 - 1).unwrap();
        assert_eq!(newest.rrn, Rrn::new("000000000120").unwrap());
    }

    #[test]
    fn a_refund_is_for_at_most_what_the_cardholder_returns() {
        let refundable = Refundable {
            pan: Pan::new("6222020000000001").unwrap(),
            rrn: Rrn::new("000000000001").unwrap(),
            amount_fen: 1000,
        };
        let card = CardRead::swiped(refundable.pan);
        let today = MonthDay::new(3, 14).unwrap();
        for (returned, refunded) in [(400, 400), (1000, 1000), (5000, 1000)] {
            let TerminalCommand::Refund { amount, original_rrn, .. } =
                refundable.command(card.clone(), returned, today)
            else {
                panic!("a refund")
            };
            assert_eq!(amount.fen(), refunded);
            assert_eq!(original_rrn, refundable.rrn);
        }
    }
}
