//! The advice queue: what the terminal keeps in persistent storage and sends
//! again, same STAN, until the host acknowledges it — offline sales and
//! e-cash trades waiting for upload (0220, 60.1 = 30; 0320, 60.1 = 36) and
//! refunds (0220, 60.1 = 25; DOMAIN.md, Transactions: "CUP carries it as an
//! 0220 advice"). Each keeps the STAN it got when it was made, so a
//! repeated send is a duplicate (94) at the host, not a second debit or
//! credit. An entry leaves the queue once the host answered it with a
//! verdict; the journal keeps the verdict. Every advice is sent before any
//! 0500 leaves.
//!
//! ```
//! use possim_models::terminal::offline::OfflineQueue;
//! let queue = OfflineQueue::new(4);
//! assert!(queue.is_empty());
//! ```

use crate::bounded::BoundedQueue;
use crate::iso8583::trade::FinancialRequest;
use crate::iso8583::values::Stan;

use crate::iso8583::mac::MacCheck;
use crate::iso8583::response_code::{ResponseCode, TerminalAction};
use crate::iso8583::trade::{CardRead, Trade, TradeResponse};
use crate::time::Instant;

use super::events::TerminalEventKind as E;
use super::journal::{EntryStatus, JournalEntry};
use super::printer::SlipKind;
use super::reasons::{AnswerKind, FrameDropReason, RefusalReason, SignInReason};
use super::terminal::Terminal;
use super::volatile::{Awaiting, Outstanding};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineQueue {
    trades: BoundedQueue<FinancialRequest>,
}

impl OfflineQueue {
    pub fn new(offline_queue_max: usize) -> OfflineQueue {
        OfflineQueue { trades: BoundedQueue::new(offline_queue_max) }
    }

    pub fn push(&mut self, request: FinancialRequest) {
        assert!(request.kind().is_advice(), "{} is not an advice", request.kind().label());
        assert!(
            self.trades.iter().all(|queued| queued.stan != request.stan),
            "stan {} queued twice",
            request.stan
        );
        self.trades.push_expect(request, "advice");
    }

    pub fn is_full(&self) -> bool {
        self.trades.is_full()
    }

    pub fn is_empty(&self) -> bool {
        self.trades.is_empty()
    }

    pub fn len(&self) -> usize {
        self.trades.len()
    }

    /// The next advice to send.
    pub fn front(&self) -> Option<&FinancialRequest> {
        self.trades.front()
    }

    /// Removes the advice with `stan` once the host has answered it.
    pub fn remove(&mut self, stan: Stan) -> bool {
        let before = self.trades.len();
        self.trades.retain(|request| request.stan != stan);
        before != self.trades.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FinancialRequest> {
        self.trades.iter()
    }
}

/// Making offline trades and taking the host's verdict on their upload.
impl Terminal {
    pub(super) fn offline_trade(&mut self, now: Instant, trade: Trade, card: CardRead) {
        if self.persistent.offline.is_full() {
            self.emit(now, E::StorageFull);
            return self.emit(now, E::Refused { why: RefusalReason::OfflineQueueFull });
        }
        let stan = self.persistent.take_stan();
        let request = self.request(trade, card, None, stan);
        let kind = request.kind();
        let amount = request.trade.amount().expect("offline trades carry an amount");
        self.emit(now, E::TradeStarted { stan, kind, amount: Some(amount), pan: request.card.pan });
        let mut entry =
            JournalEntry::approved(kind, stan, self.persistent.batch, amount, request.card.pan);
        entry.status = EntryStatus::OfflinePending;
        self.persistent.journal.push(entry);
        self.persistent.offline.push(request);
        self.persistent.last_approved = Some(stan);
        self.emit(now, E::OfflineQueued { stan, kind, amount });
        self.print(now, SlipKind::Approval, Some(stan), Vec::new());
    }

    /// The host's answer to an advice: a verdict takes it off the queue, a
    /// code that says nothing about it leaves it queued.
    pub(super) fn on_advice_answer(
        &mut self,
        now: Instant,
        answer: TradeResponse,
        mac: MacCheck,
    ) -> bool {
        // The whole correspondence, not the STAN alone: a host answering a
        // request that was damaged on the line (its merchant id flipped, say)
        // answers what it read, and a refusal of that is not this advice's
        // verdict. Unmatched, the advice stays queued and goes again.
        let request = match &self.volatile.outstanding {
            Some(Outstanding { awaiting: Awaiting::Advice { request }, .. })
                if answer.answers(request) =>
            {
                request.clone()
            }
            _ => return self.stale(now, AnswerKind::Advice, answer.stan),
        };
        let code = answer.response_code;
        let stan = answer.stan;
        let authentic = !matches!(mac, MacCheck::Wrong { .. })
            && (!code.is_approved() || mac == MacCheck::Valid);
        let session_lost = code.action() == TerminalAction::SignInAgain;
        if !authentic && !session_lost {
            self.emit(now, E::FrameDropped { why: FrameDropReason::AdviceAnswerMacFails { stan } });
            return false;
        }
        self.volatile.outstanding = None;
        // The host did not look at the advice (no session, or busy), or
        // cannot say what became of it (98: the issuer did not answer the
        // network, which may well have booked it): keep it queued and send
        // it again — a copy the issuer already holds is answered 94, which
        // counts as taken — rather than list a trade that did happen as
        // failed.
        let reupload = self.checked.config.mutation
            == super::config::TerminalMutation::ReuploadNotReconciledForever
            && code == ResponseCode::OFFLINE_NOT_RECONCILED;
        if code.leaves_upload_pending() || reupload {
            self.advice_unanswered(now, &request, Some(code));
            if session_lost {
                self.require_sign_in(now, SignInReason::AdviceAnswered { code });
            }
            return true;
        }
        self.persistent.offline.remove(stan);
        let duplicate_taken = self.checked.config.mutation
            != super::config::TerminalMutation::UploadDuplicateAsFailed;
        let taken = code.is_approved() || (code == ResponseCode::DUPLICATE && duplicate_taken);
        if request.kind().is_online_advice() {
            self.refund_verdict(now, &request, &answer, taken);
            return true;
        }
        let status =
            if taken { EntryStatus::OfflineUploaded } else { EntryStatus::AdviceRefused(code) };
        if let Some(entry) = self.persistent.journal.find_mut(stan) {
            entry.status = status;
        }
        if taken {
            self.emit(now, E::OfflineUploaded { stan, code });
        } else {
            self.emit(now, E::OfflineUploadFailed { stan, code });
        }
        true
    }

    /// An advice got no verdict (`code` None: no answer in time): it stays
    /// queued, and no more advices go in this operation.
    pub(super) fn advice_unanswered(
        &mut self,
        now: Instant,
        request: &FinancialRequest,
        code: Option<ResponseCode>,
    ) {
        if request.kind().is_online_advice() {
            return self.refund_unanswered(now, request, code);
        }
        self.emit(now, E::OfflineUploadDeferred { stan: request.stan, code });
        self.stall_advices();
    }

    pub(super) fn stall_advices(&mut self) {
        if let Some((_, state)) = self.volatile.operation.as_mut() {
            state.uploads_stalled = true;
        }
    }
}
