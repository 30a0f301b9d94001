//! What the issuer tells the oracle and the report, what an operator can ask
//! of it, and its ledger.

use crate::actor::{Node, TradeKey};
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::TradeKind;
use crate::iso8583::values::Pan;
use crate::iso8583::{DecodeError, MessageError, Mti};
use crate::text::serialize_as_display;
use crate::time::Instant;

use std::fmt;

/// Operator or harness input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerCommand {
    /// End-of-day clearing: the trades the network considers complete. Every
    /// approved debit not listed, and not yet cleared, goes back to the card.
    Reconcile { complete: Vec<TradeKey> },
    /// Moves `amount_fen` from the account to the chip's electronic cash.
    LoadECash { pan: Pan, amount_fen: i64 },
}

/// Which balance a movement touches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Purse {
    /// The card account.
    Account,
    /// Electronic cash on the chip.
    Offline,
    /// Money held by a pre-authorisation: not moved, not available.
    Hold,
}

/// Why a reversal changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalIgnoredWhy {
    /// Answered 25.
    OriginalNotFound,
    /// Answered 12.
    OriginalDeclined,
    /// Answered 00: already rolled back (or returned at clearing).
    Repeat,
    /// Answered 12: the original can no longer be rolled back (a completed
    /// pre-auth).
    NotReversible,
}

/// Why a pre-auth's hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldClosedWhy {
    /// Captured by a completion (request or advice).
    Completed,
    /// Released by a pre-auth cancel.
    Cancelled,
    /// Lapsed at `hold_expiry_ms`.
    Expired,
    /// The pre-auth itself was reversed.
    Reversed,
}

/// An event with the instant it happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuerEvent {
    pub at: Instant,
    pub kind: IssuerEventKind,
}

/// What happened. Every change of a balance is one `Moved` event (signed:
/// negative takes money from the cardholder), so the oracle can recompute each
/// card's net debit from the log alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerEventKind {
    /// An authenticated, well-formed request or reversal arrived.
    RequestReceived {
        key: TradeKey,
        kind: TradeKind,
        reversal: bool,
    },
    Approved {
        key: TradeKey,
        kind: TradeKind,
        pan: Pan,
        amount_fen: u64,
    },
    Declined {
        key: TradeKey,
        kind: TradeKind,
        pan: Pan,
        code: ResponseCode,
    },
    /// The same TradeKey again: answered 94, the original stands.
    Duplicate {
        key: TradeKey,
    },
    /// A balance changed.
    Moved {
        key: Option<TradeKey>,
        pan: Pan,
        purse: Purse,
        delta_fen: i64,
        balance_after_fen: i64,
    },
    /// A pre-auth's hold is set (approved, or open again after its
    /// completion or cancel was reversed); it lapses at `expires_at`.
    HoldPlaced {
        pre_auth: TradeKey,
        pan: Pan,
        held_fen: i64,
        expires_at: Instant,
    },
    /// A pre-auth's hold ended: `released_fen` went back to the available
    /// balance, and a completion (`by`) debited `captured_fen`.
    HoldClosed {
        pre_auth: TradeKey,
        pan: Pan,
        by: Option<TradeKey>,
        why: HoldClosedWhy,
        released_fen: i64,
        captured_fen: i64,
    },
    /// A reversal rolled back `amount_fen` of its original (`repeat`: the
    /// unsafe policy rolled it back again).
    Reversed {
        key: TradeKey,
        amount_fen: i64,
        repeat: bool,
    },
    ReversalIgnored {
        key: TradeKey,
        why: ReversalIgnoredWhy,
        code: ResponseCode,
    },
    /// A reversal for a trade never seen: remembered, so a late original is
    /// refused as a duplicate instead of debited with nobody to reverse it.
    ReversalBeforeOriginal {
        key: TradeKey,
    },
    /// A request or reversal whose MAC was wrong or missing: answered A0.
    MacRejected {
        key: Option<TradeKey>,
    },
    /// A frame that decoded but was not a complete message (answered 30 when
    /// it named its sender) or not one an issuer takes (dropped).
    FormatRejected {
        answered: bool,
        reason: IssuerFormatReason,
    },
    /// Bytes that are not a CUP frame, or a frame from a node other than the
    /// network: dropped.
    FrameDropped {
        from: Node,
        reason: IssuerDropReason,
    },
    /// The last allowed wrong PIN: the card is locked until `until`.
    PinLocked {
        pan: Pan,
        until: Instant,
    },
    /// A debit not in the network's clearing list went back to the card.
    ReturnedAtClearing {
        key: TradeKey,
        pan: Pan,
        amount_fen: i64,
    },
    /// A debit in the clearing list: final.
    Cleared {
        key: TradeKey,
    },
    ECashLoaded {
        pan: Pan,
        amount_fen: i64,
    },
    /// A command that could not be carried out.
    CommandRefused {
        reason: IssuerCommandRefusal,
    },
}

/// One card's money, from the start of the run to now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CardLedger {
    pub pan: Pan,
    pub opening_balance_fen: i64,
    pub balance_fen: i64,
    /// Held by open pre-authorisations.
    pub held_fen: i64,
    pub opening_offline_fen: i64,
    pub offline_balance_fen: i64,
    /// Electronic cash loaded from the account (moves money between the two
    /// purses, not out of the cardholder's pocket).
    pub ecash_loaded_fen: i64,
}

impl CardLedger {
    /// What the cardholder has paid, net, across both purses.
    pub fn net_debit_fen(&self) -> i64 {
        (self.opening_balance_fen + self.opening_offline_fen)
            - (self.balance_fen + self.offline_balance_fen)
    }
}

/// Why the issuer dropped a frame without an answer (`FrameDropped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerDropReason {
    Undecodable(DecodeError),
    NotFromNetwork { from: Node },
}

impl fmt::Display for IssuerDropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerDropReason::Undecodable(error) => write!(f, "{error}"),
            IssuerDropReason::NotFromNetwork { from } => {
                write!(f, "an issuer takes frames only from the network, not {from}")
            }
        }
    }
}

/// Why the issuer refused a frame's content (`FormatRejected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerFormatReason {
    /// Not a complete message of its type.
    Incomplete(MessageError),
    /// Neither a trade nor a reversal.
    NotTaken { mti: Mti },
}

impl fmt::Display for IssuerFormatReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerFormatReason::Incomplete(error) => write!(f, "{error}"),
            IssuerFormatReason::NotTaken { mti } => {
                write!(f, "an issuer takes trades and reversals, not {mti}")
            }
        }
    }
}

/// Why an electronic-cash load was not carried out (`CommandRefused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerCommandRefusal {
    NoSuchCard { pan: Pan },
    AmountNotPositive { amount_fen: i64 },
    ChipFull { ecash_load_max_fen: i64 },
    InsufficientFunds,
}

impl fmt::Display for IssuerCommandRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerCommandRefusal::NoSuchCard { pan } => write!(f, "no card {pan}"),
            IssuerCommandRefusal::AmountNotPositive { amount_fen } => {
                write!(f, "a load is a positive amount, not {amount_fen}")
            }
            IssuerCommandRefusal::ChipFull { ecash_load_max_fen } => {
                write!(f, "the chip holds at most {ecash_load_max_fen} fen")
            }
            IssuerCommandRefusal::InsufficientFunds => f.write_str("insufficient funds"),
        }
    }
}

serialize_as_display!(IssuerDropReason, IssuerFormatReason, IssuerCommandRefusal);
