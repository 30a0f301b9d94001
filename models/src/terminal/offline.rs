//! The offline queue: offline sales and e-cash trades waiting for upload
//! (0220, 60.1 = 30; 0320, 60.1 = 36). Each keeps the STAN it got when it was
//! made, so a repeated upload is a duplicate (94) at the host, not a second
//! debit. An entry leaves the queue once the host answered it; the journal
//! keeps the verdict.
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
        assert!(
            request.kind().is_offline_upload(),
            "{} is not an offline trade",
            request.kind().label()
        );
        self.trades.push_expect(request, "offline");
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

    /// The next trade to upload.
    pub fn front(&self) -> Option<&FinancialRequest> {
        self.trades.front()
    }

    /// Removes the trade with `stan` once the host has answered it.
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
            return self.emit(now, E::Refused { why: "offline queue full: upload first".into() });
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

    pub(super) fn on_upload_answer(
        &mut self,
        now: Instant,
        answer: TradeResponse,
        mac: MacCheck,
    ) -> bool {
        // The whole correspondence, not the STAN alone: a host answering a
        // request that was damaged on the line (its merchant id flipped, say)
        // answers what it read, and a refusal of that is not this upload's
        // verdict. Unmatched, the upload stays queued and goes again.
        let awaited = matches!(
            &self.volatile.outstanding,
            Some(Outstanding { awaiting: Awaiting::OfflineUpload { request }, .. })
                if answer.answers(request)
        );
        if !awaited {
            return self.stale(now, "upload answer", answer.stan);
        }
        let code = answer.response_code;
        let stan = answer.stan;
        let authentic = !matches!(mac, MacCheck::Wrong { .. })
            && (!code.is_approved() || mac == MacCheck::Valid);
        let session_lost = code.action() == TerminalAction::SignInAgain;
        if !authentic && !session_lost {
            let why = format!("upload answer for stan {stan} fails its mac");
            self.emit(now, E::FrameDropped { why });
            return false;
        }
        self.volatile.outstanding = None;
        // The host did not look at the trade (no session, or busy), or cannot
        // say what became of it (98: the issuer did not answer the network,
        // which may well have debited): keep it queued and upload it again —
        // a copy the issuer already holds is answered 94, which counts as
        // uploaded — rather than list a sale the cardholder did make as failed.
        if code.leaves_upload_pending() {
            self.emit(now, E::OfflineUploadDeferred { stan, code: Some(code) });
            if let Some((_, state)) = self.volatile.operation.as_mut() {
                state.uploads_stalled = true;
            }
            if session_lost {
                self.require_sign_in(now, format!("host answered {code} to an upload"));
            }
            return true;
        }
        self.persistent.offline.remove(stan);
        let duplicate_taken = self.checked.config.mutation
            != super::config::TerminalMutation::UploadDuplicateAsFailed;
        let taken = code.is_approved() || (code == ResponseCode::DUPLICATE && duplicate_taken);
        let status =
            if taken { EntryStatus::OfflineUploaded } else { EntryStatus::OfflineFailed(code) };
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
}
