//! The card network, CUP (see docs/DESIGN.md, "Actors"): it routes each trade
//! from the acquirer's switch to the issuer of the card, and answers for the
//! issuer when the issuer cannot.
//!
//! Every link ([`Node::Switch`](crate::actor::Node) and each
//! `Node::Issuer(i)`) has its own [`LinkKeys`](crate::actor::LinkKeys). The
//! network checks the MAC of what arrives on a link and seals what it sends
//! under the next link's MAK; PIN blocks are translated from the switch
//! link's PIK to the issuer link's.
//!
//! Decisions where the field is silent:
//! - **Answers on behalf** (in this order): cutoff 90, no route 15, issuer
//!   marked down 91, the same TradeKey still at the issuer 94 (a copy of
//!   an advice is dropped instead: 94 would read as taken), tables full
//!   96, PIN block not translatable 99, bad MAC A0.
//! - **Issuer timeout.** After `issuer_timeout_ms` (default 30 s, which must
//!   stay below the switch's upstream timeout) the switch gets 98 and, for a
//!   reversible trade, the network takes a reversal (0400, reason 98) into
//!   custody. An answer arriving after the 98 is dropped (never relayed as an
//!   approval); the reversal goes on regardless.
//! - **Reversals are held in custody** (store-and-forward), whoever started
//!   them. A reversal from the switch is forwarded at once and the issuer's
//!   answer relayed if it comes within `issuer_timeout_ms`; if it does not,
//!   or the issuer is down, the network answers the switch 00 itself and
//!   keeps sending every `reversal_retry_interval_ms` until the issuer answers
//!   00, 12 or 25, or `reversal_tries_max` sends have gone
//!   (`ReversalAbandoned`). A reversal for a key already in custody is
//!   answered 00 and not sent twice. Reversals pass during the cutoff.
//! - **An issuer answer whose MAC fails is no answer**: nothing is relayed
//!   and the timeout reverses the trade.
//! - **Clearing** lists, per issuer, the trades answered 00 and never
//!   reversed (and uploads or refunds approved after a 98: nothing reverses
//!   them, so the issuer holds them). Settled entries are then forgotten;
//!   trades still pending or in custody wait for the next clearing.
//!
//! ```
//! use possim_models::actor::{Actor, Node};
//! use possim_models::iso8583::cup::CupMessage;
//! use possim_models::iso8583::response_code::ResponseCode;
//! use possim_models::iso8583::trade::*;
//! use possim_models::iso8583::values::*;
//! use possim_models::iso8583::Tpdu;
//! use possim_models::issuer::LinkKeysConfig;
//! use possim_models::network::{IssuerLink, Network, NetworkConfig, Route};
//! use possim_models::time::Instant;
//! use possim_models::wire::{receive, seal};
//!
//! let switch = LinkKeysConfig::from_hex("1111111111111111", "2222222222222222");
//! let issuer = LinkKeysConfig::from_hex("3333333333333333", "4444444444444444");
//! let config = NetworkConfig::new(
//!     switch.clone(),
//!     vec![IssuerLink { index: 1, link: issuer.clone() }],
//!     vec![Route { bin_prefix: "622202".into(), issuer: 1 }],
//! );
//! let mut network = Network::new(config, Instant::ZERO).unwrap();
//! let sale = FinancialRequest {
//!     trade: Trade::Sale { amount: AmountFen::new(2_500).unwrap() },
//!     card: CardRead::swiped(Pan::new("6222021234567890123").unwrap()),
//!     pin_block: None,
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("T1").unwrap(),
//!     merchant: MerchantId::new("M1").unwrap(),
//! };
//! let switch_mak = switch.link_keys().mac_key();
//! network.handle_message(Instant::ZERO, Node::Switch, &seal(&CupMessage::Trade(sale.clone()), Tpdu::new(1, 0), Some(&switch_mak)));
//!
//! // Forwarded to issuer 1, sealed under that link's MAK.
//! let out = network.poll_transmit().unwrap();
//! assert_eq!(out.to, Node::Issuer(1));
//! let forwarded = receive(&out.bytes, Some(&issuer.link_keys().mac_key())).unwrap();
//! assert!(forwarded.mac.is_valid());
//! assert_eq!(forwarded.message, CupMessage::Trade(sale));
//!
//! // The issuer stays silent: 98 to the switch, a reversal to the issuer.
//! let deadline = network.poll_timeout().unwrap();
//! assert_eq!(deadline, Instant::from_millis(30_000));
//! network.handle_timeout(deadline);
//! let answer = network.poll_transmit().unwrap();
//! assert_eq!(answer.to, Node::Switch);
//! let CupMessage::TradeAnswer(response) = receive(&answer.bytes, Some(&switch_mak)).unwrap().message else { panic!() };
//! assert_eq!(response.response_code, ResponseCode::ISSUER_TIMEOUT);
//! assert_eq!(network.poll_transmit().unwrap().to, Node::Issuer(1));
//! ```

mod config;
mod events;
mod machine;

#[cfg(test)]
mod tests;

pub use crate::issuer::LinkKeysConfig;
pub use config::{IssuerLink, NetworkConfig, NetworkConfigError, Route, ValidNetworkConfig};
pub use events::{
    NetworkCommand, NetworkCommandRefusal, NetworkDropReason, NetworkEvent, NetworkEventKind,
    NetworkFormatReason, ReversalOrigin,
};
pub use machine::Network;
