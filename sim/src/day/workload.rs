//! The cardholders: drawn arrivals at the scenario's rate from each
//! terminal's own stream, scripted trades, and what follows a pre-auth;
//! each turned into the cashier's command at the terminal. Refunds and
//! pre-auth follow-ups pick from what the terminals' journals held (kept
//! as each batch settles), never from anything the trace says.

use std::collections::BTreeMap;

use possim_models::iso8583::trade::{CardRead, EntryMode};
use possim_models::iso8583::values::{AmountFen, Pan, TerminalId};
use possim_models::terminal::{Terminal, TerminalCommand};
use possim_models::time::{Calendar, Instant};

use crate::order::Order;
use crate::pre_auths::{FollowUp, PreAuthBook};
use crate::refunds::RefundHistory;
use crate::rng::{Rng, Streams};
use crate::scenario::compile::{CompiledCard, CompiledScenario};
use crate::scenario::model::{TradeChoice, Workload};

/// A card as the terminals' readers get it: chip and PIN, no expiry.
pub fn card_read(pan: Pan) -> CardRead {
    CardRead { expiry: None, entry_mode: EntryMode::CHIP_PIN, ..CardRead::swiped(pan) }
}

/// Where in `cards` the drawn workload picks from: every card unless some
/// say `drawn: false`. With every card drawn it is the identity, so a
/// scenario without the setting draws as it always did.
pub fn drawn_cards(cards: &[CompiledCard]) -> Vec<usize> {
    cards.iter().enumerate().filter(|(_, card)| card.drawn).map(|(index, _)| index).collect()
}

/// The day's cardholders and what they remember.
#[derive(Debug)]
pub struct Cardholders {
    pub workload: Workload,
    calendar: Calendar,
    /// PAN, PIN, offline (e-cash) balance left, by the scenario's index.
    cards: Vec<(Pan, String, i64)>,
    /// Indexes into `cards` of those the drawn workload picks.
    drawn_cards: Vec<usize>,
    /// Each terminal's own stream: adding a terminal does not reshuffle
    /// another's cardholders.
    streams: BTreeMap<TerminalId, Rng>,
    refund_history: RefundHistory,
    pre_auth_book: PreAuthBook,
}

impl Cardholders {
    pub fn new(scenario: &CompiledScenario, streams: &Streams) -> Cardholders {
        let streams = scenario
            .terminals
            .iter()
            .map(|t| t.config.terminal_id)
            .map(|id| (id, streams.stream(&format!("workload {}", id.trimmed()))))
            .collect();
        Cardholders {
            workload: scenario.workload.clone(),
            calendar: scenario.calendar,
            cards: scenario
                .cards
                .iter()
                .map(|c| (c.pan, c.pin.clone(), c.offline_balance_fen))
                .collect(),
            drawn_cards: drawn_cards(&scenario.cards),
            streams,
            refund_history: RefundHistory::default(),
            pre_auth_book: PreAuthBook::default(),
        }
    }

    /// The gap to terminal `id`'s next drawn cardholder at `per_hour`.
    pub fn next_gap_ms(&mut self, id: TerminalId, per_hour: f64) -> Option<u64> {
        self.streams.get_mut(&id).expect("a stream per terminal").exponential_ms(per_hour)
    }

    /// A drawn cardholder's order at terminal `id`.
    pub fn draw(&mut self, id: TerminalId) -> Order {
        let drawn = &self.drawn_cards;
        // The scenario refuses arrivals with no drawn card.
        assert!(!drawn.is_empty(), "arrivals need a drawn card");
        let rng = self.streams.get_mut(&id).expect("a stream per terminal");
        let mut order = Order::draw(rng, &self.workload, drawn.len());
        order.card_index = drawn[order.card_index];
        order
    }

    /// The order of the scenario's scripted trade at `index`.
    pub fn scripted(&self, index: usize) -> (TerminalId, Order) {
        let trade = &self.workload.script[index];
        let card_index = self
            .cards
            .iter()
            .position(|(pan, _, _)| *pan == trade.card)
            .expect("the scenario checked every scripted card");
        (trade.terminal, Order::scripted(trade, card_index))
    }

    /// Turns a cardholder's order into the cashier's command at `terminal`
    /// (none when there is nothing to void, refund or follow up).
    pub fn place(
        &mut self,
        now: Instant,
        terminal: &Terminal,
        order: Order,
    ) -> Option<TerminalCommand> {
        let id = terminal.config().terminal_id;
        let Order { choice, card_index, amount_fen, wrong_pin, refund_pick } = order;
        let (pan, pin, _) = self.cards[card_index].clone();
        let pin = if wrong_pin { "000000".to_string() } else { pin };
        let amount = AmountFen::new(amount_fen).expect("scenario amounts fit 12 digits");
        let card = card_read(pan);
        match choice {
            TradeChoice::Sale => Some(TerminalCommand::Sale { card, amount, pin: Some(pin) }),
            TradeChoice::Inquiry => Some(TerminalCommand::BalanceInquiry { card, pin: Some(pin) }),
            TradeChoice::Void => {
                let persistent = terminal.persistent();
                let batch = persistent.batch();
                persistent.journal().last_voidable(batch).map(TerminalCommand::void_of)
            }
            TradeChoice::Refund => self.refund_history.pick(id, refund_pick).map(|sale| {
                sale.command(card_read(sale.pan), amount_fen, self.calendar.month_day(now))
            }),
            TradeChoice::PreAuth => Some(TerminalCommand::PreAuth { card, amount, pin: Some(pin) }),
            TradeChoice::Completion
            | TradeChoice::CompletionAdvice
            | TradeChoice::PreAuthCancel => {
                self.scripted_follow_up(now, terminal, choice, amount_fen)
            }
            TradeChoice::OfflineSale => Some(TerminalCommand::OfflineSale { card, amount }),
            TradeChoice::Ecash => {
                let offline = AmountFen::new(self.cards[card_index].2.max(0) as u64).expect("fits");
                if amount <= offline {
                    self.cards[card_index].2 -= amount.fen() as i64;
                }
                Some(TerminalCommand::ECash {
                    card,
                    amount,
                    offline_balance: offline,
                    pin: Some(pin),
                })
            }
        }
    }

    /// How long after a drawn pre-auth its merchant comes back to it (the
    /// order's pick says how, too).
    pub fn pre_auth_return_ms(&self, order: &Order) -> Option<u64> {
        if order.choice != TradeChoice::PreAuth {
            return None;
        }
        let (_, after_ms) = FollowUp::draw(order.refund_pick, &self.workload.pre_auth_follow_up);
        Some(after_ms)
    }

    /// The merchant comes back to a drawn pre-auth: completes it, cancels
    /// it or leaves it to lapse ([`crate::pre_auths`]).
    pub fn follow_up(
        &mut self,
        now: Instant,
        terminal: &Terminal,
        pick: u64,
    ) -> Option<TerminalCommand> {
        let (follow_up, _) = FollowUp::draw(pick, &self.workload.pre_auth_follow_up);
        self.remember_pre_auths(terminal);
        let open = self.pre_auth_book.take_oldest(terminal.config().terminal_id)?;
        let today = self.calendar.month_day(now);
        open.command(follow_up, card_read(open.pan), today)
    }

    /// A scripted follow-up of the terminal's oldest open pre-auth: a
    /// completion of `amount_fen`, or the cancel of the whole hold.
    fn scripted_follow_up(
        &mut self,
        now: Instant,
        terminal: &Terminal,
        choice: TradeChoice,
        amount_fen: u64,
    ) -> Option<TerminalCommand> {
        self.remember_pre_auths(terminal);
        let open = self.pre_auth_book.take_oldest(terminal.config().terminal_id)?;
        let card = card_read(open.pan);
        let original_date = self.calendar.month_day(now);
        let amount = AmountFen::new(amount_fen).expect("scenario amounts fit 12 digits");
        Some(match choice {
            TradeChoice::Completion => TerminalCommand::Completion {
                card,
                amount,
                original_auth: open.auth,
                original_date,
                pin: None,
            },
            TradeChoice::CompletionAdvice => TerminalCommand::CompletionAdvice {
                card,
                amount,
                original_auth: open.auth,
                original_date,
            },
            _ => open.command(FollowUp::Cancel, card, original_date)?,
        })
    }

    fn remember_pre_auths(&mut self, terminal: &Terminal) {
        let id = terminal.config().terminal_id;
        self.pre_auth_book.remember(id, terminal.persistent().journal());
    }

    /// The refundable sales of the terminal's batch, taken as it settles;
    /// pre-auths outlive the batch, so they are taken before the journal
    /// is cleared.
    pub fn remember_refundable(&mut self, terminal: &Terminal) {
        let id = terminal.config().terminal_id;
        self.refund_history.remember(id, terminal.persistent().journal());
        self.remember_pre_auths(terminal);
    }
}
