//! What a power cut loses: the operator's session, the operation in progress
//! and the request whose answer is awaited (with its deadline).
//!
//! The request in flight is kept here whole so the answer can be matched to
//! it; with the unsafe `after_send` policy its reversal lives here too, and is
//! lost with it.
//!
//! ```
//! use possim_models::terminal::volatile::Volatile;
//! let volatile = Volatile::default();
//! assert!(!volatile.operator_signed_in);
//! assert!(volatile.operation.is_none());
//! ```

use crate::iso8583::network::NetworkCode;
use crate::iso8583::trade::{FinancialRequest, ReversalRequest};
use crate::iso8583::values::Stan;
use crate::time::Instant;

use super::commands::TerminalCommand;

/// A cashier's or operator's request in progress: it may take several
/// messages (reversal first, offline uploads, then its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    SignIn,
    SignOff,
    Echo,
    /// An online trade; the command is kept so a PIN block is made at send
    /// time and the cashier's retry can repeat it.
    Trade {
        command: TerminalCommand,
        sent: bool,
        retry_of: Option<Stan>,
    },
    SendPending,
    Settle,
}

impl Operation {
    /// Whether a pending reversal and offline uploads go before it.
    pub fn flushes(&self) -> bool {
        !matches!(self, Operation::SignIn)
    }
}

/// Per-operation bookkeeping that keeps its loop bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationState {
    /// A reversal went out during this operation: an exhausted, blocking
    /// reversal gets one more try per operation, not one per step.
    pub reversal_tried: bool,
    /// An upload went unanswered: no more uploads in this operation.
    pub uploads_stalled: bool,
    /// The cashier's immediate retry skips the reversal (the unsafe policy).
    pub skip_reversal: bool,
    /// The batch was uploaded again after a 95: once per operation.
    pub batch_uploaded_again: bool,
}

/// What answer is awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Awaiting {
    Network {
        code: NetworkCode,
        stan: Stan,
    },
    /// `reversal` holds the reversal only under the `after_send` policy.
    Trade {
        request: FinancialRequest,
        reversal: Option<ReversalRequest>,
    },
    Reversal {
        stan: Stan,
    },
    /// An advice (offline upload or refund), first sent or sent again.
    Advice {
        request: FinancialRequest,
    },
    Settlement {
        stan: Stan,
    },
    BatchUpload {
        stan: Stan,
        entries: usize,
    },
    BatchUploadEnd {
        stan: Stan,
        network_code: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outstanding {
    pub awaiting: Awaiting,
    pub deadline: Instant,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volatile {
    pub operator_signed_in: bool,
    pub operation: Option<(Operation, OperationState)>,
    pub outstanding: Option<Outstanding>,
}
