//! The pre-auths a merchant still has to complete or cancel. A drawn
//! pre-auth is followed, after a drawn delay, by its completion (online or
//! as an advice), its cancel, or nothing, in which case the issuer lets
//! the hold lapse (`hold_expiry_ms`). The follow-up takes the terminal's
//! oldest open pre-auth: approved, with an authorisation code, and not yet
//! followed up. Pre-auths outlive the batch (a hotel stay spans a
//! settlement), so they are taken from the journal before it is cleared.
//!
//! Every choice comes from one number drawn with the order (its
//! `refund_pick`), so the follow-up adds no draw to the terminal's stream
//! and a workload without pre-auths replays as before.
//!
//! ```
//! use possim_models::iso8583::values::TerminalId;
//! use possim_models::terminal::journal::Journal;
//! use possim_sim::pre_auths::PreAuthBook;
//! let terminal = TerminalId::new("T0000001").unwrap();
//! let mut book = PreAuthBook::default();
//! book.remember(terminal, &Journal::new(8));
//! assert!(book.take_oldest(terminal).is_none(), "nothing held: nothing to follow up");
//! ```

use std::collections::{BTreeMap, VecDeque};

use possim_models::iso8583::trade::{CardRead, TradeKind};
use possim_models::iso8583::values::{AmountFen, AuthCode, MonthDay, Pan, TerminalId};
use possim_models::terminal::journal::{EntryStatus, Journal};
use possim_models::terminal::TerminalCommand;

use crate::scenario::model::PreAuthFollowUp;

/// An approved pre-auth not yet followed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenPreAuth {
    pub pan: Pan,
    pub auth: AuthCode,
    pub held_fen: u64,
}

/// What follows a pre-auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// Completes it for this percentage of the hold (85 to 115).
    Completion {
        percent: u64,
    },
    CompletionAdvice {
        percent: u64,
    },
    Cancel,
    /// Nothing: the hold lapses at the issuer.
    Nothing,
}

/// The lowest and highest share of the hold a drawn completion captures:
/// under the hold (the room was cheaper) up to CUP's allowance over it.
pub const COMPLETION_PERCENT_MIN: u64 = 85;
pub const COMPLETION_PERCENT_MAX: u64 = 115;

impl FollowUp {
    /// The follow-up `pick` chooses among `weights`, and its delay in ms.
    pub fn draw(pick: u64, weights: &PreAuthFollowUp) -> (FollowUp, u64) {
        let span_ms = weights.after_ms.max - weights.after_ms.min;
        let after_ms = weights.after_ms.min + pick % span_ms.saturating_add(1);
        let total = u64::from(weights.completion)
            + u64::from(weights.completion_advice)
            + u64::from(weights.cancel)
            + u64::from(weights.nothing);
        assert!(total > 0, "the scenario checked the follow-up weights");
        let mut at = (pick >> 24) % total;
        let span_percent = COMPLETION_PERCENT_MAX - COMPLETION_PERCENT_MIN + 1;
        let percent = COMPLETION_PERCENT_MIN + (pick >> 44) % span_percent;
        let mut next = |weight: u32| {
            let hit = at < u64::from(weight);
            at = at.saturating_sub(u64::from(weight));
            hit
        };
        let follow_up = if next(weights.completion) {
            FollowUp::Completion { percent }
        } else if next(weights.completion_advice) {
            FollowUp::CompletionAdvice { percent }
        } else if next(weights.cancel) {
            FollowUp::Cancel
        } else {
            FollowUp::Nothing
        };
        (follow_up, after_ms)
    }
}

impl OpenPreAuth {
    /// The cashier's command for `follow_up` of this pre-auth, with `card`
    /// (its card, as the reader got it), dated `today`; none for nothing.
    pub fn command(
        &self,
        follow_up: FollowUp,
        card: CardRead,
        today: MonthDay,
    ) -> Option<TerminalCommand> {
        let share = |percent: u64| {
            let fen = (self.held_fen * percent / 100).clamp(1, AmountFen::MAX);
            AmountFen::new(fen).expect("clamped to 12 digits")
        };
        let (original_auth, original_date) = (self.auth, today);
        Some(match follow_up {
            FollowUp::Completion { percent } => TerminalCommand::Completion {
                card,
                amount: share(percent),
                original_auth,
                original_date,
                pin: None,
            },
            FollowUp::CompletionAdvice { percent } => TerminalCommand::CompletionAdvice {
                card,
                amount: share(percent),
                original_auth,
                original_date,
            },
            FollowUp::Cancel => TerminalCommand::PreAuthCancel {
                card,
                amount: AmountFen::new(self.held_fen).expect("a journal amount"),
                original_auth,
                original_date,
                pin: None,
            },
            FollowUp::Nothing => return None,
        })
    }
}

/// Each terminal's open pre-auths, oldest first.
#[derive(Debug, Clone, Default)]
pub struct PreAuthBook {
    by_terminal: BTreeMap<TerminalId, Book>,
}

#[derive(Debug, Clone, Default)]
struct Book {
    open: VecDeque<OpenPreAuth>,
    /// Authorisation codes already taken into `open` (or followed up), so
    /// that a journal read twice adds nothing; bounded with `open`.
    taken: VecDeque<AuthCode>,
}

impl PreAuthBook {
    /// Open pre-auths kept per terminal; the oldest are forgotten first
    /// (their holds lapse at the issuer).
    pub const PER_TERMINAL_MAX: usize = 64;

    /// Takes `journal`'s approved pre-auths not seen before.
    pub fn remember(&mut self, terminal: TerminalId, journal: &Journal) {
        let book = self.by_terminal.entry(terminal).or_default();
        for entry in journal.iter() {
            if entry.kind != TradeKind::PreAuth || entry.status != EntryStatus::Approved {
                continue;
            }
            let Some(auth) = entry.auth_code else { continue };
            if book.taken.contains(&auth) {
                continue;
            }
            if book.taken.len() >= 4 * Self::PER_TERMINAL_MAX {
                book.taken.pop_front();
            }
            book.taken.push_back(auth);
            if book.open.len() >= Self::PER_TERMINAL_MAX {
                book.open.pop_front();
            }
            book.open.push_back(OpenPreAuth { pan: entry.pan, auth, held_fen: entry.amount.fen() });
        }
        assert!(book.open.len() <= Self::PER_TERMINAL_MAX);
        assert!(book.taken.len() <= 4 * Self::PER_TERMINAL_MAX);
    }

    /// The terminal's oldest open pre-auth, taken out: it is followed up once.
    pub fn take_oldest(&mut self, terminal: TerminalId) -> Option<OpenPreAuth> {
        self.by_terminal.get_mut(&terminal)?.open.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use possim_models::iso8583::values::{BatchNo, Stan};
    use possim_models::terminal::journal::JournalEntry;

    use super::*;
    use crate::scenario::model::RangeMs;

    fn pre_auth(stan: u32, auth: Option<&str>) -> JournalEntry {
        let mut entry = JournalEntry::approved(
            TradeKind::PreAuth,
            Stan::new(stan).unwrap(),
            BatchNo::new(1).unwrap(),
            AmountFen::new(10_000).unwrap(),
            Pan::new("6222020000000001").unwrap(),
        );
        entry.auth_code = auth.map(|text| AuthCode::new(text).unwrap());
        entry
    }

    #[test]
    fn each_approved_pre_auth_is_followed_up_once_oldest_first() {
        let terminal = TerminalId::new("T0000001").unwrap();
        let mut journal = Journal::new(8);
        journal.push(pre_auth(1, Some("000001")));
        journal.push(pre_auth(2, None));
        let mut sale = pre_auth(3, Some("000003"));
        sale.kind = TradeKind::Sale;
        journal.push(sale);
        journal.push(pre_auth(4, Some("000004")));
        let mut book = PreAuthBook::default();
        book.remember(terminal, &journal);
        book.remember(terminal, &journal);
        let first = book.take_oldest(terminal).unwrap();
        assert_eq!(first.auth, AuthCode::new("000001").unwrap());
        book.remember(terminal, &journal);
        assert_eq!(book.take_oldest(terminal).unwrap().auth, AuthCode::new("000004").unwrap());
        assert!(book.take_oldest(terminal).is_none(), "each once, however often read");
    }

    #[test]
    fn every_drawn_completion_is_within_the_allowance_and_every_kind_is_drawn() {
        let weights = PreAuthFollowUp {
            completion: 1,
            completion_advice: 1,
            cancel: 1,
            nothing: 1,
            after_ms: RangeMs { min: 1_000, max: 2_000 },
        };
        let mut seen = [false; 4];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..4_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (follow_up, after_ms) = FollowUp::draw(state, &weights);
            assert!((1_000..=2_000).contains(&after_ms));
            let index = match follow_up {
                FollowUp::Completion { percent } | FollowUp::CompletionAdvice { percent } => {
                    assert!((85..=115).contains(&percent));
                    let open = OpenPreAuth {
                        pan: Pan::new("6222020000000001").unwrap(),
                        auth: AuthCode::new("000001").unwrap(),
                        held_fen: 10_001,
                    };
                    let card = CardRead::swiped(open.pan);
                    let command =
                        open.command(follow_up, card, MonthDay::new(1, 2).unwrap()).unwrap();
                    let fen = command.amount().unwrap().fen() as i64;
                    assert!(possim_models::issuer::within_allowance(fen, 10_001), "{fen}");
                    usize::from(matches!(follow_up, FollowUp::CompletionAdvice { .. }))
                }
                FollowUp::Cancel => 2,
                FollowUp::Nothing => 3,
            };
            seen[index] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}
