//! What the switch tells the oracle and the report, and what an operator can
//! ask of it.
//!
//! ```
//! use possim_models::switch::{SwitchEvent, SwitchEventKind};
//! use possim_models::iso8583::values::TerminalId;
//! use possim_models::time::Instant;
//! let event = SwitchEvent {
//!     at: Instant::from_millis(5),
//!     kind: SwitchEventKind::SignedOff { terminal: TerminalId::new("T1").unwrap() },
//! };
//! assert_eq!(event.to_string(), "0:00:00.005 signed off T1");
//! ```

use crate::actor::{Node, TradeKey};
use crate::iso8583::keys::KeyMode;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::subfields::BatchTotals;
use crate::iso8583::trade::TradeKind;
use crate::iso8583::values::{AmountFen, BatchNo, Stan, TerminalId};
use crate::iso8583::{DecodeError, MessageError};
use crate::text::serialize_as_display;
use crate::time::Instant;

/// One thing that happened, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SwitchEvent {
    pub at: Instant,
    pub kind: SwitchEventKind,
}

/// Why a batch was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// A settlement whose totals matched the switch's.
    Balanced,
    /// The end of a batch upload (0320 with 202 or 207).
    UploadEnd,
    /// Closed by the acquirer's operations without the terminal, on the
    /// switch's own totals (a device swapped before it could settle).
    HostSide,
}

/// Why an inbound frame was dropped without an answer. Recorded as
/// `{"undecodable": "<the decoder's text>"}` and the like.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Not a CUP frame at all.
    Undecodable(#[serde(serialize_with = "crate::text::serialize_display")] DecodeError),
    /// A frame, but not a complete message, and nobody to answer 30 to.
    Incomplete(#[serde(serialize_with = "crate::text::serialize_display")] MessageError),
    /// A message the sender has no business sending (e.g. an answer from a
    /// terminal, a request from the network).
    Unexpected(UnexpectedFrame),
    /// The network's frame failed the zone MAC check.
    BadUpstreamMac,
    /// The network answered something the switch is not waiting for.
    NotPending,
    /// The answer could not be sealed for the terminal: it is no longer
    /// signed in. Its own timeout will reverse the trade.
    TerminalNotSignedIn,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Undecodable(error) => write!(f, "undecodable: {error}"),
            DropReason::Incomplete(error) => write!(f, "incomplete: {error}"),
            DropReason::Unexpected(what) => write!(f, "unexpected: {what}"),
            DropReason::BadUpstreamMac => f.write_str("bad upstream mac"),
            DropReason::NotPending => f.write_str("not pending"),
            DropReason::TerminalNotSignedIn => f.write_str("terminal not signed in"),
        }
    }
}

/// Which message arrived from where it has no business coming from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnexpectedFrame {
    AnswerFromTerminal,
    NotTradeAnswerFromNetwork,
    /// From a node the switch has no link with.
    NoLink,
}

impl std::fmt::Display for UnexpectedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnexpectedFrame::AnswerFromTerminal => "an answer from a terminal",
            UnexpectedFrame::NotTradeAnswerFromNetwork => {
                "only trade answers come from the network"
            }
            UnexpectedFrame::NoLink => "the switch has no link to it",
        })
    }
}

serialize_as_display!(UnexpectedFrame);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchEventKind {
    SignedIn {
        terminal: TerminalId,
        batch: BatchNo,
        mode: KeyMode,
    },
    SignedOff {
        terminal: TerminalId,
    },
    /// A message refused before it changed anything: 97 unregistered, 77
    /// not signed in, A0 bad MAC, 30 incomplete, 99 bad PIN block, 22 wrong
    /// batch, 40 sign-in mode the TMK cannot serve, 96 a table full.
    Rejected {
        terminal: TerminalId,
        stan: Option<Stan>,
        code: ResponseCode,
    },
    /// A repeated request, not forwarded: the original stands, and its
    /// answer (or, without one kept, 94) goes back.
    Duplicate {
        key: TradeKey,
    },
    /// A copy of a request still upstream, dropped: the original's answer
    /// will answer it.
    DuplicateInFlight {
        key: TradeKey,
    },
    Forwarded {
        key: TradeKey,
        kind: TradeKind,
    },
    /// An answer to a trade (`reversal` false) or to a reversal went to the terminal.
    Answered {
        key: TradeKey,
        code: ResponseCode,
        reversal: bool,
    },
    UpstreamTimeout {
        key: TradeKey,
    },
    ReversalQueued {
        key: TradeKey,
        reason: ResponseCode,
    },
    ReversalSent {
        key: TradeKey,
        attempt: u32,
    },
    ReversalAcknowledged {
        key: TradeKey,
        code: ResponseCode,
    },
    /// The network answered after the switch gave up (or after the terminal
    /// reversed): the answer is not relayed, the reversal goes on.
    LateAnswerDropped {
        key: TradeKey,
        code: ResponseCode,
    },
    SettlementAnswered {
        terminal: TerminalId,
        batch: BatchNo,
        balanced: bool,
        switch_totals: BatchTotals,
        terminal_totals: BatchTotals,
    },
    /// One 0320/201 recorded: `entries` not uploaded before in this batch
    /// (a resent chunk counts once); `unknown` entries matched no approved
    /// trade.
    BatchUploaded {
        terminal: TerminalId,
        batch: BatchNo,
        entries: usize,
        unknown: usize,
    },
    /// An uploaded trade the switch does not hold as approved (or holds with
    /// another amount). It is not added to the switch's totals: money moves
    /// only through authorised trades; this is left to reconciliation.
    UploadedTradeUnknown {
        terminal: TerminalId,
        batch: BatchNo,
        stan: Stan,
        amount: AmountFen,
    },
    BatchClosed {
        terminal: TerminalId,
        batch: BatchNo,
        next: BatchNo,
        reason: CloseReason,
    },
    Dropped {
        from: Node,
        reason: DropReason,
    },
    /// The switch came back from a crash; `reversals_queued` in-flight
    /// trades were handed to store-and-forward.
    Recovered {
        reversals_queued: usize,
        store_forward: usize,
    },
    /// A closed batch's trades went into the day's clearing file: `filed`
    /// of them, `by_upload` when the terminal's batch upload said which;
    /// `totals` is what the acquirer settles with the merchant for it.
    BatchFiled {
        terminal: TerminalId,
        batch: BatchNo,
        filed: usize,
        by_upload: bool,
        totals: BatchTotals,
    },
    /// The clearing file had no room for `unfiled` trades of a closed
    /// batch: they will not be cleared, and their debits go back.
    ClearingFileFull {
        terminal: TerminalId,
        batch: BatchNo,
        unfiled: usize,
    },
    /// A batch upload carried more detail than `trades_per_batch_max`
    /// entries: the `dropped` entries past the bound are not kept, so the
    /// upload's end message finds fewer than it counts and is answered 95.
    UploadOverBound {
        terminal: TerminalId,
        batch: BatchNo,
        dropped: usize,
    },
    /// A quirk command refused: the switch already carries `QUIRKS_MAX`.
    QuirkRefused {
        terminal: TerminalId,
        stan: u32,
    },
    /// The day's clearing file, handed to the network at end of day: every
    /// trade the acquirer's terminals settled since the last one.
    ClearingSubmitted {
        keys: Vec<TradeKey>,
    },
}

impl std::fmt::Display for SwitchEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.at)?;
        match &self.kind {
            SwitchEventKind::SignedIn { terminal, batch, mode } => {
                write!(f, "signed in {terminal} batch {batch} mode {:03}", mode.code())
            }
            SwitchEventKind::SignedOff { terminal } => write!(f, "signed off {terminal}"),
            SwitchEventKind::Rejected { terminal, code, .. } => {
                write!(f, "rejected {terminal}: {code} {}", code.meaning())
            }
            SwitchEventKind::Duplicate { key } => write!(f, "duplicate {key}"),
            SwitchEventKind::DuplicateInFlight { key } => {
                write!(f, "duplicate of a request still upstream, dropped: {key}")
            }
            SwitchEventKind::Forwarded { key, kind } => {
                write!(f, "forwarded {} {key}", kind.label())
            }
            SwitchEventKind::Answered { key, code, reversal } => {
                write!(f, "answered {}{key}: {code}", if *reversal { "reversal of " } else { "" })
            }
            SwitchEventKind::UpstreamTimeout { key } => write!(f, "upstream timeout {key}"),
            SwitchEventKind::ReversalQueued { key, reason } => {
                write!(f, "reversal queued {key} ({reason})")
            }
            SwitchEventKind::ReversalSent { key, attempt } => {
                write!(f, "reversal sent {key} try {attempt}")
            }
            SwitchEventKind::ReversalAcknowledged { key, code } => {
                write!(f, "reversal acknowledged {key}: {code}")
            }
            SwitchEventKind::LateAnswerDropped { key, code } => {
                write!(f, "late answer dropped {key}: {code}")
            }
            SwitchEventKind::SettlementAnswered { terminal, batch, balanced, .. } => write!(
                f,
                "settlement {terminal} batch {batch}: {}",
                if *balanced { "balanced" } else { "not balanced" }
            ),
            SwitchEventKind::BatchUploaded { terminal, batch, entries, unknown } => {
                write!(
                    f,
                    "batch upload {terminal} batch {batch}: {entries} entries, {unknown} unknown"
                )
            }
            SwitchEventKind::UploadedTradeUnknown { terminal, batch, stan, amount } => {
                write!(
                    f,
                    "uploaded trade unknown {terminal} batch {batch} stan {stan} amount {amount}"
                )
            }
            SwitchEventKind::BatchClosed { terminal, batch, next, .. } => {
                write!(f, "batch closed {terminal} batch {batch}, next {next}")
            }
            SwitchEventKind::Dropped { from, reason } => {
                write!(f, "dropped from {from}: {reason}")
            }
            SwitchEventKind::Recovered { reversals_queued, store_forward } => {
                write!(f, "recovered: {reversals_queued} in-flight trades reversed, ")?;
                write!(f, "{store_forward} reversals queued")
            }
            SwitchEventKind::BatchFiled { terminal, batch, filed, by_upload, .. } => write!(
                f,
                "batch filed for clearing {terminal} batch {batch}: {filed} trades, from {}",
                if *by_upload { "its batch upload" } else { "the switch's own records" }
            ),
            SwitchEventKind::ClearingFileFull { terminal, batch, unfiled } => write!(
                f,
                "clearing file full: {unfiled} trades of {terminal} batch {batch} not filed"
            ),
            SwitchEventKind::UploadOverBound { terminal, batch, dropped } => write!(
                f,
                "batch upload {terminal} batch {batch}: {dropped} entries past the bound not kept"
            ),
            SwitchEventKind::QuirkRefused { terminal, stan } => {
                write!(
                    f,
                    "quirk refused for {terminal} stan {stan}: the switch carries its maximum"
                )
            }
            SwitchEventKind::ClearingSubmitted { keys } => {
                write!(f, "clearing file submitted: {} trades", keys.len())
            }
        }
    }
}

/// What an operator can ask of the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchCommand {
    /// Forget a terminal's working keys, as a security officer would after
    /// a suspected compromise: its next financial message gets 77.
    RevokeKeys { terminal: TerminalId },
    /// Close a terminal's open batch host-side on the switch's own totals
    /// and end its session, as operations do when a broken device is
    /// swapped before it could settle: the new device signs in and starts
    /// the next batch.
    CloseBatch { terminal: TerminalId },
    /// End of day: hand the clearing file to the network
    /// ([`SwitchEventKind::ClearingSubmitted`]) and start the next one.
    SubmitClearing,
    /// Script one misbehaviour toward one coming request (the simulated
    /// world's placed `settlement_unbalanced`: the host's own count of a
    /// batch disagrees with the terminal's). Refused, with nothing changed,
    /// once the switch holds [`QUIRKS_MAX`](super::config::QUIRKS_MAX).
    Quirk(super::config::SwitchQuirk),
}
