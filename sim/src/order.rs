//! What a cardholder asks for at a terminal, drawn from the scenario's
//! workload (the trade mix, the amount range, the odds of a wrong PIN) or
//! scripted. The simulated runner and the live fleet draw an order in the
//! same sequence from the terminal's own stream, so a workload means the
//! same in both; turning an order into the cashier's command is theirs
//! (the simulator's cards carry an expiry, the live fleet's do not).

use crate::rng::Rng;
use crate::scenario::model::{ScriptedTrade, TradeChoice, Workload};

/// One cardholder's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub choice: TradeChoice,
    /// Into the scenario's cards.
    pub card_index: usize,
    pub amount_fen: u64,
    pub wrong_pin: bool,
    /// Which remembered sale a refund refunds ([`crate::refunds`]).
    pub refund_pick: u64,
}

impl Order {
    /// A drawn order: every draw is taken, whatever the choice, so one
    /// order's kind does not shift the next one's draws.
    pub(crate) fn draw(rng: &mut Rng, workload: &Workload, cards: usize) -> Order {
        assert!(cards > 0, "a scenario has cards");
        let mix = &workload.mix;
        let weights = [
            mix.sale,
            mix.inquiry,
            mix.void,
            mix.refund,
            mix.pre_auth,
            mix.offline_sale,
            mix.ecash,
        ];
        let choice = TradeChoice::ALL[rng.weighted(&weights).unwrap_or(0)];
        let card_index = rng.between(0, cards as u64 - 1) as usize;
        let amount_fen = rng.between(workload.amount_fen.min, workload.amount_fen.max);
        let wrong_pin = rng.chance(workload.wrong_pin_per_trade);
        let refund_pick = rng.next_u64();
        Order { choice, card_index, amount_fen, wrong_pin, refund_pick }
    }

    /// A scripted order, with its card at `card_index`; a scripted refund
    /// refunds the oldest remembered sale.
    pub fn scripted(trade: &ScriptedTrade, card_index: usize) -> Order {
        Order {
            choice: trade.trade,
            card_index,
            amount_fen: trade.amount_fen,
            wrong_pin: trade.wrong_pin,
            refund_pick: 0,
        }
    }
}
