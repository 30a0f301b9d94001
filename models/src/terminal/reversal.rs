//! The pending reversal (冲正): at most one, kept in persistent storage.
//!
//! It is *stored* (not yet due) while the answer to its trade is awaited,
//! and *armed* once the trade has failed without a usable answer: no answer
//! in time (98), an answer whose MAC fails (A0), an answer that is garbled or
//! does not match (06). An armed reversal goes before any other online
//! message. The host's 00, 12 ("original declined") and 25 ("original not
//! found") all mean the reversal is done.
//!
//! ```
//! use possim_models::iso8583::ResponseCode;
//! assert!(ResponseCode::new(*b"25").completes_reversal());
//! assert!(!ResponseCode::new(*b"96").completes_reversal());
//! ```

use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::ReversalRequest;
use crate::iso8583::values::Stan;

use crate::iso8583::cup::CupMessage;
use crate::iso8583::mac::MacCheck;
use crate::iso8583::response_code::TerminalAction;
use crate::iso8583::trade::{FinancialRequest, TradeResponse};
use crate::time::Instant;

use super::commands::TerminalCommand;
use super::config::ReversalExhausted;
use super::events::TerminalEventKind as E;
use super::reasons::{AnswerKind, FailureReason, SignInReason};
use super::terminal::{Step, Terminal};
use super::volatile::{Awaiting, Operation, OperationState, Outstanding};

/// Why a trade is reversed: the code that travels in field 39 of the 0400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalReason {
    /// 98: no answer in time (or the terminal lost power waiting).
    Timeout,
    /// A0: the answer's MAC failed.
    BadMac,
    /// 06: the answer could not be parsed or did not match the request.
    Garbled,
}

impl ReversalReason {
    pub fn code(self) -> ResponseCode {
        match self {
            ReversalReason::Timeout => ResponseCode::ISSUER_TIMEOUT,
            ReversalReason::BadMac => ResponseCode::MAC_ERROR,
            ReversalReason::Garbled => ResponseCode::ISSUER_ERROR,
        }
    }
}

/// The reversal of one trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReversal {
    pub request: ReversalRequest,
    /// `None` while the original's answer is still awaited.
    pub armed: Option<ReversalReason>,
    /// 0400s sent so far.
    pub tries: u32,
}

impl PendingReversal {
    /// Stored before (or, by policy, after) the original leaves; not yet due.
    pub fn stored(request: ReversalRequest) -> PendingReversal {
        PendingReversal { request, armed: None, tries: 0 }
    }

    pub fn stan(&self) -> Stan {
        self.request.original().stan
    }

    pub fn arm(&mut self, reason: ReversalReason) {
        assert!(self.armed.is_none(), "reversal of stan {} armed twice", self.stan());
        self.armed = Some(reason);
        self.request.reason = reason.code();
    }

    pub fn is_exhausted(&self, tries_max: u32) -> bool {
        self.tries >= tries_max
    }
}

/// The reversal's life: armed when a trade fails without a usable answer,
/// flushed before any other online message, acknowledged or abandoned.
impl Terminal {
    /// Sends the armed reversal if it is due; `None` when nothing blocks.
    pub(super) fn flush_reversal(&mut self, now: Instant, state: &OperationState) -> Option<Step> {
        let reversal = self.persistent.reversal.as_ref()?;
        if state.skip_reversal {
            return None;
        }
        assert!(
            reversal.armed.is_some(),
            "a stored reversal outside its trade's flight is armed on recovery"
        );
        let tries_max = self.checked.config.reversal_tries_max;
        if !reversal.is_exhausted(tries_max) {
            self.send_reversal(now);
            return Some(Step::Sent);
        }
        match self.checked.config.reversal_exhausted {
            ReversalExhausted::Delete => {
                let reversal = self.persistent.reversal.take().expect("checked");
                let reason = reversal.armed.expect("armed");
                self.emit(now, E::ReversalAbandoned { stan: reversal.stan(), reason });
                Some(Step::Again)
            }
            ReversalExhausted::KeepBlocking if !state.reversal_tried => {
                self.send_reversal(now);
                Some(Step::Sent)
            }
            ReversalExhausted::KeepBlocking => {
                let stan = reversal.stan();
                self.fail_operation(now, FailureReason::ReversalUnacknowledged { stan });
                Some(Step::Again)
            }
        }
    }

    pub(super) fn send_reversal(&mut self, now: Instant) {
        if let Some((_, state)) = self.volatile.operation.as_mut() {
            state.reversal_tried = true;
        }
        let reversal = self.persistent.reversal.as_mut().expect("caller checked");
        reversal.tries += 1;
        let (stan, attempt, reason) =
            (reversal.stan(), reversal.tries, reversal.armed.expect("armed"));
        let message = CupMessage::Reversal(reversal.request.clone());
        self.emit(now, E::ReversalSent { stan, reason, attempt });
        self.send(now, &message);
        self.await_answer(now, Awaiting::Reversal { stan });
    }

    /// A trade in flight failed without a usable answer: arm its reversal,
    /// and under the cashier policy, swipe again at once.
    pub(super) fn trade_unusable(
        &mut self,
        now: Instant,
        request: &FinancialRequest,
        volatile_reversal: Option<ReversalRequest>,
        reason: ReversalReason,
        why: FailureReason,
        cashier_may_retry: bool,
    ) {
        let stan = request.stan;
        self.emit(now, E::TradeFailed { stan, reason: why });
        if let Some(reversal) = volatile_reversal {
            if self.persistent.reversal.is_none() {
                self.persistent.reversal = Some(PendingReversal::stored(reversal));
                self.emit(now, E::ReversalStored { stan });
            }
        }
        let ours = self
            .persistent
            .reversal
            .as_ref()
            .is_some_and(|r| r.stan() == stan && r.armed.is_none());
        if ours {
            self.persistent.reversal.as_mut().expect("checked").arm(reason);
            self.emit(now, E::ReversalArmed { stan, reason });
        }
        let operation = self.volatile.operation.take();
        if !cashier_may_retry || !self.checked.config.cashier_retry_after_failure {
            return;
        }
        if let Some((
            Operation::Trade {
                command: command @ TerminalCommand::Sale { .. },
                retry_of: None,
                ..
            },
            _,
        )) = operation
        {
            let state = OperationState { skip_reversal: true, ..OperationState::default() };
            self.volatile.operation =
                Some((Operation::Trade { command, sent: false, retry_of: Some(stan) }, state));
        }
    }

    pub(super) fn on_reversal_answer(
        &mut self,
        now: Instant,
        answer: TradeResponse,
        mac: MacCheck,
    ) -> bool {
        let awaited = matches!(
            self.volatile.outstanding,
            Some(Outstanding { awaiting: Awaiting::Reversal { stan }, .. }) if stan == answer.stan
        );
        if !awaited {
            return self.stale(now, AnswerKind::Reversal, answer.stan);
        }
        self.volatile.outstanding = None;
        let attempt = self.persistent.reversal.as_ref().map_or(0, |r| r.tries);
        let code = answer.response_code;
        let only_00 = self.checked.config.mutation
            == super::config::TerminalMutation::ReversalDoneOn00Only
            && code != ResponseCode::APPROVED;
        if matches!(mac, MacCheck::Wrong { .. }) || !code.completes_reversal() || only_00 {
            self.emit(now, E::ReversalUnanswered { stan: answer.stan, attempt });
            if code.action() == TerminalAction::SignInAgain {
                self.require_sign_in(now, SignInReason::ReversalAnswered { code });
            }
            return true;
        }
        self.persistent.reversal = None;
        self.emit(now, E::ReversalAcknowledged { stan: answer.stan, code });
        true
    }
}
