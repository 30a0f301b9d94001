//! The terminal's state machine: commands start operations, an operation
//! sends one message at a time (a pending reversal first, then offline
//! uploads, then its own), answers and deadlines move it on.
//!
//! One message is in flight at a time, as on a real dial-up or GPRS POS:
//! `Volatile::outstanding` holds it with its deadline. Everything that must
//! survive a power cut is written to `Persistent` before the frame that
//! depends on it leaves.
//!
//! ```
//! use possim_models::actor::Actor;
//! use possim_models::terminal::{Terminal, TerminalCommand, TerminalConfig, TerminalEventKind};
//! use possim_models::time::Instant;
//! let mut terminal = Terminal::new(TerminalConfig::default(), Instant::ZERO).unwrap();
//! let sign_in = |t: &mut Terminal| {
//!     t.handle_command(Instant::ZERO, TerminalCommand::OperatorSignIn {
//!         operator: "01".into(),
//!         password: "0000".into(),
//!     });
//!     t.handle_command(Instant::ZERO, TerminalCommand::SignIn);
//! };
//! sign_in(&mut terminal);
//! // No 0810 comes: at the deadline the sign-in fails (nothing to reverse).
//! let deadline = terminal.poll_timeout().unwrap();
//! terminal.handle_timeout(deadline);
//! let failed = std::iter::from_fn(|| terminal.poll_event())
//!     .any(|event| matches!(event.kind, TerminalEventKind::SignInFailed { .. }));
//! assert!(failed);
//! assert!(terminal.persistent().reversal().is_none());
//! ```

use crate::actor::{Actor, Node, Transmit};
use crate::bounded::BoundedQueue;
use crate::iso8583::cup::CupMessage;
use crate::iso8583::frame::ProcessingRequirement;
use crate::iso8583::keys::WorkingKeys;
use crate::iso8583::mac::{MacCheck, MacKey};
use crate::iso8583::network::{NetworkCode, NetworkRequest, NetworkResponse};
use crate::iso8583::pin::encrypt_pin;
use crate::iso8583::response_code::{ResponseCode, TerminalAction};
use crate::iso8583::trade::{
    CardRead, FinancialRequest, ReversalRequest, Trade, TradeKind, TradeResponse,
};
use crate::iso8583::values::{Rrn, Stan};
use crate::iso8583::Tpdu;
use crate::time::Instant;
use crate::wire::{receive, seal, Inbound, InboundError};

use super::commands::TerminalCommand;
use super::config::{
    Checked, OfflineUpload, ReversalPersist, TerminalConfig, TerminalConfigError, TerminalMutation,
};
use super::events::{TerminalEvent, TerminalEventKind as E};
use super::journal::JournalEntry;
use super::persistent::Persistent;
use super::printer::SlipKind;
use super::reasons::{
    AnswerKind, FailureReason, FrameDropReason, Recovery, RefusalReason, SignInReason,
};
use super::reversal::{PendingReversal, ReversalReason};
use super::volatile::{Awaiting, Operation, OperationState, Outstanding, Volatile};

/// Frames waiting for the shell to take them. One message is in flight at a
/// time, so only a shell that never polls can fill this.
pub const OUTBOX_MAX: usize = 16;
/// Events waiting for the shell; one input makes a few dozen at most.
pub const EVENTS_MAX: usize = 1024;
/// Steps one input may take before an operation must have sent or ended.
const DRIVE_STEPS_MAX: usize = 64;

/// TPDU of every frame a terminal sends (docs/DESIGN.md, "Actors").
const TPDU_TO_SWITCH: Tpdu = Tpdu::new(0x0003, 0x0000);

/// The POS terminal. See the module docs of [`crate::terminal`].
#[derive(Debug)]
pub struct Terminal {
    pub(super) checked: Checked,
    pub(super) persistent: Persistent,
    pub(super) volatile: Volatile,
    pub(super) powered: bool,
    outbox: BoundedQueue<Transmit>,
    events: BoundedQueue<TerminalEvent>,
}

pub(super) enum Step {
    /// A frame left; wait for its answer.
    Sent,
    /// Something changed; look again.
    Again,
}

impl Terminal {
    /// A terminal fresh from the factory, powered on at `now`.
    pub fn new(config: TerminalConfig, now: Instant) -> Result<Terminal, TerminalConfigError> {
        let persistent = Persistent::new(&config);
        Terminal::restart(config, persistent, now)
    }

    /// Powers a terminal on over an existing store and runs recovery.
    pub fn restart(
        config: TerminalConfig,
        persistent: Persistent,
        now: Instant,
    ) -> Result<Terminal, TerminalConfigError> {
        let checked = config.check()?;
        let mut terminal = Terminal {
            checked,
            persistent,
            volatile: Volatile::default(),
            powered: false,
            outbox: BoundedQueue::new(OUTBOX_MAX),
            events: BoundedQueue::new(EVENTS_MAX),
        };
        terminal.power_on(now);
        Ok(terminal)
    }

    pub fn config(&self) -> &TerminalConfig {
        &self.checked.config
    }

    pub fn persistent(&self) -> &Persistent {
        &self.persistent
    }

    pub fn into_persistent(self) -> Persistent {
        self.persistent
    }

    pub fn volatile(&self) -> &Volatile {
        &self.volatile
    }

    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Whether an operation is in progress (a command now would be refused).
    pub fn is_busy(&self) -> bool {
        self.volatile.operation.is_some()
    }

    /// Cuts the power: everything volatile is gone; frames already handed to
    /// the shell have left.
    pub fn power_off(&mut self, now: Instant) {
        if !self.powered {
            return;
        }
        self.powered = false;
        self.volatile = Volatile::default();
        self.emit(now, E::PowerLost);
    }

    /// The device is swapped for a new one (broken, stolen, burnt). Unlike a
    /// power cut nothing survives: journal, offline queue, pending reversal,
    /// keys. The acquirer's terminal management loads the replacement with
    /// the same terminal id, the next batch number and the STAN counter, so
    /// the host never sees a number reused; the cashier must sign in. What
    /// was lost is in the event: offline trades not yet uploaded are money
    /// the merchant will never be paid, which is why uploading them early
    /// matters.
    pub fn replace(&mut self, now: Instant) {
        let old = &self.persistent;
        let batch = old.batch.next();
        let event = E::Replaced {
            batch,
            offline_lost: old.offline.len(),
            journal_lost: old.journal.len(),
            reversal_lost: old.reversal.is_some(),
        };
        let mut fresh = Persistent::new(&self.checked.config);
        fresh.batch = batch;
        fresh.next_stan = old.next_stan;
        self.power_off(now);
        self.persistent = fresh;
        self.emit(now, event);
        self.power_on(now);
    }

    /// Powers on and recovers from the persistent store.
    pub fn power_on(&mut self, now: Instant) {
        if self.powered {
            return;
        }
        if self.persistent.battery.is_empty() {
            self.emit(now, E::Refused { why: RefusalReason::BatteryEmpty });
            return;
        }
        self.powered = true;
        self.volatile = Volatile::default();
        if self.checked.config.mutation == TerminalMutation::StanCounterVolatile {
            self.persistent.next_stan =
                Stan::new(self.checked.config.stan_start).unwrap_or(self.persistent.next_stan);
        }
        self.emit(now, E::PowerOn);
        self.recover(now);
        self.finish(now);
    }

    fn recover(&mut self, now: Instant) {
        // A reversal stored but not armed belongs to a request whose answer
        // was still awaited when the power went: that answer is lost for good.
        let mut armed = None;
        if let Some(reversal) = self.persistent.reversal.as_mut() {
            if reversal.armed.is_none() {
                reversal.arm(ReversalReason::Timeout);
                armed = Some(reversal.stan());
            }
        }
        if let Some(stan) = armed {
            self.emit(now, E::ReversalArmed { stan, reason: ReversalReason::Timeout });
            self.emit(now, E::Recovered { what: Recovery::ReversalArmed { stan } });
        }
        if self.persistent.tamper_locked {
            self.emit(now, E::Recovered { what: Recovery::TamperLockHolds });
        }
        if let Some(progress) = self.persistent.settlement {
            let batch = progress.batch;
            self.emit(now, E::Recovered { what: Recovery::SettlementResumes { batch } });
            if self.persistent.signed_in() && !self.persistent.tamper_locked {
                self.volatile.operation = Some((Operation::Settle, OperationState::default()));
            } else {
                let why = SignInReason::SettlementResumesAfterSignIn;
                self.emit(now, E::SignInRequired { why });
            }
        }
    }

    pub(super) fn emit(&mut self, at: Instant, kind: E) {
        let event = TerminalEvent { at, terminal: self.checked.config.terminal_id, kind };
        self.events.push_expect(event, "terminal event");
    }

    pub(super) fn mac_key(&self) -> Option<MacKey> {
        self.persistent.keys.map(|keys| MacKey::new(keys.mak.first_half()))
    }

    /// The MAC key of the current session, if signed in: a live shell seals
    /// with it the messages it sends in the terminal's name (a reversal of a
    /// trade never sent, to see what the host answers).
    pub fn session_mac_key(&self) -> Option<MacKey> {
        self.mac_key()
    }

    pub(super) fn keys(&self) -> Option<WorkingKeys> {
        self.persistent.keys
    }

    pub(super) fn send(&mut self, now: Instant, message: &CupMessage) {
        let bytes = seal(message, TPDU_TO_SWITCH, self.mac_key().as_ref());
        let mti = message.to_message().mti();
        self.outbox.push_expect(Transmit { to: Node::Switch, bytes }, "terminal outbox");
        self.emit(now, E::RequestSent { stan: message.stan(), mti });
        let drain = self.checked.config.battery_drain_per_message_permille;
        self.persistent.battery.drain(drain);
    }

    pub(super) fn await_answer(&mut self, now: Instant, awaiting: Awaiting) {
        assert!(self.volatile.outstanding.is_none(), "one message in flight at a time");
        let deadline =
            now + std::time::Duration::from_millis(self.checked.config.response_timeout_ms);
        self.volatile.outstanding = Some(Outstanding { awaiting, deadline });
    }

    /// Ends every input: run the operation on, then let an empty battery
    /// switch the terminal off wherever it got to.
    pub(super) fn finish(&mut self, now: Instant) {
        self.drive(now);
        if self.powered && self.persistent.battery.is_empty() {
            self.power_off(now);
        }
    }

    fn drive(&mut self, now: Instant) {
        for _ in 0..DRIVE_STEPS_MAX {
            if !self.powered
                || self.volatile.outstanding.is_some()
                || self.volatile.operation.is_none()
            {
                return;
            }
            if let Step::Sent = self.step(now) {
                return;
            }
        }
        panic!("terminal operation made no progress in {DRIVE_STEPS_MAX} steps");
    }

    pub(super) fn end_operation(&mut self) {
        self.volatile.operation = None;
    }

    pub(super) fn fail_operation(&mut self, now: Instant, why: FailureReason) {
        let Some((operation, _)) = self.volatile.operation.take() else { return };
        let kind = match operation {
            Operation::Settle => {
                let batch = self.persistent.settlement.map_or(self.persistent.batch, |p| p.batch);
                E::SettlementFailed { batch, reason: why }
            }
            Operation::SignIn => E::SignInFailed { why },
            _ => E::Refused { why: RefusalReason::Failed(why) },
        };
        self.emit(now, kind);
    }

    fn step(&mut self, now: Instant) -> Step {
        let (operation, state) = self.volatile.operation.clone().expect("drive checked");
        if operation.flushes() {
            if !self.persistent.signed_in() {
                self.fail_operation(now, FailureReason::SignInFirst);
                return Step::Again;
            }
            if let Some(step) = self.flush_reversal(now, &state) {
                return step;
            }
            let settle_first = self.checked.config.mutation
                == TerminalMutation::SettleBeforeOfflineUpload
                && matches!(operation, Operation::Settle);
            let upload = match operation {
                _ if settle_first => false,
                Operation::Settle | Operation::SendPending => true,
                _ => self.checked.config.offline_upload == OfflineUpload::WithNextOnline,
            };
            if upload && !state.uploads_stalled {
                if let Some(request) = self.persistent.offline.front().cloned() {
                    self.send(now, &CupMessage::Trade(request.clone()));
                    self.await_answer(now, Awaiting::Advice { request });
                    return Step::Sent;
                }
            }
        }
        match operation {
            Operation::SignIn => {
                let code = NetworkCode::SignIn(self.checked.config.key_mode);
                self.send_network(now, code);
                Step::Sent
            }
            Operation::SignOff => {
                self.send_network(now, NetworkCode::SignOff);
                Step::Sent
            }
            Operation::Echo => {
                self.send_network(now, NetworkCode::Echo);
                Step::Sent
            }
            Operation::SendPending => {
                self.end_operation();
                Step::Again
            }
            Operation::Trade { command, sent, retry_of } => {
                assert!(!sent, "a sent trade ends with its answer or its deadline");
                self.send_trade(now, command, retry_of, state)
            }
            Operation::Settle => self.settlement_step(now),
        }
    }

    fn send_network(&mut self, now: Instant, code: NetworkCode) {
        let stan = self.persistent.take_stan();
        let request = NetworkRequest {
            code,
            stan,
            batch: self.persistent.batch,
            terminal: self.checked.config.terminal_id,
            merchant: self.checked.config.merchant_id,
            operator: matches!(code, NetworkCode::SignIn(_)).then_some(self.checked.operator),
        };
        self.send(now, &CupMessage::Network(request));
        self.await_answer(now, Awaiting::Network { code, stan });
    }

    pub(super) fn request(
        &self,
        trade: Trade,
        card: CardRead,
        pin_block: Option<[u8; 8]>,
        stan: Stan,
    ) -> FinancialRequest {
        FinancialRequest {
            trade,
            card,
            pin_block,
            stan,
            batch: self.persistent.batch,
            terminal: self.checked.config.terminal_id,
            merchant: self.checked.config.merchant_id,
        }
    }

    /// The trade and card of an online trade command, or why it cannot go.
    fn trade_of(
        &self,
        command: &TerminalCommand,
    ) -> Result<(Trade, CardRead, Option<String>), FailureReason> {
        Ok(match command.clone() {
            TerminalCommand::BalanceInquiry { card, pin } => (Trade::BalanceInquiry, card, pin),
            TerminalCommand::Sale { card, amount, pin } => (Trade::Sale { amount }, card, pin),
            TerminalCommand::PreAuth { card, amount, pin } => {
                (Trade::PreAuth { amount }, card, pin)
            }
            TerminalCommand::Completion { card, amount, original_auth, original_date, pin } => {
                (Trade::Completion { amount, original_auth, original_date }, card, pin)
            }
            TerminalCommand::PreAuthCancel { card, amount, original_auth, original_date, pin } => {
                (Trade::PreAuthCancel { amount, original_auth, original_date }, card, pin)
            }
            TerminalCommand::CompletionAdvice { card, amount, original_auth, original_date } => {
                (Trade::CompletionAdvice { amount, original_auth, original_date }, card, None)
            }
            TerminalCommand::Refund { card, amount, original_rrn, original_date } => {
                (Trade::Refund { amount, original_rrn, original_date }, card, None)
            }
            TerminalCommand::Void { original_batch, original_stan, amount, pin } => {
                let original = self
                    .persistent
                    .journal
                    .find(original_stan)
                    .ok_or(FailureReason::NoSuchTrade { stan: original_stan })?;
                // A host that sent no RRN gets zeros: the STAN in field 61 identifies the original.
                let original_rrn =
                    original.rrn.unwrap_or_else(|| Rrn::new("000000000000").expect("valid"));
                let original_auth = original.auth_code;
                // A completion is voided by a completion void (F25 06, 60.1
                // 21), which the issuer looks for among completions only.
                let completion =
                    matches!(original.kind, TradeKind::Completion | TradeKind::CompletionAdvice)
                        && self.checked.config.mutation
                            != TerminalMutation::CompletionVoidAsSaleVoid;
                let trade = Trade::void_of(
                    completion,
                    amount,
                    original_rrn,
                    original_auth,
                    original_batch,
                    original_stan,
                );
                (trade, CardRead::swiped(original.pan), pin)
            }
            other => unreachable!("not an online trade: {other:?}"),
        })
    }

    fn send_trade(
        &mut self,
        now: Instant,
        command: TerminalCommand,
        retry_of: Option<Stan>,
        state: OperationState,
    ) -> Step {
        let keys = self.keys().expect("signed in checked");
        let (trade, card, pin) = match self.trade_of(&command) {
            Ok(parts) => parts,
            Err(why) => {
                self.fail_operation(now, why);
                return Step::Again;
            }
        };
        let pin_block = match pin.as_deref().map(|pin| encrypt_pin(&keys.pik, &card.pan, pin)) {
            None => None,
            Some(Ok(block)) => Some(block),
            Some(Err(error)) => {
                self.fail_operation(now, FailureReason::PinBlock(error));
                return Step::Again;
            }
        };
        let stan = self.persistent.take_stan();
        let request = self.request(trade, card, pin_block, stan);
        let kind = request.kind();
        self.emit(
            now,
            E::TradeStarted { stan, kind, amount: request.trade.amount(), pan: request.card.pan },
        );
        let reverse_all = self.checked.config.mutation == TerminalMutation::ReverseEveryTrade;
        if kind.is_advice() && !reverse_all {
            return self.send_refund_advice(now, request, command, state);
        }
        let mut volatile_reversal = None;
        // The cashier's retry under the unsafe policy finds the store taken by
        // the first sale's reversal: the terminal holds one.
        let store_free = self.persistent.reversal.is_none();
        let forgets = kind == TradeKind::Completion
            && self.checked.config.mutation == TerminalMutation::CompletionNotReversed;
        let reversed = (kind.is_reversible() || reverse_all) && store_free && !forgets;
        if reversed {
            let reversal = ReversalRequest::new_unchecked(&request, ReversalReason::Timeout.code());
            match self.checked.config.reversal_persist {
                ReversalPersist::BeforeSend => {
                    self.persistent.reversal = Some(PendingReversal::stored(reversal));
                    self.emit(now, E::ReversalStored { stan });
                }
                ReversalPersist::AfterSend => volatile_reversal = Some(reversal),
            }
        }
        // The rule the safe policy exists for: a power cut from here on
        // finds the reversal in the store.
        let before_send = self.checked.config.reversal_persist == ReversalPersist::BeforeSend;
        assert!(
            !(reversed && before_send)
                || self.persistent.reversal.as_ref().is_some_and(|r| r.stan() == stan),
            "the reversal of stan {stan} is stored before its request leaves"
        );
        self.send(now, &CupMessage::Trade(request.clone()));
        self.await_answer(now, Awaiting::Trade { request, reversal: volatile_reversal });
        self.volatile.operation = Some((Operation::Trade { command, sent: true, retry_of }, state));
        Step::Sent
    }

    pub(super) fn require_sign_in(&mut self, now: Instant, why: SignInReason) {
        if self.checked.config.mutation == TerminalMutation::IgnoreSignInAgain {
            return;
        }
        self.persistent.signed_in = false;
        self.emit(now, E::SignInRequired { why });
    }

    pub(super) fn on_garbled(&mut self, now: Instant, error: &InboundError) {
        let trade_in_flight = matches!(
            self.volatile.outstanding,
            Some(Outstanding { awaiting: Awaiting::Trade { .. }, .. })
        );
        if !trade_in_flight {
            return self
                .emit(now, E::FrameDropped { why: FrameDropReason::Unreadable(error.clone()) });
        }
        let Some(Outstanding { awaiting: Awaiting::Trade { request, reversal }, .. }) =
            self.volatile.outstanding.take()
        else {
            unreachable!("checked above")
        };
        let why = FailureReason::UnreadableAnswer(error.clone());
        self.trade_unusable(now, &request, reversal, ReversalReason::Garbled, why, true);
    }

    fn on_frame(&mut self, now: Instant, inbound: Inbound) {
        let ours = inbound.message.terminal() == self.checked.config.terminal_id;
        if !ours {
            return self.emit(
                now,
                E::FrameDropped {
                    why: FrameDropReason::ForAnotherTerminal {
                        terminal: inbound.message.terminal(),
                    },
                },
            );
        }
        let sign_in_again = inbound.frame.header.processing == ProcessingRequirement::SIGN_IN_AGAIN;
        let used = match inbound.message {
            CupMessage::NetworkAnswer(answer) => self.on_network_answer(now, answer),
            CupMessage::TradeAnswer(answer) if answer.reversal => {
                self.on_reversal_answer(now, answer, inbound.mac)
            }
            // A refund under the `reverse_every_trade` mutation is sent as
            // a plain trade; every other advice awaits its acknowledgement.
            CupMessage::TradeAnswer(answer)
                if answer.kind.is_advice() && !self.awaits_trade_answer() =>
            {
                self.on_advice_answer(now, answer, inbound.mac)
            }
            CupMessage::TradeAnswer(answer) => self.on_trade_answer(now, answer, inbound.mac),
            CupMessage::SettlementAnswer(answer) => self.on_settlement_answer(now, answer),
            CupMessage::BatchUploadAnswer(answer) => self.on_batch_upload_answer(now, answer),
            other => {
                let mti = other.to_message().mti();
                self.emit(now, E::FrameDropped { why: FrameDropReason::NotAsked { mti } });
                false
            }
        };
        if used && sign_in_again && self.persistent.signed_in {
            self.require_sign_in(now, SignInReason::HeaderAsks);
        }
    }

    fn awaits_trade_answer(&self) -> bool {
        matches!(
            self.volatile.outstanding,
            Some(Outstanding { awaiting: Awaiting::Trade { .. }, .. })
        )
    }

    pub(super) fn stale(&mut self, now: Instant, answer: AnswerKind, stan: Stan) -> bool {
        self.emit(now, E::FrameDropped { why: FrameDropReason::NotAwaited { answer, stan } });
        false
    }

    fn on_network_answer(&mut self, now: Instant, answer: NetworkResponse) -> bool {
        let awaited = matches!(
            self.volatile.outstanding,
            Some(Outstanding { awaiting: Awaiting::Network { code, stan }, .. }) if code == answer.code && stan == answer.stan
        );
        if !awaited {
            return self.stale(now, AnswerKind::Network, answer.stan);
        }
        self.volatile.outstanding = None;
        self.end_operation();
        match answer.code {
            NetworkCode::SignIn(mode) => {
                self.persistent.signed_in = false;
                if !answer.response_code.is_approved() {
                    let why = FailureReason::HostDeclined { code: answer.response_code };
                    self.emit(now, E::SignInFailed { why });
                    return true;
                }
                let Some(field_62) = answer.keys else {
                    self.emit(now, E::SignInFailed { why: FailureReason::NoWorkingKeys });
                    return true;
                };
                let unwrap = if self.checked.config.mutation == TerminalMutation::AcceptBadKeyCheck
                {
                    WorkingKeys::unwrap_unverified
                } else {
                    WorkingKeys::unwrap
                };
                match unwrap(&self.checked.tmk, mode, &field_62) {
                    Ok(keys) => {
                        self.persistent.keys = Some(keys);
                        self.persistent.signed_in = true;
                        self.persistent.batch = answer.batch;
                        self.emit(now, E::SignedIn { batch: answer.batch });
                    }
                    Err(error) => {
                        self.emit(now, E::SignInFailed { why: FailureReason::Keys(error) })
                    }
                }
            }
            NetworkCode::SignOff => {
                let keeps = self.checked.config.mutation
                    == super::config::TerminalMutation::SignOffKeepsSession;
                self.persistent.signed_in = keeps;
                self.emit(now, E::SignedOff);
            }
            NetworkCode::Echo => self.emit(now, E::EchoAnswered),
        }
        true
    }

    fn on_trade_answer(&mut self, now: Instant, answer: TradeResponse, mac: MacCheck) -> bool {
        let Some(Outstanding { awaiting: Awaiting::Trade { request, .. }, .. }) =
            &self.volatile.outstanding
        else {
            return self.stale(now, AnswerKind::Trade, answer.stan);
        };
        if request.stan != answer.stan {
            return self.stale(now, AnswerKind::Trade, answer.stan);
        }
        let Some(Outstanding { awaiting: Awaiting::Trade { request, reversal }, deadline }) =
            self.volatile.outstanding.take()
        else {
            unreachable!("checked above")
        };
        if !answer.answers(&request) {
            let why = FailureReason::AnswerDoesNotMatch;
            self.trade_unusable(now, &request, reversal, ReversalReason::Garbled, why, true);
            return true;
        }
        let code = answer.response_code;
        let mac_fails = match mac {
            MacCheck::Valid => false,
            MacCheck::Missing => code.is_approved(),
            MacCheck::Wrong { .. } => true,
        };
        if mac_fails {
            let why = FailureReason::AnswerMacFails;
            self.trade_unusable(now, &request, reversal, ReversalReason::BadMac, why, true);
            // Unauthenticated, but asking for a sign-in is the safe direction:
            // a host holding other keys answers every MAC'd message this way.
            if code.action() == TerminalAction::SignInAgain {
                self.require_sign_in(now, SignInReason::AnsweredUnderAnotherKey { code });
            }
            return true;
        }
        // 94 says the host holds a message with this key and its outcome
        // stands; that outcome was in the answer this terminal is still
        // waiting for. Nothing is settled: it waits on, and if that answer
        // never comes, the timeout reverses the trade (98) as for silence.
        let verdict_missing = code == ResponseCode::DUPLICATE
            && request.kind().is_reversible()
            && self.checked.config.mutation != TerminalMutation::TakeDuplicateAsVerdict;
        if verdict_missing {
            let stan = request.stan;
            self.volatile.outstanding =
                Some(Outstanding { awaiting: Awaiting::Trade { request, reversal }, deadline });
            self.emit(
                now,
                E::FrameDropped { why: FrameDropReason::DuplicateIsNotVerdict { stan } },
            );
            return false;
        }
        let taken_as_no_answer = match self.checked.config.mutation {
            TerminalMutation::ReverseRetryLaterCodes => code.action() == TerminalAction::RetryLater,
            TerminalMutation::ReverseDeclines => {
                matches!(code.action(), TerminalAction::Decline | TerminalAction::DeclineKeepCard)
            }
            _ => false,
        };
        if taken_as_no_answer {
            let why = FailureReason::TakenAsNoAnswer { code };
            self.trade_unusable(now, &request, reversal, ReversalReason::Garbled, why, true);
            return true;
        }
        // A checked answer, even a decline, settles the trade.
        let stan = request.stan;
        if self.persistent.reversal.as_ref().is_some_and(|r| r.stan() == stan && r.armed.is_none())
        {
            self.persistent.reversal = None;
            self.emit(now, E::ReversalCleared { stan });
        }
        let approved = code.action() == TerminalAction::Approve;
        self.emit(now, E::TradeAnswered { stan, kind: request.kind(), code, approved });
        self.end_operation();
        if approved {
            self.record_approval(now, &request, &answer);
        }
        if code.action() == TerminalAction::SignInAgain {
            self.require_sign_in(now, SignInReason::TradeAnswered { code });
        }
        true
    }

    pub(super) fn record_approval(
        &mut self,
        now: Instant,
        request: &FinancialRequest,
        answer: &TradeResponse,
    ) {
        let kind = request.kind();
        if kind == TradeKind::BalanceInquiry {
            return;
        }
        let amount = request.trade.amount().expect("money-moving trades carry an amount");
        let mut entry =
            JournalEntry::approved(kind, request.stan, request.batch, amount, request.card.pan);
        entry.rrn = answer.rrn;
        entry.auth_code = answer.auth_code;
        if self.persistent.journal.is_full()
            && self.checked.config.mutation == TerminalMutation::JournalOverwritesOldest
        {
            self.persistent.journal.drop_oldest();
        }
        self.persistent.journal.push(entry);
        if let Trade::Void { original_stan, .. } | Trade::CompletionVoid { original_stan, .. } =
            request.trade
        {
            if let Some(original) = self.persistent.journal.find_mut(original_stan) {
                original.voided = true;
            }
        }
        self.persistent.last_approved = Some(request.stan);
        self.print(now, SlipKind::Approval, Some(request.stan), Vec::new());
    }

    fn on_deadline(&mut self, now: Instant, outstanding: Outstanding) {
        match outstanding.awaiting {
            Awaiting::Trade { request, reversal } => {
                self.emit(now, E::TradeTimedOut { stan: request.stan });
                let why = FailureReason::NoAnswerInTime;
                self.trade_unusable(now, &request, reversal, ReversalReason::Timeout, why, true);
            }
            Awaiting::Reversal { stan } => {
                let attempt = self.persistent.reversal.as_ref().map_or(0, |r| r.tries);
                self.emit(now, E::ReversalUnanswered { stan, attempt });
            }
            Awaiting::Advice { request } => self.advice_unanswered(now, &request, None),
            Awaiting::Network { code, .. } => {
                let why = FailureReason::NoAnswerInTime;
                let kind = match code {
                    NetworkCode::SignIn(_) => E::SignInFailed { why },
                    NetworkCode::SignOff => E::Refused { why: RefusalReason::SignOff(why) },
                    NetworkCode::Echo => E::Refused { why: RefusalReason::Echo(why) },
                };
                self.end_operation();
                self.emit(now, kind);
            }
            Awaiting::Settlement { .. }
            | Awaiting::BatchUpload { .. }
            | Awaiting::BatchUploadEnd { .. } => {
                self.fail_operation(now, FailureReason::SettlementUnanswered);
            }
        }
    }
}

impl Actor for Terminal {
    type Command = TerminalCommand;
    type Event = TerminalEvent;

    fn handle_message(&mut self, now: Instant, from: Node, bytes: &[u8]) {
        if !self.powered {
            return;
        }
        if from != Node::Switch {
            self.emit(now, E::FrameDropped { why: FrameDropReason::NotFromSwitch { from } });
            return;
        }
        match receive(bytes, self.mac_key().as_ref()) {
            Ok(inbound) => self.on_frame(now, inbound),
            Err(error) => self.on_garbled(now, &error),
        }
        self.finish(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if !self.powered {
            return;
        }
        let due = self.volatile.outstanding.as_ref().is_some_and(|o| o.deadline <= now);
        if due {
            let outstanding = self.volatile.outstanding.take().expect("checked");
            self.on_deadline(now, outstanding);
        }
        self.finish(now);
    }

    fn handle_command(&mut self, now: Instant, command: TerminalCommand) {
        self.command(now, command);
        if self.powered {
            self.finish(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.powered {
            return None;
        }
        self.volatile.outstanding.as_ref().map(|o| o.deadline)
    }

    fn poll_event(&mut self) -> Option<TerminalEvent> {
        self.events.pop()
    }
}
