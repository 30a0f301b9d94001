//! Placed-fault matching, sans-IO: which of one terminal's protocol-placed
//! faults fire on a frame it sends, and what each asks for. The simulated
//! line (`world::line`) and the live fleet (`live::fleet::placed`) both ask
//! here and keep only their own way of carrying the action out (live
//! cannot do some; it refuses those as the scenario loads).
//!
//! The caller counts: which frames are "online trade N" (and whether a
//! frame counts at all), the Nth settlement, offline upload or sign-in. The
//! matcher is given the count and says what fires, in the order the faults
//! are listed. A fault placed on a phase's moment fires once: [`Landed`]
//! remembers those that have.
//!
//! ```
//! use possim_models::iso8583::values::TerminalId;
//! use possim_sim::day::placed::{on_online_trade, OnTrade};
//! use possim_sim::scenario::model::ProtocolFault;
//! let terminal = TerminalId::new("PR000001").unwrap();
//! let faults = vec![ProtocolFault::DropAnswer { terminal, trade: 2 }];
//! assert!(on_online_trade(&faults, 1).is_empty());
//! assert_eq!(on_online_trade(&faults, 2), vec![(0, OnTrade::DropAnswer)]);
//! ```

use std::collections::BTreeSet;

use possim_models::iso8583::ResponseCode;

use crate::scenario::model::{PowerPhase, ProtocolFault};

/// What a fault placed on an online trade asks of it, as its request
/// leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTrade {
    /// Lose the request.
    DropRequest,
    /// Deliver the request twice, the copy `after_ms` after the original
    /// (0: the carrier's own smallest gap).
    DuplicateRequest { after_ms: u64 },
    /// Send the request with a wrong MAC.
    CorruptRequest,
    /// Close the connection once the request has left.
    ResetAfterRequest,
    /// Lose the answer.
    DropAnswer,
    /// Corrupt the answer's MAC.
    CorruptAnswer,
    /// Hold the answer to the request's send time + the response timeout +
    /// `offset_ms`.
    DelayAnswer { offset_ms: i64 },
    /// Power the terminal off now, for `off_ms`.
    PowerOffNow { off_ms: u64 },
    /// Power the terminal off for `off_ms` as the issuer's approval of this
    /// trade comes back (the approval never reaches it).
    PowerOffOnApproval { off_ms: u64 },
    /// Once this trade is answered, send a reversal of a trade never sent.
    ReverseUnknown,
    /// Knock the terminal into its tamper lock now; unlock `unlock_after_ms`
    /// later.
    TamperNow { unlock_after_ms: u64 },
}

/// The faults placed on the terminal's `trade`-th online trade (1-based),
/// by index into `faults`, in the order listed.
pub fn on_online_trade(faults: &[ProtocolFault], trade: u32) -> Vec<(usize, OnTrade)> {
    let mut fired = Vec::new();
    for (index, fault) in faults.iter().enumerate() {
        if fault.trade() != Some(trade) {
            continue;
        }
        let action = match *fault {
            ProtocolFault::DropRequest { .. } => OnTrade::DropRequest,
            ProtocolFault::DuplicateRequest { after_ms, .. } => {
                OnTrade::DuplicateRequest { after_ms }
            }
            ProtocolFault::CorruptRequest { .. } => OnTrade::CorruptRequest,
            ProtocolFault::ResetAfterRequest { .. } => OnTrade::ResetAfterRequest,
            ProtocolFault::DropAnswer { .. } => OnTrade::DropAnswer,
            ProtocolFault::CorruptAnswer { .. } => OnTrade::CorruptAnswer,
            ProtocolFault::DelayAnswer { offset_ms, .. } => OnTrade::DelayAnswer { offset_ms },
            ProtocolFault::PowerOff { phase, off_ms, .. } => match phase {
                PowerPhase::AfterRequestLeft => OnTrade::PowerOffNow { off_ms },
                PowerPhase::AfterIssuerApproved => OnTrade::PowerOffOnApproval { off_ms },
                // Placed on their own moments (`at_moment`).
                PowerPhase::MidBatchUpload
                | PowerPhase::WhileReversalInFlight
                | PowerPhase::WhileSettlementInFlight
                | PowerPhase::DuringOfflineUpload
                | PowerPhase::DuringSignIn => continue,
            },
            ProtocolFault::ReverseUnknown { .. } => OnTrade::ReverseUnknown,
            ProtocolFault::Tamper { unlock_after_ms, .. } => OnTrade::TamperNow { unlock_after_ms },
            // Placed by the host (answer_code), or not on a trade.
            _ => continue,
        };
        fired.push((index, action));
    }
    fired
}

/// A moment of a phase, as the terminal's frame of it leaves; the counts
/// are the caller's, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// A reversal (0400) of the terminal's online trade `of_trade`, if the
    /// caller knows which.
    Reversal { of_trade: Option<u32> },
    /// The terminal's `nth` settlement request (0500).
    Settlement { nth: u32 },
    /// The terminal's `nth` offline upload.
    OfflineUpload { nth: u32 },
    /// The terminal's `nth` sign-in (0800).
    SignIn { nth: u32 },
    /// A batch upload (0320).
    BatchUpload,
    /// The end of a batch upload that did not balance (0320, 60.3 = 202).
    BatchUploadEnd,
}

/// What a fault placed on a moment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtMoment {
    /// Power the terminal off for `off_ms`, with the frame on its way.
    PowerOff { off_ms: u64 },
    /// Start the network's date cutoff window, for `for_ms`.
    Cutoff { for_ms: u64 },
    /// The switch answers the frame (and its copies) with `code` itself.
    HostAnswers { code: ResponseCode },
}

/// The placed faults (by index) that have fired on their moment: each
/// fires once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landed(BTreeSet<usize>);

impl Landed {
    pub fn has(&self, index: usize) -> bool {
        self.0.contains(&index)
    }
}

/// The faults placed on `moment` that fire now, by index into `faults`, in
/// the order listed; each is marked in `landed` and never fires again.
pub fn at_moment(
    faults: &[ProtocolFault],
    moment: Moment,
    landed: &mut Landed,
) -> Vec<(usize, AtMoment)> {
    let mut fired = Vec::new();
    for (index, fault) in faults.iter().enumerate() {
        if landed.has(index) {
            continue;
        }
        let action = match *fault {
            ProtocolFault::PowerOff { trade, phase, off_ms, .. } => {
                let lands = match (phase, moment) {
                    (PowerPhase::WhileReversalInFlight, Moment::Reversal { of_trade }) => {
                        of_trade == Some(trade)
                    }
                    (PowerPhase::WhileSettlementInFlight, Moment::Settlement { nth })
                    | (PowerPhase::DuringOfflineUpload, Moment::OfflineUpload { nth })
                    | (PowerPhase::DuringSignIn, Moment::SignIn { nth }) => nth == trade,
                    (PowerPhase::MidBatchUpload, Moment::BatchUpload) => true,
                    _ => false,
                };
                if !lands {
                    continue;
                }
                AtMoment::PowerOff { off_ms }
            }
            ProtocolFault::CutoffDuringSettlement { for_ms, .. }
                if matches!(moment, Moment::Settlement { .. }) =>
            {
                AtMoment::Cutoff { for_ms }
            }
            ProtocolFault::UploadNotReconciled { trade, .. }
                if moment == (Moment::OfflineUpload { nth: trade }) =>
            {
                AtMoment::HostAnswers { code: ResponseCode::OFFLINE_NOT_RECONCILED }
            }
            ProtocolFault::ReconciliationError { .. } if moment == Moment::BatchUploadEnd => {
                AtMoment::HostAnswers { code: ResponseCode::RECONCILIATION_ERROR }
            }
            _ => continue,
        };
        landed.0.insert(index);
        fired.push((index, action));
    }
    fired
}

/// A fault that stands for the whole day rather than one trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// `drop_reversals`: every reversal the terminal sends is lost.
    DropReversals,
    /// `drop_settlement_answer`: the settlement answer is lost.
    DropSettlementAnswer,
    /// `settlement_unbalanced`: the host's count disagrees with the first
    /// settlement's.
    SettlementUnbalanced,
    /// `duplicate_uploads`: every offline upload is sent twice.
    DuplicateUploads,
}

/// The first of the terminal's faults of the `standing` kind, by index.
pub fn standing(faults: &[ProtocolFault], standing: Standing) -> Option<usize> {
    faults.iter().position(|fault| match standing {
        Standing::DropReversals => matches!(fault, ProtocolFault::DropReversals { .. }),
        Standing::DropSettlementAnswer => {
            matches!(fault, ProtocolFault::DropSettlementAnswer { .. })
        }
        // A reconciliation error starts as an unbalanced settlement.
        Standing::SettlementUnbalanced => matches!(
            fault,
            ProtocolFault::SettlementUnbalanced { .. } | ProtocolFault::ReconciliationError { .. }
        ),
        Standing::DuplicateUploads => matches!(fault, ProtocolFault::DuplicateUploads { .. }),
    })
}

#[cfg(test)]
mod tests {
    use possim_models::iso8583::values::TerminalId;

    use super::*;

    fn terminal() -> TerminalId {
        TerminalId::new("PR000001").expect("a terminal id")
    }

    fn power_off(trade: u32, phase: PowerPhase) -> ProtocolFault {
        ProtocolFault::PowerOff { terminal: terminal(), trade, phase, off_ms: 5_000 }
    }

    #[test]
    fn a_trade_fault_fires_on_its_trade_and_no_other() {
        let terminal = terminal();
        let faults = vec![
            ProtocolFault::DropRequest { terminal, trade: 2 },
            ProtocolFault::DelayAnswer { terminal, trade: 3, offset_ms: -200 },
            ProtocolFault::DuplicateRequest { terminal, trade: 3, after_ms: 40 },
        ];
        assert!(on_online_trade(&faults, 1).is_empty());
        assert_eq!(on_online_trade(&faults, 2), vec![(0, OnTrade::DropRequest)]);
        // Two on one trade: in the order listed.
        assert_eq!(
            on_online_trade(&faults, 3),
            vec![
                (1, OnTrade::DelayAnswer { offset_ms: -200 }),
                (2, OnTrade::DuplicateRequest { after_ms: 40 }),
            ]
        );
        assert!(on_online_trade(&faults, 4).is_empty());
    }

    #[test]
    fn live_only_trade_faults_match_too() {
        let terminal = terminal();
        let faults = vec![
            ProtocolFault::CorruptRequest { terminal, trade: 1 },
            ProtocolFault::ResetAfterRequest { terminal, trade: 1 },
            ProtocolFault::ReverseUnknown { terminal, trade: 1 },
            ProtocolFault::AnswerCode { terminal, trade: 1, code: "96".into() },
        ];
        assert_eq!(
            on_online_trade(&faults, 1),
            vec![
                (0, OnTrade::CorruptRequest),
                (1, OnTrade::ResetAfterRequest),
                (2, OnTrade::ReverseUnknown),
            ]
        );
    }

    #[test]
    fn host_answers_land_on_their_upload_and_the_end_once() {
        let terminal = terminal();
        let faults = vec![
            ProtocolFault::UploadNotReconciled { terminal, trade: 2 },
            ProtocolFault::ReconciliationError { terminal },
        ];
        let mut landed = Landed::default();
        assert!(at_moment(&faults, Moment::OfflineUpload { nth: 1 }, &mut landed).is_empty());
        let not_reconciled = AtMoment::HostAnswers { code: ResponseCode::OFFLINE_NOT_RECONCILED };
        assert_eq!(
            at_moment(&faults, Moment::OfflineUpload { nth: 2 }, &mut landed),
            vec![(0, not_reconciled)]
        );
        assert!(at_moment(&faults, Moment::BatchUpload, &mut landed).is_empty());
        let error = AtMoment::HostAnswers { code: ResponseCode::RECONCILIATION_ERROR };
        assert_eq!(at_moment(&faults, Moment::BatchUploadEnd, &mut landed), vec![(1, error)]);
        assert!(at_moment(&faults, Moment::BatchUploadEnd, &mut landed).is_empty(), "once");
        // The 95 starts as an unbalanced settlement.
        assert_eq!(standing(&faults, Standing::SettlementUnbalanced), Some(1));
    }

    #[test]
    fn power_off_phases() {
        let faults = vec![
            power_off(1, PowerPhase::AfterRequestLeft),
            power_off(1, PowerPhase::AfterIssuerApproved),
            power_off(1, PowerPhase::WhileReversalInFlight),
            power_off(2, PowerPhase::WhileSettlementInFlight),
            power_off(1, PowerPhase::DuringOfflineUpload),
            power_off(3, PowerPhase::DuringSignIn),
            power_off(1, PowerPhase::MidBatchUpload),
        ];
        // On the trade itself: only the two phases of the trade's request.
        assert_eq!(
            on_online_trade(&faults, 1),
            vec![
                (0, OnTrade::PowerOffNow { off_ms: 5_000 }),
                (1, OnTrade::PowerOffOnApproval { off_ms: 5_000 }),
            ]
        );
        let mut landed = Landed::default();
        let cut = vec![(2, AtMoment::PowerOff { off_ms: 5_000 })];
        assert!(at_moment(&faults, Moment::Reversal { of_trade: Some(2) }, &mut landed).is_empty());
        assert!(at_moment(&faults, Moment::Reversal { of_trade: None }, &mut landed).is_empty());
        assert_eq!(at_moment(&faults, Moment::Reversal { of_trade: Some(1) }, &mut landed), cut);
        // The phase's own count: the 2nd settlement, the 3rd sign-in.
        assert!(at_moment(&faults, Moment::Settlement { nth: 1 }, &mut landed).is_empty());
        assert_eq!(
            at_moment(&faults, Moment::Settlement { nth: 2 }, &mut landed),
            vec![(3, AtMoment::PowerOff { off_ms: 5_000 })]
        );
        assert_eq!(
            at_moment(&faults, Moment::OfflineUpload { nth: 1 }, &mut landed),
            vec![(4, AtMoment::PowerOff { off_ms: 5_000 })]
        );
        assert!(at_moment(&faults, Moment::SignIn { nth: 2 }, &mut landed).is_empty());
        assert_eq!(
            at_moment(&faults, Moment::SignIn { nth: 3 }, &mut landed),
            vec![(5, AtMoment::PowerOff { off_ms: 5_000 })]
        );
        assert_eq!(
            at_moment(&faults, Moment::BatchUpload, &mut landed),
            vec![(6, AtMoment::PowerOff { off_ms: 5_000 })]
        );
    }

    #[test]
    fn a_moment_fault_fires_once() {
        let terminal = terminal();
        let faults = vec![
            power_off(1, PowerPhase::MidBatchUpload),
            ProtocolFault::CutoffDuringSettlement { terminal, for_ms: 60_000 },
            power_off(1, PowerPhase::WhileReversalInFlight),
        ];
        let mut landed = Landed::default();
        let batch = at_moment(&faults, Moment::BatchUpload, &mut landed);
        assert_eq!(batch, vec![(0, AtMoment::PowerOff { off_ms: 5_000 })]);
        assert!(at_moment(&faults, Moment::BatchUpload, &mut landed).is_empty());
        // The cutoff lands on the first settlement, whichever it is.
        let first = at_moment(&faults, Moment::Settlement { nth: 4 }, &mut landed);
        assert_eq!(first, vec![(1, AtMoment::Cutoff { for_ms: 60_000 })]);
        assert!(at_moment(&faults, Moment::Settlement { nth: 5 }, &mut landed).is_empty());
        let reversal = Moment::Reversal { of_trade: Some(1) };
        assert_eq!(at_moment(&faults, reversal, &mut landed).len(), 1);
        assert!(at_moment(&faults, reversal, &mut landed).is_empty());
        assert!(landed.has(0) && landed.has(1) && landed.has(2));
    }

    #[test]
    fn standing_faults_are_found_first_listed() {
        let terminal = terminal();
        let faults = vec![
            ProtocolFault::DropAnswer { terminal, trade: 1 },
            ProtocolFault::DropReversals { terminal },
            ProtocolFault::DropReversals { terminal },
            ProtocolFault::DuplicateUploads { terminal },
        ];
        assert_eq!(standing(&faults, Standing::DropReversals), Some(1));
        assert_eq!(standing(&faults, Standing::DuplicateUploads), Some(3));
        assert_eq!(standing(&faults, Standing::SettlementUnbalanced), None);
        assert_eq!(standing(&faults, Standing::DropSettlementAnswer), None);
    }
}
