//! The scenario's protocol faults on a live connection, host side (`possim
//! serve`). Sans-IO: it sees each request from a terminal and each answer
//! meant for one, and says what to do; the host applies it.
//!
//! | kind | serve does |
//! |---|---|
//! | `drop_answer` | withholds the answer to that trade |
//! | `drop_request` | discards the request: no answer |
//! | `delay_answer` | sends the answer at request + the terminal's timeout + `offset_ms` |
//! | `corrupt_answer` | flips a bit of the answer's MAC |
//! | `duplicate_request` | hands the request to the switch twice; with `after_ms`, the copy that much later |
//! | `drop_reversals` | withholds the answer to each reversal's first try (`certify --serve`: drops every reversal until healing, as the simulated line) |
//! | `drop_settlement_answer` | withholds the first 0510 |
//! | `reset_after_request` | closes the connection once the request is in |
//! | `answer_code` | answers that trade with the code itself, not forwarded |
//! | `settlement_unbalanced` | the first 0510 says "not balanced" |
//!
//! `power_off`, `corrupt_request`, `reverse_unknown` and
//! `duplicate_uploads` are the terminal's own faults: `possim drive`
//! applies them, serve logs them as not applicable.
//!
//! ```
//! use possim_sim::live::faults::{RequestVerdict, ServeFaults};
//! use possim_sim::scenario::model::ProtocolFault;
//! use possim_models::iso8583::values::TerminalId;
//! let terminal = TerminalId::new("T0000001").unwrap();
//! let faults = ServeFaults::new(&[ProtocolFault::DropAnswer { terminal, trade: 2 }]);
//! assert_eq!(faults.applicable().len(), 1);
//! # let _ = RequestVerdict::Forward;
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::ResponseCode;

use crate::scenario::model::ProtocolFault;

/// Below this, a delayed answer may still beat the terminal's timer on a
/// real socket, so no reversal is required of it (and none is forbidden).
pub const LATE_MARGIN_MS: i64 = 500;
/// Trades with a placed answer fault remembered per terminal.
const PLANS_MAX: usize = 1024;

/// What to do with a request from a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    Forward,
    /// Forward, then close the connection (the answer is lost).
    ForwardThenReset,
    /// Hand it to the switch twice.
    ForwardTwice,
    /// Hand it to the switch, and a copy of it `after_ms` later (a late
    /// copy, as if it arrived again on the terminal's connection).
    ForwardThenCopy {
        after_ms: u64,
    },
    /// Drop it: no answer.
    Discard,
    /// Answer it with this code, without forwarding.
    Answer(ResponseCode),
}

/// What to do with an answer meant for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerVerdict {
    Deliver,
    Withhold,
    /// Send it this long after the request arrived; `judged` when it is
    /// surely past the terminal's timeout.
    DelayFromRequestMs {
        delay_ms: u64,
        judged: bool,
    },
    CorruptMac,
    /// The connection was already closed for it.
    Lost,
    /// Deliver, with the settlement result "not balanced".
    NotBalanced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Withhold,
    Delay { offset_ms: i64 },
    Corrupt,
    Reset,
}

#[derive(Debug, Default)]
struct PerTerminal {
    faults: Vec<ProtocolFault>,
    trades_seen: u32,
    /// The STAN of the last trade counted.
    last_stan: Option<u32>,
    /// STAN -> the fault placed on its answer, and the trade number.
    plans: BTreeMap<u32, (Plan, u32, ProtocolFault)>,
    reversals_withheld: BTreeSet<u32>,
    settlement_done: bool,
}

/// The fault plan of every terminal, host side.
#[derive(Debug, Default)]
pub struct ServeFaults {
    terminals: BTreeMap<TerminalId, PerTerminal>,
    applicable: Vec<ProtocolFault>,
    not_applicable: Vec<ProtocolFault>,
    /// The faults the last `on_request` or `on_answer` applied: what a
    /// recording host writes into its trace, in the simulator's words.
    fired: Vec<ProtocolFault>,
    /// Faults apply as the simulated line applies them (`certify --serve`,
    /// whose cases were written against the simulator): `drop_reversals`
    /// drops every reversal request, not the first answer.
    like_simulator: bool,
    /// The healing phase began: no fault applies any more.
    healed: bool,
}

/// Whether serve can apply a fault kind (the others are the terminal's).
pub fn serve_applies(fault: &ProtocolFault) -> bool {
    !matches!(
        fault,
        ProtocolFault::PowerOff { .. }
            | ProtocolFault::CorruptRequest { .. }
            | ProtocolFault::ReverseUnknown { .. }
            | ProtocolFault::DuplicateUploads { .. }
            | ProtocolFault::Tamper { .. }
            | ProtocolFault::UploadNotReconciled { .. }
            | ProtocolFault::ReconciliationError { .. }
    )
}

impl ServeFaults {
    pub fn new(plan: &[ProtocolFault]) -> ServeFaults {
        let mut faults = ServeFaults::default();
        for fault in plan {
            if serve_applies(fault) {
                faults.applicable.push(fault.clone());
                faults.terminals.entry(fault.terminal()).or_default().faults.push(fault.clone());
            } else {
                faults.not_applicable.push(fault.clone());
            }
        }
        faults
    }

    pub fn applicable(&self) -> &[ProtocolFault] {
        &self.applicable
    }

    pub fn not_applicable(&self) -> &[ProtocolFault] {
        &self.not_applicable
    }

    /// Applies the faults as the simulator's line does (see the field).
    pub fn like_simulator(&mut self) {
        self.like_simulator = true;
    }

    /// The safety phase is over: from now on every frame passes untouched,
    /// as the simulator's faults stop when healing begins.
    pub fn heal(&mut self) {
        self.healed = true;
    }

    /// The faults the last request or answer had applied, taken, in the
    /// order they fired.
    pub fn take_fired(&mut self) -> Vec<ProtocolFault> {
        std::mem::take(&mut self.fired)
    }

    /// A request from `terminal`; `timeout_ms` is the terminal's response
    /// timeout as the scenario states it. Returns the verdict and, when a
    /// fault fired, what it was.
    pub fn on_request(
        &mut self,
        terminal: TerminalId,
        message: &CupMessage,
    ) -> (RequestVerdict, Option<String>) {
        if self.healed {
            return (RequestVerdict::Forward, None);
        }
        let Some(state) = self.terminals.get_mut(&terminal) else {
            return (RequestVerdict::Forward, None);
        };
        if let CupMessage::Reversal(_) = message {
            let drop =
                state.faults.iter().any(|f| matches!(f, ProtocolFault::DropReversals { .. }));
            if self.like_simulator && drop {
                self.fired.push(ProtocolFault::DropReversals { terminal });
                let stan = message.stan().value();
                return (RequestVerdict::Discard, Some(format!("drop_reversals: stan {stan}")));
            }
        }
        let CupMessage::Trade(request) = message else {
            return (RequestVerdict::Forward, None);
        };
        if request.kind().is_offline_upload() {
            return (RequestVerdict::Forward, None);
        }
        let stan = request.stan.value();
        // A repeat of the trade just counted (a line or a terminal sending
        // it twice) is not another trade.
        if state.last_stan == Some(stan) {
            return (RequestVerdict::Forward, None);
        }
        state.last_stan = Some(stan);
        state.trades_seen += 1;
        let trade = state.trades_seen;
        // Several faults may sit on one trade (a lost answer and a late
        // copy of the request): one on the request, one on its answer,
        // each the first of its side in the order listed.
        let mut verdict = None;
        let mut plan = None;
        let mut said = Vec::new();
        for fault in state.faults.clone() {
            if fault.trade() != Some(trade) {
                continue;
            }
            let why = format!("{} on trade {trade} (stan {stan})", fault.kind_name());
            let on_request = match &fault {
                ProtocolFault::DropRequest { .. } => Some(RequestVerdict::Discard),
                ProtocolFault::DuplicateRequest { after_ms: 0, .. } => {
                    Some(RequestVerdict::ForwardTwice)
                }
                ProtocolFault::DuplicateRequest { after_ms, .. } => {
                    Some(RequestVerdict::ForwardThenCopy { after_ms: *after_ms })
                }
                ProtocolFault::AnswerCode { code, .. } => {
                    let bytes = code.as_bytes();
                    let code = ResponseCode::new([bytes[0], bytes.get(1).copied().unwrap_or(b'0')]);
                    Some(RequestVerdict::Answer(code))
                }
                _ => None,
            };
            if let Some(on_request) = on_request {
                if verdict.is_none() {
                    verdict = Some(on_request);
                    self.fired.push(fault.clone());
                    said.push(why);
                }
                continue;
            }
            let on_answer = match &fault {
                ProtocolFault::ResetAfterRequest { .. } => Plan::Reset,
                ProtocolFault::DropAnswer { .. } => Plan::Withhold,
                ProtocolFault::DelayAnswer { offset_ms, .. } => {
                    Plan::Delay { offset_ms: *offset_ms }
                }
                ProtocolFault::CorruptAnswer { .. } => Plan::Corrupt,
                _ => continue,
            };
            if plan.is_none() {
                if on_answer == Plan::Reset {
                    // Recorded as the request comes in.
                    self.fired.push(fault.clone());
                }
                plan = Some((on_answer, fault));
                said.push(why);
            }
        }
        let reset = matches!(plan, Some((Plan::Reset, _)));
        if let Some((plan, fault)) = plan {
            if state.plans.len() >= PLANS_MAX {
                state.plans.pop_first();
            }
            state.plans.insert(stan, (plan, trade, fault));
        }
        let verdict = match verdict {
            // Nothing reaches the switch: no answer to lose.
            Some(verdict) => verdict,
            None if reset => RequestVerdict::ForwardThenReset,
            None => RequestVerdict::Forward,
        };
        (verdict, (!said.is_empty()).then(|| said.join("; ")))
    }

    /// An answer for `terminal`; `timeout_ms` is its response timeout.
    pub fn on_answer(
        &mut self,
        terminal: TerminalId,
        message: &CupMessage,
        timeout_ms: u64,
    ) -> (AnswerVerdict, Option<String>) {
        if self.healed {
            return (AnswerVerdict::Deliver, None);
        }
        let Some(state) = self.terminals.get_mut(&terminal) else {
            return (AnswerVerdict::Deliver, None);
        };
        match message {
            // Dropped as requests already.
            CupMessage::TradeAnswer(answer) if answer.reversal && self.like_simulator => {
                (AnswerVerdict::Deliver, None)
            }
            CupMessage::TradeAnswer(answer) if answer.reversal => {
                let stan = answer.stan.value();
                let drop =
                    state.faults.iter().any(|f| matches!(f, ProtocolFault::DropReversals { .. }));
                if drop && state.reversals_withheld.insert(stan) {
                    self.fired.push(ProtocolFault::DropReversals { terminal });
                    let why =
                        format!("drop_reversals: first answer to the reversal of stan {stan}");
                    return (AnswerVerdict::Withhold, Some(why));
                }
                (AnswerVerdict::Deliver, None)
            }
            CupMessage::TradeAnswer(answer) => {
                let Some((plan, trade, fault)) = state.plans.remove(&answer.stan.value()) else {
                    return (AnswerVerdict::Deliver, None);
                };
                // A reset was recorded as the request came in.
                if plan != Plan::Reset {
                    self.fired.push(fault);
                }
                let stan = answer.stan.value();
                let verdict = match plan {
                    Plan::Withhold => AnswerVerdict::Withhold,
                    Plan::Corrupt => AnswerVerdict::CorruptMac,
                    Plan::Reset => AnswerVerdict::Lost,
                    Plan::Delay { offset_ms } => AnswerVerdict::DelayFromRequestMs {
                        delay_ms: (timeout_ms as i64 + offset_ms).max(0) as u64,
                        judged: offset_ms >= LATE_MARGIN_MS,
                    },
                };
                (verdict, Some(format!("answer to trade {trade} (stan {stan}): {verdict:?}")))
            }
            CupMessage::SettlementAnswer(answer) if !state.settlement_done => {
                for fault in &state.faults {
                    match fault {
                        ProtocolFault::SettlementUnbalanced { .. } => {
                            state.settlement_done = true;
                            self.fired.push(fault.clone());
                            let why = format!(
                                "settlement_unbalanced: batch {} answered not balanced",
                                answer.batch.value()
                            );
                            return (AnswerVerdict::NotBalanced, Some(why));
                        }
                        ProtocolFault::DropSettlementAnswer { .. } => {
                            state.settlement_done = true;
                            self.fired.push(fault.clone());
                            let why = format!(
                                "drop_settlement_answer: the 0510 of batch {} withheld",
                                answer.batch.value()
                            );
                            return (AnswerVerdict::Withhold, Some(why));
                        }
                        _ => {}
                    }
                }
                (AnswerVerdict::Deliver, None)
            }
            _ => (AnswerVerdict::Deliver, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use possim_models::iso8583::trade::TradeResponse;
    use possim_models::iso8583::values::{MonthDay, TimeOfDay};

    use super::*;
    use crate::live::fixtures::{sale, terminal};

    fn request(stan: u32) -> CupMessage {
        CupMessage::Trade(sale(stan, 1000))
    }

    #[test]
    fn a_lost_answer_and_a_late_copy_on_one_trade_both_fire() {
        let terminal = terminal();
        let mut faults = ServeFaults::new(&[
            ProtocolFault::DropAnswer { terminal, trade: 1 },
            ProtocolFault::DuplicateRequest { terminal, trade: 1, after_ms: 5000 },
        ]);
        let (verdict, why) = faults.on_request(terminal, &request(2));
        assert_eq!(verdict, RequestVerdict::ForwardThenCopy { after_ms: 5000 });
        assert_eq!(
            why.as_deref(),
            Some("drop_answer on trade 1 (stan 2); duplicate_request on trade 1 (stan 2)")
        );
        let fired: Vec<&str> = faults.take_fired().iter().map(|f| f.kind_name()).collect();
        assert_eq!(fired, ["duplicate_request"], "the lost answer fires as it is lost");
        let CupMessage::Trade(sent) = request(2) else { unreachable!() };
        let answer = CupMessage::TradeAnswer(TradeResponse::answering(
            &sent,
            ResponseCode::new(*b"00"),
            TimeOfDay::new(10, 0, 0).unwrap(),
            MonthDay::new(11, 21).unwrap(),
        ));
        assert_eq!(faults.on_answer(terminal, &answer, 20_000).0, AnswerVerdict::Withhold);
        let fired: Vec<&str> = faults.take_fired().iter().map(|f| f.kind_name()).collect();
        assert_eq!(fired, ["drop_answer"]);
        // The copy's answer, the same STAN again: delivered.
        assert_eq!(faults.on_answer(terminal, &answer, 20_000).0, AnswerVerdict::Deliver);
    }

    #[test]
    fn a_copy_at_once_stays_a_double_hand_over() {
        let terminal = terminal();
        let mut faults = ServeFaults::new(&[ProtocolFault::DuplicateRequest {
            terminal,
            trade: 1,
            after_ms: 0,
        }]);
        assert_eq!(faults.on_request(terminal, &request(2)).0, RequestVerdict::ForwardTwice);
    }
}
