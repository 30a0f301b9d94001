//! Everything the models can produce, per category: what coverage is
//! measured against. Each list names its source, so a new code, reason,
//! fault kind or event in the models shows up here as never reached.

use possim_models::iso8583::ResponseCode;

use crate::trace::FaultKind;

/// What a terminal is doing, as its events tell (see [`super::count::phase_after`]).
pub const PHASES: [&str; 10] = [
    "idle",
    "signing_in",
    "signed_out",
    "awaiting_answer",
    "reversal_pending",
    "offline_upload",
    "settlement",
    "batch_upload",
    "powered_off",
    "locked",
];

/// The phases a fault on a terminal is counted in: where the protocol can be
/// caught mid-way (a powered-off or locked terminal has nothing in flight).
pub const FAULT_PHASES: [&str; 7] = [
    "idle",
    "signing_in",
    "awaiting_answer",
    "reversal_pending",
    "offline_upload",
    "settlement",
    "batch_upload",
];

/// Every kind of the CUP catalogue (`TradeKind::ALL`), by its serde name.
pub fn trade_kinds() -> Vec<String> {
    possim_models::iso8583::trade::TradeKind::ALL
        .iter()
        .map(|kind| serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(String::from)))
        .map(|name| name.expect("a trade kind serialises as its name"))
        .collect()
}

/// The answer codes the switch, the network and the issuers give
/// (`models/src/{switch,network,issuer}`), as terminals receive them.
pub fn response_codes() -> Vec<String> {
    [
        ResponseCode::APPROVED,
        ResponseCode::CUTOFF_IN_PROGRESS,
        ResponseCode::DUPLICATE,
        ResponseCode::EXCEEDS_AMOUNT_LIMIT,
        ResponseCode::EXCEEDS_FREQUENCY_LIMIT,
        ResponseCode::EXPIRED_CARD,
        ResponseCode::FORMAT_ERROR,
        ResponseCode::FUNCTION_NOT_SUPPORTED,
        ResponseCode::INSUFFICIENT_FUNDS,
        ResponseCode::INVALID_AMOUNT,
        ResponseCode::INVALID_CARD,
        ResponseCode::ISSUER_INOPERATIVE,
        ResponseCode::ISSUER_TIMEOUT,
        ResponseCode::LOST_CARD,
        ResponseCode::MAC_ERROR,
        ResponseCode::NO_SUCH_ISSUER,
        ResponseCode::OFFLINE_NOT_RECONCILED,
        ResponseCode::ORIGINAL_AMOUNT_INCORRECT,
        ResponseCode::ORIGINAL_NOT_FOUND,
        ResponseCode::PIN_FORMAT_ERROR,
        ResponseCode::PIN_TRIES_EXCEEDED,
        ResponseCode::RECONCILIATION_ERROR,
        ResponseCode::RESTRICTED_CARD,
        ResponseCode::SIGN_IN_TO_NETWORK,
        ResponseCode::STATE_MISMATCH,
        ResponseCode::STOLEN_CARD,
        ResponseCode::SYSTEM_MALFUNCTION,
        ResponseCode::TERMINAL_NOT_REGISTERED,
        ResponseCode::UNSUPPORTED_BY_ISSUER,
        ResponseCode::WRONG_PIN,
    ]
    .iter()
    .map(|code| format!("{code} {}", code.meaning()))
    .collect()
}

/// `ReversalReason` (`models/src/terminal/reversal.rs`).
pub const REVERSAL_REASONS: [&str; 3] = ["timeout", "bad_mac", "garbled"];

/// How a settlement ended (`SettlementBalanced`, a batch upload ended 202
/// or 207, `Recovered` "settlement ... resumes", `SettlementFailed`).
pub const SETTLEMENT_OUTCOMES: [&str; 6] = [
    "balanced",
    "not_balanced",
    "batch_upload_202",
    "batch_upload_207",
    "resumed_after_power",
    "failed",
];

/// Every `TerminalEventKind` (`models/src/terminal/events.rs`), as the
/// trace names them.
pub const TERMINAL_EVENTS: [&str; 43] = [
    "operator_signed_in",
    "trade_started",
    "request_sent",
    "trade_answered",
    "trade_timed_out",
    "trade_failed",
    "reversal_stored",
    "reversal_armed",
    "reversal_sent",
    "reversal_acknowledged",
    "reversal_unanswered",
    "reversal_cleared",
    "reversal_abandoned",
    "slip_printed",
    "slip_failed",
    "offline_queued",
    "offline_uploaded",
    "offline_upload_failed",
    "offline_upload_deferred",
    "advice_stored",
    "advice_deferred",
    "settlement_started",
    "settlement_balanced",
    "settlement_not_balanced",
    "batch_upload_started",
    "batch_upload_ended",
    "settlement_completed",
    "settlement_failed",
    "journal_cleared",
    "sign_in_required",
    "signed_in",
    "sign_in_failed",
    "signed_off",
    "echo_answered",
    "power_lost",
    "power_on",
    "recovered",
    "printer_state",
    "tamper_locked",
    "unlocked",
    "storage_full",
    "refused",
    "frame_dropped",
];

/// Faults that hit one terminal: counted by the phase it was in.
pub const TERMINAL_FAULTS: [FaultKind; 10] = [
    FaultKind::LineDelay,
    FaultKind::LineBlackholeStart,
    FaultKind::LineReset,
    FaultKind::LineDropFrame,
    FaultKind::LineDuplicate,
    FaultKind::LineCorrupt,
    FaultKind::PowerCut,
    FaultKind::BatteryDrain,
    FaultKind::PrinterFault,
    FaultKind::TamperLock,
];

/// Faults between or on network elements: no terminal phase.
pub const HOST_FAULTS: [FaultKind; 8] = [
    FaultKind::Partition,
    FaultKind::Hold,
    FaultKind::LinkLatency,
    FaultKind::HostCrash,
    FaultKind::IssuerDown,
    FaultKind::CutoffStart,
    FaultKind::HostTotalsDisagree,
    FaultKind::HostAnswerCode,
];

/// A fault kind as the trace names it.
pub fn fault_name(kind: FaultKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}
