//! The issuer (see docs/DESIGN.md, "Actors"): the host that holds the
//! cardholders' accounts and has the last word on every trade.
//!
//! It takes frames only from [`Node::Network`](crate::actor::Node), under the
//! link's [`LinkKeys`](crate::actor::LinkKeys): every request and reversal
//! must carry a good MAC (else A0 and nothing changes); PIN blocks arrive
//! under the link PIK. Answers are [`TradeResponse`](crate::iso8583::trade::TradeResponse)s
//! sealed under the link MAK, TPDU swapped.
//!
//! Decisions where real issuers differ or the field is silent:
//! - **Checks, in order**: MAC (A0), duplicate key (94), table full (96),
//!   unknown card (14); then, for online trades only: status (41 lost, 43
//!   stolen, 54 expired, 62 restricted), field 14 differing from the expiry
//!   on file (54), PIN lock (75), PIN (99 format, 55 wrong, 75 on the
//!   `pin_tries_max`-th wrong try, which locks the card for `pin_lock_ms`);
//!   then per trade: minimum amount (13), single amount limit (61), daily
//!   count per card per merchant (65), available balance (51).
//! - **Offline uploads are accepted as sent** (0220 offline sale, 0320
//!   electronic cash): no status, PIN, limit or balance check, because the
//!   card approved them and the goods are gone. The account (or, for e-cash,
//!   the chip's offline balance) may go negative; an unknown card is still 14.
//! - **Declines are remembered**, so a repeat of a declined request is 94 and
//!   its reversal 12.
//! - **A reversal before its original** (25) leaves a tombstone: the late
//!   original is then refused as a duplicate (94), never debited with no
//!   reversal left to come.
//! - **Voids** need the original (same terminal and merchant, 61.1/61.2)
//!   approved, intact and for the same amount (25 unknown, 12 not intact, 64
//!   amount). **Refunds** find the original by RRN; their sum may not pass
//!   the original amount (64). **Completions** find the pre-auth by auth
//!   code; the hold is released and the completion amount (at most the
//!   pre-auth's, else 64) debited. Reversing a completion re-opens its
//!   pre-auth; reversing a completed pre-auth is refused with 12.
//! - **RRN** = issuer index n2 + approval counter n10; **auth code** = the
//!   same counter, six digits. Only approvals get them.
//! - **Clearing** ([`IssuerCommand::Reconcile`]): each approved debit is
//!   reconciled once, at the first clearing after it: listed means final;
//!   not listed means what still stands of it goes back to the card. Credits
//!   (voids, refunds) and holds are not touched by clearing.
//!
//! ```
//! use possim_models::actor::{Actor, Node};
//! use possim_models::iso8583::cup::CupMessage;
//! use possim_models::iso8583::trade::*;
//! use possim_models::iso8583::values::*;
//! use possim_models::iso8583::Tpdu;
//! use possim_models::issuer::{CardAccount, CardStatus, Issuer, IssuerConfig, LinkKeysConfig};
//! use possim_models::time::Instant;
//! use possim_models::wire::{receive, seal};
//!
//! let link = LinkKeysConfig::from_hex("0123456789ABCDEF", "FEDCBA9876543210");
//! let mut config = IssuerConfig::new(1, link.clone());
//! let pan = Pan::new("6222021234567890123").unwrap();
//! config.cards.push(CardAccount {
//!     pan, balance_fen: 10_000, pin: "123456".into(), offline_balance_fen: 0,
//!     status: CardStatus::Active, expiry: None,
//! });
//! let mut issuer = Issuer::new(config, Instant::ZERO).unwrap();
//! let sale = FinancialRequest {
//!     trade: Trade::Sale { amount: AmountFen::new(2_500).unwrap() },
//!     card: CardRead::swiped(pan),
//!     pin_block: None,
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("T1").unwrap(),
//!     merchant: MerchantId::new("M1").unwrap(),
//! };
//! let mak = link.link_keys().mac_key();
//! let frame = seal(&CupMessage::Trade(sale), Tpdu::new(2, 1), Some(&mak));
//! issuer.handle_message(Instant::ZERO, Node::Network, &frame);
//!
//! let out = issuer.poll_transmit().unwrap();
//! assert_eq!(out.to, Node::Network);
//! let answer = receive(&out.bytes, Some(&mak)).unwrap();
//! assert!(answer.mac.is_valid());
//! let CupMessage::TradeAnswer(response) = answer.message else { panic!() };
//! assert!(response.response_code.is_approved());
//! assert_eq!(issuer.card(&pan).unwrap().balance_fen, 7_500);
//! ```

mod config;
mod events;
mod machine;
pub(crate) mod reply;

#[cfg(test)]
mod tests;

pub use config::{
    within_allowance, CardAccount, CardStatus, IssuerConfig, IssuerConfigError, IssuerLimits,
    IssuerPolicy, LinkKeysConfig, ValidConfig, COMPLETION_ALLOWANCE_PERCENT, HOLD_EXPIRY_MS_MAX,
};
pub use events::{
    CardLedger, HoldClosedWhy, IssuerCommand, IssuerCommandRefusal, IssuerDropReason, IssuerEvent,
    IssuerEventKind, IssuerFormatReason, Purse, ReversalIgnoredWhy,
};
pub use machine::Issuer;
