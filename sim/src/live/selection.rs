//! Which live checks a run *selects*: those the scenario's faults and
//! workload give something to judge. A selected check that judged nothing
//! was "not exercised" and fails the run (what it was waiting for never
//! happened); a check the scenario cannot trigger is "not applicable" and
//! fails nothing. Either way the report says which, so a vacuous pass
//! cannot pass for a real one.
//!
//! The rule per check is in `docs/LIVE.md`; in short, a check is selected
//! when the scenario holds the fault (or the workload) that makes its rule
//! apply, and the two rules every run exercises (`stan-unique-in-batch` on
//! any terminal message, `unregistered-refused` and
//! `settlement-reconciled` on every drive) are always selected.
//!
//! ```
//! use possim_sim::live::selection::Relevance;
//! assert!(Relevance::Selected.is_selected());
//! assert!(!Relevance::NotApplicable("no fault withholds an answer").is_selected());
//! ```

use possim_models::iso8583::response_code::TerminalAction;
use possim_models::iso8583::ResponseCode;

use super::faults::LATE_MARGIN_MS;
use super::host_checks::HostCheckId;
use super::terminal_checks::CheckId;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{Fault, PowerPhase, ProtocolFault, TradeChoice};

/// Whether a run is expected to exercise a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relevance {
    /// The scenario holds what triggers it: judging nothing fails the run.
    Selected,
    /// Nothing in the scenario triggers it, and why.
    NotApplicable(&'static str),
}

impl Relevance {
    pub fn is_selected(self) -> bool {
        self == Relevance::Selected
    }

    fn when(selected: bool, why_not: &'static str) -> Relevance {
        if selected {
            Relevance::Selected
        } else {
            Relevance::NotApplicable(why_not)
        }
    }
}

fn any_fault(scenario: &CompiledScenario, hit: impl Fn(&ProtocolFault) -> bool) -> bool {
    scenario.faults.protocol.iter().any(hit)
}

fn signs_in_again(code: &str) -> bool {
    match code.as_bytes() {
        &[first, second] => {
            ResponseCode::new([first, second]).action() == TerminalAction::SignInAgain
        }
        _ => false,
    }
}

fn offline_workload(scenario: &CompiledScenario) -> bool {
    let workload = &scenario.workload;
    let drawn = workload.arrivals_per_terminal_per_hour > 0.0
        && (workload.mix.offline_sale > 0 || workload.mix.ecash > 0);
    let scripted = workload
        .script
        .iter()
        .any(|trade| matches!(trade.trade, TradeChoice::OfflineSale | TradeChoice::Ecash));
    drawn || scripted
}

/// `possim serve`'s checks on a terminal, as this scenario selects them.
pub fn terminal_check(scenario: &CompiledScenario, check: CheckId) -> Relevance {
    match check {
        CheckId::ReversesUnansweredTrade => Relevance::when(
            any_fault(scenario, |fault| match fault {
                ProtocolFault::DelayAnswer { offset_ms, .. } => *offset_ms >= LATE_MARGIN_MS,
                ProtocolFault::DropAnswer { .. }
                | ProtocolFault::DropRequest { .. }
                | ProtocolFault::CorruptAnswer { .. }
                | ProtocolFault::ResetAfterRequest { .. } => true,
                _ => false,
            }),
            "no fault withholds, delays, cuts off or corrupts an answer",
        ),
        CheckId::RetriesReversal => Relevance::when(
            any_fault(scenario, |fault| matches!(fault, ProtocolFault::DropReversals { .. })),
            "no drop_reversals fault",
        ),
        CheckId::OfflineBeforeSettlement => {
            Relevance::when(offline_workload(scenario), "the workload makes no offline trade")
        }
        CheckId::BatchUploadAfterUnbalanced => Relevance::when(
            any_fault(scenario, |fault| {
                matches!(fault, ProtocolFault::SettlementUnbalanced { .. })
            }),
            "no settlement_unbalanced fault",
        ),
        CheckId::SignsInWhenTold => Relevance::when(
            any_fault(
                scenario,
                |fault| matches!(fault, ProtocolFault::AnswerCode { code, .. } if signs_in_again(code)),
            ),
            "no answer_code fault with a sign-in-again code (22, 58, 77, 99, A0)",
        ),
        CheckId::StanUniqueInBatch => Relevance::Selected,
    }
}

/// `possim drive`'s checks on a host, as this scenario selects them.
pub fn host_check(scenario: &CompiledScenario, check: HostCheckId) -> Relevance {
    match check {
        HostCheckId::RepeatAnswered94 => Relevance::when(
            any_fault(scenario, |fault| {
                matches!(
                    fault,
                    ProtocolFault::DuplicateRequest { .. } | ProtocolFault::DuplicateUploads { .. }
                )
            }),
            "no duplicate_request or duplicate_uploads fault",
        ),
        HostCheckId::ReversalIdempotent => {
            let protocol = any_fault(scenario, |fault| match fault {
                ProtocolFault::PowerOff { phase, .. } => *phase != PowerPhase::MidBatchUpload,
                ProtocolFault::ReverseUnknown { .. } | ProtocolFault::ResetAfterRequest { .. } => {
                    true
                }
                _ => false,
            });
            let scheduled = scenario.faults.scheduled.iter().any(|scheduled| {
                matches!(scheduled.fault, Fault::Reset { .. } | Fault::PowerCut { .. })
            });
            Relevance::when(
                protocol || scheduled,
                "no fault makes a terminal reverse (reverse_unknown, reset_after_request, \
                 power_off, reset, power_cut)",
            )
        }
        HostCheckId::BadMacRefused => Relevance::when(
            any_fault(scenario, |fault| matches!(fault, ProtocolFault::CorruptRequest { .. })),
            "no corrupt_request fault",
        ),
        HostCheckId::UnregisteredRefused | HostCheckId::SettlementReconciled => Relevance::Selected,
    }
}

/// What never happened when a selected terminal check judged nothing.
pub fn terminal_never_happened(check: CheckId) -> &'static str {
    match check {
        CheckId::ReversesUnansweredTrade => {
            "no reversible trade's answer was withheld, delayed, cut off or corrupted (no \
             reversal was owed)"
        }
        CheckId::RetriesReversal => "no reversal's answer was withheld, so no retry was owed",
        CheckId::OfflineBeforeSettlement => "no offline upload arrived",
        CheckId::BatchUploadAfterUnbalanced => "no 0510 said \"not balanced\" to a terminal",
        CheckId::SignsInWhenTold => "no answer told a terminal to sign in again",
        CheckId::StanUniqueInBatch => "no terminal of the scenario sent a message",
    }
}

/// What never happened when a selected host check judged nothing.
pub fn host_never_happened(check: HostCheckId) -> &'static str {
    match check {
        HostCheckId::RepeatAnswered94 => "no request was sent twice and answered",
        HostCheckId::ReversalIdempotent => "no reversal was ever needed and answered",
        HostCheckId::BadMacRefused => "no request with a bad MAC was sent and answered",
        HostCheckId::UnregisteredRefused => "the unregistered terminal's sign-in got no answer",
        HostCheckId::SettlementReconciled => {
            "no settlement was answered on a batch whose every trade had a known outcome"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(path: &str) -> CompiledScenario {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        crate::scenario::load_and_compile(&root.join(path)).expect("the scenario loads")
    }

    #[test]
    fn a_fault_selects_its_check_and_its_absence_makes_it_not_applicable() {
        let precheck = scenario("scenarios/live/precheck.yaml");
        let relevance = |check| terminal_check(&precheck, check);
        assert_eq!(relevance(CheckId::ReversesUnansweredTrade), Relevance::Selected);
        assert_eq!(relevance(CheckId::StanUniqueInBatch), Relevance::Selected);
        for check in [
            CheckId::RetriesReversal,
            CheckId::OfflineBeforeSettlement,
            CheckId::BatchUploadAfterUnbalanced,
            CheckId::SignsInWhenTold,
        ] {
            assert!(!relevance(check).is_selected(), "{check:?}");
        }

        let compliant = scenario("scenarios/live/drive_compliant.yaml");
        for check in HostCheckId::ALL {
            assert!(host_check(&compliant, check).is_selected(), "{check:?}");
        }
        assert!(terminal_check(&compliant, CheckId::OfflineBeforeSettlement).is_selected());

        let refund = scenario("scenarios/live/drive_refund.yaml");
        let selected: Vec<HostCheckId> = HostCheckId::ALL
            .into_iter()
            .filter(|&check| host_check(&refund, check).is_selected())
            .collect();
        assert_eq!(selected, [HostCheckId::UnregisteredRefused, HostCheckId::SettlementReconciled]);
    }
}
