//! Why the terminal refused, failed, asked for a sign-in, recovered or
//! dropped a frame: one enum per event field, each recorded in the trace
//! as its `Display` text.
//!
//! ```
//! use possim_models::terminal::reasons::RefusalReason;
//! use possim_models::iso8583::values::Stan;
//! let why = RefusalReason::NoSuchTrade { stan: Stan::new(42).unwrap() };
//! assert_eq!(why.to_string(), "no trade with stan 000042 in this batch");
//! assert!(RefusalReason::TerminalNotSignedIn.is_not_signed_in());
//! ```

use std::fmt;

use crate::actor::Node;
use crate::iso8583::keys::KeyError;
use crate::iso8583::pin::PinError;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::values::{AmountFen, BatchNo, Stan, TerminalId};
use crate::iso8583::Mti;
use crate::text::serialize_as_display;
use crate::wire::InboundError;

/// Why a command was refused locally (`Refused`): nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    TamperLocked,
    WrongOperatorOrPassword,
    NoSlipToReprint,
    NoSuchTrade {
        stan: Stan,
    },
    RefundNotAcknowledged {
        stan: Stan,
    },
    CardReadFailed,
    Busy,
    OperatorNotSignedIn,
    TerminalNotSignedIn,
    SettlementInProgress {
        batch: BatchNo,
    },
    StorageFull,
    BatchTotalWouldOverflow,
    OfflineBalanceTooSmall,
    VoidOfAnotherBatch {
        batch: BatchNo,
    },
    NotVoidable {
        stan: Stan,
    },
    VoidAmountDiffers {
        amount: AmountFen,
        original: AmountFen,
    },
    AdviceQueueFull,
    RefundOfCurrentBatch,
    OfflineQueueFull,
    NotLocked,
    WrongUnlockPassword,
    BatteryEmpty,
    /// Settlement waits for slips the printer could not print.
    SlipsOwed {
        owed: Vec<OwedSlip>,
    },
    /// A sign-off that got no answer.
    SignOff(FailureReason),
    /// An echo test that got no answer.
    Echo(FailureReason),
    /// An operation other than sign-in and settlement that failed.
    Failed(FailureReason),
}

impl RefusalReason {
    /// The operator or the terminal is not signed in: signing in is what
    /// the cashier does next.
    pub fn is_not_signed_in(&self) -> bool {
        matches!(self, RefusalReason::OperatorNotSignedIn | RefusalReason::TerminalNotSignedIn)
    }
}

/// A slip owed before settlement may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwedSlip {
    /// The last settlement's listing of refused advices.
    OfflineFailures,
    /// An approved trade's slip.
    Trade(Stan),
}

impl fmt::Display for OwedSlip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwedSlip::OfflineFailures => f.write_str("the last settlement's offline failures"),
            OwedSlip::Trade(stan) => write!(f, "{stan}"),
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RefusalReason as R;
        match self {
            R::TamperLocked => f.write_str("terminal locked after tamper: unlock first"),
            R::WrongOperatorOrPassword => f.write_str("wrong operator number or password"),
            R::NoSlipToReprint => f.write_str("no slip to reprint in this batch"),
            R::NoSuchTrade { stan } => write!(f, "no trade with stan {stan} in this batch"),
            R::RefundNotAcknowledged { stan } => {
                write!(f, "refund stan {stan} not yet acknowledged")
            }
            R::CardReadFailed => f.write_str("card read failed: nothing sent"),
            R::Busy => f.write_str("busy: an operation is in progress"),
            R::OperatorNotSignedIn => f.write_str("operator not signed in"),
            R::TerminalNotSignedIn => f.write_str("terminal not signed in"),
            R::SettlementInProgress { batch } => {
                write!(f, "settlement of batch {batch} in progress: settle first")
            }
            R::StorageFull => f.write_str("storage full, settle first"),
            R::BatchTotalWouldOverflow => f.write_str("batch total would overflow: settle first"),
            R::OfflineBalanceTooSmall => {
                f.write_str("offline balance too small: an online sale needs the pin")
            }
            R::VoidOfAnotherBatch { batch } => {
                write!(f, "void of batch {batch}: only the current batch, use a refund")
            }
            R::NotVoidable { stan } => write!(f, "stan {stan} is not a sale that can be voided"),
            R::VoidAmountDiffers { amount, original } => {
                write!(f, "void amount {amount} is not the original {original}")
            }
            R::AdviceQueueFull => f.write_str("advice queue full: send pending first"),
            R::RefundOfCurrentBatch => f.write_str("trade of the current batch: void it instead"),
            R::OfflineQueueFull => f.write_str("offline queue full: upload first"),
            R::NotLocked => f.write_str("terminal is not locked"),
            R::WrongUnlockPassword => f.write_str("wrong unlock password"),
            R::BatteryEmpty => f.write_str("battery empty: charge before power on"),
            R::SlipsOwed { owed } => {
                f.write_str("slips owed for stan ")?;
                for (index, slip) in owed.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{slip}")?;
                }
                f.write_str(": fix the printer, then settle")
            }
            R::SignOff(failure) => write!(f, "sign-off: {failure}"),
            R::Echo(failure) => write!(f, "echo: {failure}"),
            R::Failed(failure) => write!(f, "{failure}"),
        }
    }
}

/// Why an operation or a trade failed (`TradeFailed`, `SettlementFailed`,
/// `SignInFailed`, and `Refused` for the other operations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    SignInFirst,
    NoAnswerInTime,
    NoSuchTrade {
        stan: Stan,
    },
    /// The PIN could not be enciphered.
    PinBlock(PinError),
    /// Online trades wait behind a reversal that ran out of tries.
    ReversalUnacknowledged {
        stan: Stan,
    },
    /// A sign-in the host declined.
    HostDeclined {
        code: ResponseCode,
    },
    NoWorkingKeys,
    /// The working keys of field 62 did not unwrap.
    Keys(KeyError),
    /// A trade in flight when the tamper lock erased the keys.
    TamperLock,
    UnreadableAnswer(InboundError),
    AnswerDoesNotMatch,
    AnswerMacFails,
    /// An answer the terminal's policy takes as no answer.
    TakenAsNoAnswer {
        code: ResponseCode,
    },
    RefundRefused {
        code: ResponseCode,
    },
    RefundUnanswered,
    AdvicesNotAcknowledged {
        count: usize,
    },
    SlipsOwedBeforeSettlement,
    SettlementRefused,
    BatchUploadRefused {
        code: ResponseCode,
    },
    SettlementUnanswered,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FailureReason as F;
        match self {
            F::SignInFirst => f.write_str("sign in first"),
            F::NoAnswerInTime => f.write_str("no answer in time"),
            F::NoSuchTrade { stan } => write!(f, "no trade with stan {stan} in this batch"),
            F::PinBlock(error) => write!(f, "{error}"),
            F::ReversalUnacknowledged { stan } => {
                write!(f, "reversal of stan {stan} still unacknowledged: online trades wait")
            }
            F::HostDeclined { code } => write!(f, "host answered {code}: {}", code.meaning()),
            F::NoWorkingKeys => f.write_str("no working keys in field 62"),
            F::Keys(error) => write!(f, "{error}"),
            F::TamperLock => f.write_str("tamper lock"),
            F::UnreadableAnswer(error) => write!(f, "unreadable answer: {error}"),
            F::AnswerDoesNotMatch => f.write_str("answer does not match the request"),
            F::AnswerMacFails => f.write_str("the answer's mac does not check"),
            F::TakenAsNoAnswer { code } => write!(f, "host answered {code}: taken as no answer"),
            F::RefundRefused { code } => write!(f, "host answered {code}: refund failed"),
            F::RefundUnanswered => f.write_str("no answer in time: refund failed"),
            F::AdvicesNotAcknowledged { count } => {
                write!(f, "{count} advices not acknowledged: the 0500 waits")
            }
            F::SlipsOwedBeforeSettlement => {
                f.write_str("slips owed: the 0500 waits for the printer")
            }
            F::SettlementRefused => f.write_str("host refused the settlement (result flag 3)"),
            F::BatchUploadRefused { code } => write!(f, "host answered {code} to a batch upload"),
            F::SettlementUnanswered => f.write_str("no answer in time: settle again to resume"),
        }
    }
}

/// Why the terminal must sign in again (`SignInRequired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInReason {
    KeysErasedByTamper,
    SettlementResumesAfterSignIn,
    ReversalAnswered {
        code: ResponseCode,
    },
    SettlementRefused,
    BatchUploadAnswered {
        code: ResponseCode,
    },
    AdviceAnswered {
        code: ResponseCode,
    },
    /// The answer's header asked for it (processing requirement 3).
    HeaderAsks,
    AnsweredUnderAnotherKey {
        code: ResponseCode,
    },
    TradeAnswered {
        code: ResponseCode,
    },
}

impl fmt::Display for SignInReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SignInReason as S;
        match self {
            S::KeysErasedByTamper => f.write_str("working keys erased by tamper"),
            S::SettlementResumesAfterSignIn => f.write_str("settlement resumes after sign-in"),
            S::ReversalAnswered { code } => write!(f, "host answered {code} to a reversal"),
            S::SettlementRefused => f.write_str("host refused the settlement"),
            S::BatchUploadAnswered { code } => write!(f, "host answered {code} to a batch upload"),
            S::AdviceAnswered { code } => write!(f, "host answered {code} to an advice"),
            S::HeaderAsks => f.write_str("host header: processing requirement 3"),
            S::AnsweredUnderAnotherKey { code } => {
                write!(f, "host answered {code} under another key")
            }
            S::TradeAnswered { code } => write!(f, "host answered {code}: {}", code.meaning()),
        }
    }
}

/// What recovery at power-on found (`Recovered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// A stored reversal whose answer was still awaited when the power went.
    ReversalArmed {
        stan: Stan,
    },
    TamperLockHolds,
    SettlementResumes {
        batch: BatchNo,
    },
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recovery::ReversalArmed { stan } => {
                write!(f, "reversal of stan {stan} armed: its answer never came")
            }
            Recovery::TamperLockHolds => f.write_str("tamper lock holds"),
            Recovery::SettlementResumes { batch } => {
                write!(f, "settlement of batch {batch} resumes")
            }
        }
    }
}

/// Which answer arrived when it was not awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    Network,
    Trade,
    Reversal,
    Advice,
    Settlement,
    BatchUpload,
}

impl fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnswerKind::Network => "network answer",
            AnswerKind::Trade => "trade answer",
            AnswerKind::Reversal => "reversal answer",
            AnswerKind::Advice => "advice answer",
            AnswerKind::Settlement => "settlement answer",
            AnswerKind::BatchUpload => "batch upload answer",
        })
    }
}

/// Why a frame was not used (`FrameDropped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameDropReason {
    /// Undecodable, or not a complete message, with no trade in flight.
    Unreadable(InboundError),
    ForAnotherTerminal {
        terminal: TerminalId,
    },
    /// A message type the terminal never asks for (a request, say).
    NotAsked {
        mti: Mti,
    },
    NotAwaited {
        answer: AnswerKind,
        stan: Stan,
    },
    /// A 94 to a reversible trade: the verdict is in the answer still awaited.
    DuplicateIsNotVerdict {
        stan: Stan,
    },
    AdviceAnswerMacFails {
        stan: Stan,
    },
    NotFromSwitch {
        from: Node,
    },
}

impl fmt::Display for FrameDropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FrameDropReason as D;
        match self {
            D::Unreadable(error) => write!(f, "{error}"),
            D::ForAnotherTerminal { terminal } => write!(f, "for terminal {terminal}"),
            D::NotAsked { mti } => write!(f, "a terminal is not asked {mti}"),
            D::NotAwaited { answer, stan } => write!(f, "{answer} for stan {stan} is not awaited"),
            D::DuplicateIsNotVerdict { stan } => {
                write!(f, "94 to stan {stan} is not its verdict: still waiting")
            }
            D::AdviceAnswerMacFails { stan } => {
                write!(f, "advice answer for stan {stan} fails its mac")
            }
            D::NotFromSwitch { from } => {
                write!(f, "from {from}: a terminal talks to its switch only")
            }
        }
    }
}

serialize_as_display!(RefusalReason, FailureReason, SignInReason, Recovery, FrameDropReason);
