//! Refunds as advices (DOMAIN.md, Transactions: "CUP carries it as an 0220
//! advice: the terminal keeps it (persistently) and re-sends it, same STAN,
//! until the host acknowledges it (94 meaning 'already taken'); it is never
//! reversed").
//!
//! The refund is journaled (pending, not counted) and put in the advice
//! queue before its 0220 first leaves, so a power cut or a lost answer
//! cannot lose a credit the issuer may already have booked. Its verdict:
//!
//! - 00, or 94 ("I already hold it": the issuer answers 94 only to a copy
//!   of a refund it took, and the refusal again to a copy of one it
//!   refused): acknowledged — counted in the totals, approval slip printed
//!   then, not before: the slip says the cardholder will get the money,
//!   which only the host's acknowledgement makes true;
//! - a refusal (25 original not found, 64 amount over the original, 12, 14,
//!   ...): final — not counted, never sent again; refused on a later send
//!   (the cashier long gone), it is listed on the failures slip after
//!   settlement; refused at its first answer, the cashier sees the decline
//!   then, as for a sale, and nothing is journaled;
//! - no verdict (no answer, 77, 96, 98, 90–92, ...): it stays queued and
//!   goes again with the next online message, "send pending" or before the
//!   0500, like an offline upload; the cashier is told "advice pending".
//!
//! ```
//! use possim_models::iso8583::trade::TradeKind;
//! assert!(TradeKind::Refund.is_advice() && !TradeKind::Refund.is_reversible());
//! ```

use crate::iso8583::cup::CupMessage;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::{FinancialRequest, TradeResponse};
use crate::time::Instant;

use super::commands::TerminalCommand;
use super::config::TerminalMutation;
use super::events::TerminalEventKind as E;
use super::journal::{EntryStatus, JournalEntry};
use super::printer::SlipKind;
use super::reasons::FailureReason;
use super::terminal::{Step, Terminal};
use super::volatile::{Awaiting, Operation, OperationState};

impl Terminal {
    /// Stores the refund's advice (journal and queue, both persistent), then
    /// sends it for the first time.
    pub(super) fn send_refund_advice(
        &mut self,
        now: Instant,
        request: FinancialRequest,
        command: TerminalCommand,
        state: OperationState,
    ) -> Step {
        let kind = request.kind();
        assert!(kind.is_online_advice(), "{} is not sent as its own advice", kind.label());
        assert!(!self.persistent.offline.is_full(), "admission keeps room for the advice");
        let stan = request.stan;
        let amount = request.trade.amount().expect("a refund carries an amount");
        let mut entry = JournalEntry::approved(kind, stan, request.batch, amount, request.card.pan);
        entry.status = EntryStatus::AdvicePending;
        self.persistent.journal.push(entry);
        self.persistent.offline.push(request.clone());
        self.emit(now, E::AdviceStored { stan });
        self.send(now, &CupMessage::Trade(request.clone()));
        self.await_answer(now, Awaiting::Advice { request });
        self.volatile.operation =
            Some((Operation::Trade { command, sent: true, retry_of: None }, state));
        Step::Sent
    }

    /// Whether the operation in progress is a refund waiting on its own first
    /// send (a sent trade operation waits on nothing else).
    fn refund_operation_waits(&self) -> bool {
        matches!(self.volatile.operation, Some((Operation::Trade { sent: true, .. }, _)))
    }

    /// The host's verdict on a refund advice, first sent or sent again.
    pub(super) fn refund_verdict(
        &mut self,
        now: Instant,
        request: &FinancialRequest,
        answer: &TradeResponse,
        taken: bool,
    ) {
        let stan = request.stan;
        let code = answer.response_code;
        let own = self.refund_operation_waits();
        if !taken && own {
            // Refused at its first answer, the cashier still at the counter
            // sees the decline on screen, as for a declined sale: nothing to
            // journal or list.
            self.persistent.journal.remove(stan);
        } else if let Some(entry) = self.persistent.journal.find_mut(stan) {
            if taken {
                entry.status = EntryStatus::Approved;
                // A bare 94 carries no reference number; the first answer had it.
                entry.rrn = answer.rrn.or(entry.rrn);
                entry.auth_code = answer.auth_code.or(entry.auth_code);
            } else {
                entry.status = EntryStatus::AdviceRefused(code);
            }
        }
        let kind = request.kind();
        self.emit(now, E::TradeAnswered { stan, kind, code, approved: taken });
        if own {
            self.end_operation();
        }
        if taken {
            self.persistent.last_approved = Some(stan);
            self.print(now, SlipKind::Approval, Some(stan), Vec::new());
        }
    }

    /// A refund advice got no verdict: it stays queued (the cashier hears
    /// "advice pending"), unless the mutation forgets it as failed.
    pub(super) fn refund_unanswered(
        &mut self,
        now: Instant,
        request: &FinancialRequest,
        code: Option<ResponseCode>,
    ) {
        let stan = request.stan;
        let own = self.refund_operation_waits();
        if own && code.is_none() {
            self.emit(now, E::TradeTimedOut { stan });
        }
        if self.checked.config.mutation == TerminalMutation::RefundAdviceDroppedWhenUnanswered {
            self.persistent.offline.remove(stan);
            self.persistent.journal.remove(stan);
            let reason = match code {
                Some(code) => FailureReason::RefundRefused { code },
                None => FailureReason::RefundUnanswered,
            };
            self.emit(now, E::TradeFailed { stan, reason });
        } else {
            self.emit(now, E::AdviceDeferred { stan, code });
        }
        if own {
            self.end_operation();
        } else {
            self.stall_advices();
        }
    }
}
