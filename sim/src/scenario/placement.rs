//! The words of a placed fault: what the trace's cause says when it lands
//! ("drop the answer to trade 2"). The line shim writes them when the fault
//! happens and [`crate::placed`] looks for them afterwards, so both read
//! them from here and cannot drift apart.
//!
//! ```
//! use possim_models::iso8583::values::TerminalId;
//! use possim_sim::scenario::model::ProtocolFault;
//! let terminal = TerminalId::new("PR000001").unwrap();
//! let fault = ProtocolFault::DropAnswer { terminal, trade: 2 };
//! assert_eq!(fault.placement(), "drop the answer to trade 2");
//! ```

use super::model::{FrameAction, LineDirection, PowerPhase, ProtocolFault};

impl ProtocolFault {
    /// The cause a landed fault is recorded with.
    pub fn placement(&self) -> String {
        match self {
            ProtocolFault::DropAnswer { trade, .. } => format!("drop the answer to trade {trade}"),
            ProtocolFault::DropRequest { trade, .. } => format!("drop request of trade {trade}"),
            ProtocolFault::DelayAnswer { trade, offset_ms, .. } => {
                format!("delay the answer to trade {trade} to the timeout {offset_ms:+} ms")
            }
            ProtocolFault::CorruptAnswer { trade, .. } => {
                format!("corrupt the answer to trade {trade}")
            }
            ProtocolFault::DuplicateRequest { trade, .. } => {
                format!("duplicate request of trade {trade}")
            }
            ProtocolFault::DropReversals { .. } => "drop every reversal".into(),
            ProtocolFault::DropSettlementAnswer { .. } => "drop the settlement answer".into(),
            ProtocolFault::PowerOff { trade, phase, .. } => match phase {
                PowerPhase::AfterRequestLeft => {
                    format!("power off after the request of trade {trade} left")
                }
                PowerPhase::AfterIssuerApproved => {
                    format!("power off after the issuer approved trade {trade}")
                }
                PowerPhase::MidBatchUpload => "power off in the middle of a batch upload".into(),
                PowerPhase::WhileReversalInFlight => {
                    format!("power off while the reversal of trade {trade} is in flight")
                }
                PowerPhase::WhileSettlementInFlight => {
                    format!("power off while settlement request {trade} is in flight")
                }
                PowerPhase::DuringOfflineUpload => {
                    format!("power off while offline upload {trade} is in flight")
                }
                PowerPhase::DuringSignIn => {
                    format!("power off while sign-in {trade} is in flight")
                }
            },
            // Kept by the host it hits, so the words name the terminal.
            ProtocolFault::SwitchCrashWithReversalsQueued { terminal, restart_after_ms } => {
                format!(
                    "crash the switch with a reversal of {} in store-and-forward, \
                     restart after {restart_after_ms} ms",
                    terminal.trimmed()
                )
            }
            ProtocolFault::CutoffDuringSettlement { terminal, for_ms } => {
                format!("cutoff for {for_ms} ms as the settlement of {} leaves", terminal.trimmed())
            }
            ProtocolFault::SettlementUnbalanced { .. } => {
                "the host's count disagrees with the first settlement".into()
            }
            ProtocolFault::ResetAfterRequest { trade, .. } => {
                format!("reset the connection after the request of trade {trade}")
            }
            ProtocolFault::AnswerCode { trade, code, .. } => {
                format!("answer trade {trade} with {code}")
            }
            ProtocolFault::CorruptRequest { trade, .. } => {
                format!("corrupt the request of trade {trade}")
            }
            ProtocolFault::ReverseUnknown { trade, .. } => {
                format!("reverse an unknown trade after trade {trade}")
            }
            ProtocolFault::DuplicateUploads { .. } => "send every offline upload twice".into(),
            ProtocolFault::UploadNotReconciled { trade, .. } => {
                format!("answer offline upload {trade} 79")
            }
            ProtocolFault::ReconciliationError { .. } => {
                "the host's count disagrees with the first settlement; answer its upload's end 95"
                    .into()
            }
            ProtocolFault::Tamper { trade, unlock_after_ms, .. } => format!(
                "tamper lock after the request of trade {trade} left, unlock after {unlock_after_ms} ms"
            ),
            ProtocolFault::Frame { direction, frame, action, .. } => {
                let what = match action {
                    FrameAction::Drop => "drop",
                    FrameAction::Duplicate => "duplicate",
                    FrameAction::Corrupt => "corrupt",
                    FrameAction::Delay => "delay",
                };
                let way = match direction {
                    LineDirection::Up => "up",
                    LineDirection::Down => "down",
                };
                format!("{what} frame {frame} {way}")
            }
        }
    }
}
