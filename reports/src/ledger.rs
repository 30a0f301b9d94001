//! Each card's money over the run: the opening balance, what was debited,
//! what reversals gave back, other credits (refunds, voids, debits returned
//! at clearing), and the closing balance — which must be the opening plus
//! every movement, and equal to what the issuer itself says. A card where
//! the two disagree is flagged.
//!
//! ```
//! use possim_reports::ledger::{LedgerCard, Movement};
//! let mut card = LedgerCard::new("622202******0013", "issuer 0", 500_000);
//! card.post(Movement::Debit, -162_528);
//! card.post(Movement::Reversal, 162_528);
//! card.issuer_closing_fen = Some(500_000);
//! assert_eq!(card.closing_fen(), 500_000);
//! assert!(card.agrees());
//! ```

use std::fmt::Write;

use crate::escape::html;
use crate::format::fen;

/// Cards the page lists one by one; the totals row counts them all.
pub const LEDGER_ROWS_MAX: usize = 100;

/// Why a balance moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// A sale, completion or offline trade took money (negative).
    Debit,
    /// A reversal rolled a trade back.
    Reversal,
    /// A refund, a void, or a debit returned at clearing (positive).
    Credit,
}

/// One card's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCard {
    /// Masked card number.
    pub card: String,
    pub issuer: String,
    /// Account and electronic cash together: the cardholder's money.
    pub opening_fen: i64,
    /// Sum of debits (not positive) and their count.
    pub debits_fen: i64,
    pub debits: u32,
    /// Sum of what reversals moved (usually positive) and their count.
    pub reversals_fen: i64,
    pub reversals: u32,
    pub credits_fen: i64,
    pub credits: u32,
    /// The issuer's own closing balance (its last `balance_after` per
    /// purse), when it reported one.
    pub issuer_closing_fen: Option<i64>,
}

impl LedgerCard {
    pub fn new(card: &str, issuer: &str, opening_fen: i64) -> LedgerCard {
        LedgerCard {
            card: card.to_string(),
            issuer: issuer.to_string(),
            opening_fen,
            debits_fen: 0,
            debits: 0,
            reversals_fen: 0,
            reversals: 0,
            credits_fen: 0,
            credits: 0,
            issuer_closing_fen: None,
        }
    }

    /// Books one movement, signed as the issuer logged it.
    pub fn post(&mut self, movement: Movement, delta_fen: i64) {
        match movement {
            Movement::Debit => {
                self.debits_fen += delta_fen;
                self.debits += 1;
            }
            Movement::Reversal => {
                self.reversals_fen += delta_fen;
                self.reversals += 1;
            }
            Movement::Credit => {
                self.credits_fen += delta_fen;
                self.credits += 1;
            }
        }
    }

    /// Opening plus every movement.
    pub fn closing_fen(&self) -> i64 {
        self.opening_fen + self.debits_fen + self.reversals_fen + self.credits_fen
    }

    pub fn moved(&self) -> bool {
        self.debits + self.reversals + self.credits > 0
    }

    /// Whether the sums match the issuer's own closing balance (true when
    /// the issuer reported none: nothing to disagree with).
    pub fn agrees(&self) -> bool {
        self.issuer_closing_fen.is_none_or(|closing| closing == self.closing_fen())
    }
}

/// The totals over every card, listed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerTotals {
    pub cards: usize,
    pub moved: usize,
    pub disagreeing: usize,
    pub opening_fen: i64,
    pub debits_fen: i64,
    pub reversals_fen: i64,
    pub credits_fen: i64,
    pub closing_fen: i64,
}

pub fn totals(cards: &[LedgerCard]) -> LedgerTotals {
    let mut totals = LedgerTotals { cards: cards.len(), ..LedgerTotals::default() };
    for card in cards {
        totals.moved += usize::from(card.moved());
        totals.disagreeing += usize::from(!card.agrees());
        totals.opening_fen += card.opening_fen;
        totals.debits_fen += card.debits_fen;
        totals.reversals_fen += card.reversals_fen;
        totals.credits_fen += card.credits_fen;
        totals.closing_fen += card.closing_fen();
    }
    totals
}

/// The cards worth listing, at most [`LEDGER_ROWS_MAX`]: those that
/// disagree first, then those that moved, in the order given.
pub fn listed(cards: &[LedgerCard]) -> Vec<&LedgerCard> {
    let mut rows: Vec<&LedgerCard> = cards.iter().filter(|c| !c.agrees()).collect();
    rows.extend(cards.iter().filter(|c| c.agrees() && c.moved()));
    rows.truncate(LEDGER_ROWS_MAX);
    rows
}

fn money(out: &mut String, amount: i64, count: Option<u32>) {
    match count {
        Some(0) => out.push_str("<td class=\"num\">—</td>"),
        Some(n) => {
            let _ = write!(out, "<td class=\"num\">{} <small>({n})</small></td>", fen(amount));
        }
        None => {
            let _ = write!(out, "<td class=\"num\">{}</td>", fen(amount));
        }
    }
}

/// The ledger as an HTML table, with a totals row and a note on the cards
/// not listed.
pub fn html_table(cards: &[LedgerCard]) -> String {
    let rows = listed(cards);
    let totals = totals(cards);
    let mut out = String::from(
        "<table id=\"ledger-table\" class=\"ledger\"><tr><th>card</th><th>issuer</th>\
         <th>opening</th><th>debits (n)</th><th>reversals (n)</th>\
         <th>refunds, voids, returned (n)</th><th>closing</th><th>issuer says</th></tr>\n",
    );
    for card in &rows {
        let class = if card.agrees() { "" } else { " class=\"fail\"" };
        let _ = write!(
            out,
            "<tr{class}><td><code>{}</code></td><td>{}</td>",
            html(&card.card),
            html(&card.issuer)
        );
        money(&mut out, card.opening_fen, None);
        money(&mut out, card.debits_fen, Some(card.debits));
        money(&mut out, card.reversals_fen, Some(card.reversals));
        money(&mut out, card.credits_fen, Some(card.credits));
        money(&mut out, card.closing_fen(), None);
        match card.issuer_closing_fen {
            Some(closing) if closing == card.closing_fen() => out.push_str("<td>agrees</td>"),
            Some(closing) => {
                let _ = write!(out, "<td>{} — DIFFERS</td>", fen(closing));
            }
            None => out.push_str("<td>—</td>"),
        }
        out.push_str("</tr>\n");
    }
    let _ = write!(out, "<tr class=\"total\"><th>all {} cards</th><th></th>", totals.cards);
    for amount in [
        totals.opening_fen,
        totals.debits_fen,
        totals.reversals_fen,
        totals.credits_fen,
        totals.closing_fen,
    ] {
        let _ = write!(out, "<th class=\"num\">{}</th>", fen(amount));
    }
    let _ = writeln!(out, "<th>{} differ</th></tr>\n</table>", totals.disagreeing);
    let candidates = cards.iter().filter(|c| c.moved() || !c.agrees()).count();
    let unlisted_moved = candidates - rows.len();
    let untouched = totals.cards - candidates;
    let mut notes = Vec::new();
    if unlisted_moved > 0 {
        notes.push(format!(
            "{unlisted_moved} more cards with movements are not listed (the page lists at most \
             {LEDGER_ROWS_MAX}); the totals count them"
        ));
    }
    if untouched > 0 {
        notes.push(format!("{untouched} cards that never moved are not listed"));
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">{}.</p>", html(&notes.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(name: &str, opening: i64) -> LedgerCard {
        LedgerCard::new(name, "issuer 0", opening)
    }

    #[test]
    fn the_ledger_sums_every_movement() {
        let mut a = card("A", 500_000);
        a.post(Movement::Debit, -100_000);
        a.post(Movement::Debit, -20_000);
        a.post(Movement::Reversal, 20_000);
        a.post(Movement::Credit, 5_000);
        assert_eq!((a.debits_fen, a.debits), (-120_000, 2));
        assert_eq!((a.reversals_fen, a.reversals), (20_000, 1));
        assert_eq!(a.closing_fen(), 405_000);
        a.issuer_closing_fen = Some(405_000);
        assert!(a.agrees());
        let mut b = card("B", 1_000);
        b.post(Movement::Debit, -300);
        b.issuer_closing_fen = Some(1_000);
        assert!(!b.agrees(), "the issuer kept 1,000 but the movements say 700");
        let totals = totals(&[a, b, card("C", 7)]);
        assert_eq!(totals.opening_fen, 501_007);
        assert_eq!(totals.debits_fen, -120_300);
        assert_eq!(totals.closing_fen, 405_707);
        assert_eq!(
            totals.closing_fen,
            totals.opening_fen + totals.debits_fen + totals.reversals_fen + totals.credits_fen
        );
        assert_eq!((totals.moved, totals.disagreeing), (2, 1));
    }

    #[test]
    fn a_disagreeing_card_is_listed_first_and_flagged() {
        let mut fine = card("FINE", 100);
        fine.post(Movement::Debit, -1);
        let mut odd = card("ODD", 100);
        odd.post(Movement::Debit, -1);
        odd.issuer_closing_fen = Some(100);
        let table = html_table(&[fine, odd, card("IDLE", 100)]);
        let odd_at = table.find("ODD").unwrap();
        assert!(odd_at < table.find("FINE").unwrap());
        assert!(table.contains("1.00 — DIFFERS"), "{table}");
        assert!(!table.contains("IDLE"), "untouched cards are not listed");
        assert!(table.contains("1 cards that never moved"), "{table}");
    }

    #[test]
    fn the_listing_is_capped_with_a_note() {
        let cards: Vec<LedgerCard> = (0..LEDGER_ROWS_MAX + 7)
            .map(|i| {
                let mut c = card(&format!("C{i:04}"), 10);
                c.post(Movement::Debit, -1);
                c
            })
            .collect();
        let table = html_table(&cards);
        assert_eq!(table.matches("<tr><td><code>C").count(), LEDGER_ROWS_MAX);
        assert!(table.contains("7 more cards with movements are not listed"), "{table}");
        assert!(table.contains(&format!("all {} cards", LEDGER_ROWS_MAX + 7)));
    }

    #[test]
    fn card_names_are_escaped() {
        let mut c = card("<b>", 10);
        c.post(Movement::Credit, 1);
        assert!(html_table(&[c]).contains("&lt;b&gt;"));
    }
}
