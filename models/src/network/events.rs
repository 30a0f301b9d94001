//! What the network tells the oracle and the report, and what an operator
//! can ask of it.

use crate::actor::{Node, TradeKey};
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::TradeKind;
use crate::iso8583::values::Stan;
use crate::iso8583::{DecodeError, MessageError, Mti};
use crate::text::serialize_as_display;
use crate::time::Instant;

use std::fmt;

/// Operator or scenario input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkCommand {
    /// The date cutoff (日切) begins: new requests are answered 90; reversals
    /// still pass.
    CutoffStart,
    CutoffEnd,
    /// The network considers issuer `i` inoperative: requests for it are
    /// answered 91; reversals for it wait in custody.
    IssuerDown(u16),
    IssuerUp(u16),
    /// The acquirer's clearing file for the day: the trades its terminals
    /// settled. Once one is filed, the next [`NetworkCommand::Clear`] lists
    /// only trades it holds; a trade the acquirer did not file goes back to
    /// the card (DOMAIN.md: the two sides reconcile the next day).
    FileClearing {
        keys: Vec<TradeKey>,
    },
    /// End-of-day clearing: one [`NetworkEventKind::ClearingList`] per issuer.
    /// Issue it inside the cutoff window, once nothing is pending, so that
    /// no approval is still on its way back. Without a filed acquirer file
    /// the lists hold every complete trade, as if the acquirer had filed
    /// them all.
    Clear,
}

/// Who asked for a reversal the network holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalOrigin {
    /// The acquirer's switch sent it (on the terminal's behalf).
    Switch,
    /// The network's own, after the issuer did not answer in time.
    IssuerTimeout,
}

/// An event with the instant it happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetworkEvent {
    pub at: Instant,
    pub kind: NetworkEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkEventKind {
    /// A request went on to its issuer.
    Routed {
        key: TradeKey,
        kind: TradeKind,
        issuer: u16,
    },
    /// An issuer's answer went back to the switch.
    AnswerRelayed {
        key: TradeKey,
        kind: TradeKind,
        issuer: u16,
        code: ResponseCode,
        reversal: bool,
    },
    /// The network answered the switch itself: 15 no route, 90 cutoff, 91
    /// issuer down, 94 same trade in flight, 96 tables full, 98 issuer timeout,
    /// 99 PIN not translatable; for reversals 25 no route, 00 in custody.
    AnsweredOnBehalf {
        key: TradeKey,
        kind: TradeKind,
        code: ResponseCode,
        reversal: bool,
    },
    IssuerTimeout {
        key: TradeKey,
        issuer: u16,
    },
    ReversalQueued {
        key: TradeKey,
        issuer: u16,
        origin: ReversalOrigin,
    },
    ReversalSent {
        key: TradeKey,
        issuer: u16,
        attempt: u32,
    },
    /// The issuer answered 00, 12 or 25: the reversal is done.
    ReversalAcknowledged {
        key: TradeKey,
        issuer: u16,
        code: ResponseCode,
    },
    /// Any other answer: the reversal stays in custody and is sent again.
    ReversalRefused {
        key: TradeKey,
        issuer: u16,
        code: ResponseCode,
    },
    /// `reversal_tries_max` sends went unacknowledged: the network lets go.
    ReversalAbandoned {
        key: TradeKey,
        issuer: u16,
        tries: u32,
    },
    /// An issuer's answer after the network had answered 98: not forwarded.
    LateAnswerDropped {
        key: TradeKey,
        issuer: u16,
        code: ResponseCode,
    },
    /// An answer matching nothing the network waits for.
    UnmatchedAnswerDropped {
        from: Node,
        key: TradeKey,
    },
    /// The acquirer filed its clearing file: `trades` trades, `held` of
    /// them trades the network saw.
    ClearingFiled {
        trades: usize,
        held: usize,
    },
    /// The trades of `issuer` the network considers complete (approved and
    /// not reversed) and the acquirer filed.
    ClearingList {
        issuer: u16,
        keys: Vec<TradeKey>,
    },
    /// A frame whose MAC was wrong or missing (a request is answered A0; an
    /// answer is treated as no answer).
    MacRejected {
        from: Node,
        key: Option<TradeKey>,
    },
    /// A frame that decoded but was not a complete message (answered 30 when
    /// it came from the switch and named its sender) or not one expected here.
    FormatRejected {
        from: Node,
        answered: bool,
        reason: NetworkFormatReason,
    },
    /// Bytes that are not a CUP frame, or from a node with no link here.
    FrameDropped {
        from: Node,
        reason: NetworkDropReason,
    },
    CutoffStarted,
    CutoffEnded,
    IssuerMarkedDown {
        issuer: u16,
    },
    IssuerMarkedUp {
        issuer: u16,
    },
    CommandRefused {
        reason: NetworkCommandRefusal,
    },
}

/// Why the network dropped a frame without an answer (`FrameDropped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkDropReason {
    Undecodable(DecodeError),
    /// From a node with no link here.
    NoLink {
        from: Node,
    },
    /// A copy of an advice still at the issuer: a 94 now would read as
    /// "taken", and the first copy's answer, on its way, serves.
    AdviceCopyAtIssuer {
        stan: Stan,
    },
}

impl fmt::Display for NetworkDropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkDropReason::Undecodable(error) => write!(f, "{error}"),
            NetworkDropReason::NoLink { from } => write!(f, "no link with {from}"),
            NetworkDropReason::AdviceCopyAtIssuer { stan } => {
                write!(f, "copy of advice stan {stan} still at the issuer")
            }
        }
    }
}

/// Why the network refused a frame's content (`FormatRejected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkFormatReason {
    /// Not a complete message of its type.
    Incomplete(MessageError),
    /// A message this node does not take from that sender.
    NotTaken { mti: Mti, from: Node },
}

impl fmt::Display for NetworkFormatReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkFormatReason::Incomplete(error) => write!(f, "{error}"),
            NetworkFormatReason::NotTaken { mti, from } => {
                write!(f, "the network does not take {mti} from {from}")
            }
        }
    }
}

/// Why an operator's command was not carried out (`CommandRefused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkCommandRefusal {
    /// Refused whole rather than cut: clearing part of a file would return
    /// debits the acquirer did settle.
    ClearingFileTooLarge {
        trades: usize,
        clearing_file_max: usize,
    },
    NoSuchIssuer {
        issuer: u16,
    },
}

impl fmt::Display for NetworkCommandRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkCommandRefusal::ClearingFileTooLarge { trades, clearing_file_max } => write!(
                f,
                "a clearing file of {trades} trades, clearing_file_max is {clearing_file_max}"
            ),
            NetworkCommandRefusal::NoSuchIssuer { issuer } => write!(f, "no issuer {issuer}"),
        }
    }
}

serialize_as_display!(NetworkDropReason, NetworkFormatReason, NetworkCommandRefusal);
