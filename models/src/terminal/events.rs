//! What the terminal tells the oracle and the report, each stamped with the
//! instant and the terminal.
//!
//! ```
//! use possim_models::terminal::events::{TerminalEvent, TerminalEventKind};
//! use possim_models::iso8583::values::{Stan, TerminalId};
//! use possim_models::time::Instant;
//! let event = TerminalEvent {
//!     at: Instant::ZERO,
//!     terminal: TerminalId::new("T1").unwrap(),
//!     kind: TerminalEventKind::TradeTimedOut { stan: Stan::new(1).unwrap() },
//! };
//! assert!(matches!(event.kind, TerminalEventKind::TradeTimedOut { .. }));
//! ```

use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::subfields::BatchTotals;
use crate::iso8583::trade::TradeKind;
use crate::iso8583::values::{AmountFen, BatchNo, Pan, Stan, TerminalId};
use crate::iso8583::Mti;
use crate::time::Instant;

use super::printer::{PrinterState, SlipKind};
use super::reasons::{FailureReason, FrameDropReason, Recovery, RefusalReason, SignInReason};
use super::reversal::ReversalReason;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TerminalEvent {
    pub at: Instant,
    pub terminal: TerminalId,
    pub kind: TerminalEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TerminalEventKind {
    OperatorSignedIn,
    TradeStarted {
        stan: Stan,
        kind: TradeKind,
        amount: Option<AmountFen>,
        pan: Pan,
    },
    /// A frame left; `mti` recorded as four digits.
    RequestSent {
        stan: Stan,
        mti: Mti,
    },
    TradeAnswered {
        stan: Stan,
        kind: TradeKind,
        code: ResponseCode,
        approved: bool,
    },
    TradeTimedOut {
        stan: Stan,
    },
    /// The trade did not complete: no slip; the cashier is told.
    TradeFailed {
        stan: Stan,
        reason: FailureReason,
    },
    ReversalStored {
        stan: Stan,
    },
    ReversalArmed {
        stan: Stan,
        reason: ReversalReason,
    },
    ReversalSent {
        stan: Stan,
        reason: ReversalReason,
        attempt: u32,
    },
    ReversalAcknowledged {
        stan: Stan,
        code: ResponseCode,
    },
    /// A try got no acknowledgement (timeout, other code, bad MAC).
    ReversalUnanswered {
        stan: Stan,
        attempt: u32,
    },
    /// The original was answered after all: its stored reversal is dropped.
    ReversalCleared {
        stan: Stan,
    },
    /// Deleted unacknowledged (policy `delete`): the debit may stand.
    ReversalAbandoned {
        stan: Stan,
        reason: ReversalReason,
    },
    SlipPrinted {
        stan: Option<Stan>,
        kind: SlipKind,
        listed: Vec<Stan>,
    },
    SlipFailed {
        stan: Option<Stan>,
        kind: SlipKind,
        reason: PrinterState,
    },
    OfflineQueued {
        stan: Stan,
        kind: TradeKind,
        amount: AmountFen,
    },
    OfflineUploaded {
        stan: Stan,
        code: ResponseCode,
    },
    /// The host refused the trade: not counted, listed after settlement.
    OfflineUploadFailed {
        stan: Stan,
        code: ResponseCode,
    },
    /// No verdict (no answer, no session, host busy): it stays queued.
    OfflineUploadDeferred {
        stan: Stan,
        code: Option<ResponseCode>,
    },
    /// A refund's advice is in persistent storage, before it first leaves:
    /// it is sent again, same STAN, until the host acknowledges it.
    AdviceStored {
        stan: Stan,
    },
    /// A refund advice got no verdict (no answer, no session, host busy,
    /// 98): it stays stored, to be sent again.
    AdviceDeferred {
        stan: Stan,
        code: Option<ResponseCode>,
    },
    SettlementStarted {
        batch: BatchNo,
        totals: BatchTotals,
    },
    SettlementBalanced {
        batch: BatchNo,
    },
    SettlementNotBalanced {
        batch: BatchNo,
    },
    BatchUploadStarted {
        batch: BatchNo,
        trades: u32,
    },
    BatchUploadEnded {
        batch: BatchNo,
        network_code: u16,
    },
    SettlementCompleted {
        batch: BatchNo,
    },
    SettlementFailed {
        batch: BatchNo,
        reason: FailureReason,
    },
    JournalCleared {
        batch: BatchNo,
        trades: u32,
    },
    SignInRequired {
        why: SignInReason,
    },
    SignedIn {
        batch: BatchNo,
    },
    SignInFailed {
        why: FailureReason,
    },
    SignedOff,
    EchoAnswered,
    PowerLost,
    PowerOn,
    /// The device was swapped; what its store held is gone with it.
    Replaced {
        batch: BatchNo,
        offline_lost: usize,
        journal_lost: usize,
        reversal_lost: bool,
    },
    Recovered {
        what: Recovery,
    },
    PrinterState {
        state: PrinterState,
    },
    TamperLocked,
    Unlocked,
    StorageFull,
    /// Refused locally: nothing was sent.
    Refused {
        why: RefusalReason,
    },
    /// A frame that was not used (undecodable, unexpected, stale).
    FrameDropped {
        why: FrameDropReason,
    },
}
