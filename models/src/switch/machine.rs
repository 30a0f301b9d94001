//! The switch's state machine: what each inbound frame and each deadline does.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::actor::{Actor, LinkKeys, Node, TradeKey, Transmit};
use crate::bounded::BoundedQueue;
use crate::iso8583::cup::CupMessage;
use crate::iso8583::error::MessageError;
use crate::iso8583::frame::ProcessingRequirement;
use crate::iso8583::mac::MacKey;
use crate::iso8583::network::{NetworkCode, NetworkRequest, NetworkResponse};
use crate::iso8583::pin::translate_pin;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::settlement::{
    BatchUploadEnd, BatchUploadRequest, BatchUploadResponse, SettlementRequest, SettlementResponse,
    NETWORK_CODE_SETTLEMENT,
};
use crate::iso8583::subfields::{BatchTotals, SettlementResult};
use crate::iso8583::trade::{FinancialRequest, ReversalRequest, Side, TradeResponse};
use crate::iso8583::values::{BatchNo, MerchantId, Stan, TerminalId};
use crate::iso8583::{Frame, Header, Message, Mti, Tpdu};
use crate::time::Instant;
use crate::wire::{receive, seal, seal_with_header, InboundError, SOFTWARE_VERSION};

use super::config::{SwitchConfig, SwitchConfigError};
use super::events::{
    CloseReason, DropReason, SwitchCommand, SwitchEvent, SwitchEventKind, UnexpectedFrame,
};
use super::registry::{KeyGenerator, Outcome, Session, TerminalState, TradeRecord};
use super::store_forward::StoreForward;

/// The switch's address in TPDUs: terminals send to it at 0003.
pub const SWITCH_ADDRESS: u16 = 0x0003;
/// The network's address in TPDUs.
pub const NETWORK_ADDRESS: u16 = 0x0001;

/// What survives a crash: keys, the registry's state, batch records and the
/// store-and-forward queue. Requests in flight do not (see [`Switch::restart`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchPersistent {
    /// Blocks drawn from the key generator so far.
    pub key_counter: u64,
    pub terminals: BTreeMap<TerminalId, TerminalState>,
    pub store_forward: StoreForward,
    /// The day's clearing file so far: the trades of the batches the
    /// terminals settled (at most `clearing_max`).
    pub clearing: BTreeSet<TradeKey>,
}

/// A request forwarded upstream and not yet answered.
#[derive(Debug, Clone)]
struct Pending {
    deadline: Instant,
    /// The link the request came in on, and its TPDU swapped.
    reply_to: Node,
    tpdu: Tpdu,
    /// The request, without its PIN block.
    request: FinancialRequest,
}

impl Pending {
    fn reversible(&self) -> bool {
        self.request.kind().is_reversible()
    }
}

/// The frame a terminal message came in, for checking its MAC once the
/// terminal's key is known.
struct Received<'a> {
    bytes: &'a [u8],
    mac_span: Option<Range<usize>>,
    frame: &'a Frame,
}

impl Received<'_> {
    fn mac_valid(&self, key: &MacKey) -> bool {
        key.verify(self.bytes, self.mac_span.clone(), self.frame).is_valid()
    }
}

/// What the gate of every MAC'd message makes of a frame, asked without
/// acting on it: a front end before the switch (live mode's listener) binds
/// a terminal id to a connection only once a frame on it proves it holds
/// that terminal's working keys, and it must judge by the very check the
/// switch answers by, not by a second one that could disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// A trade or reversal that passes the gate: the terminal is registered
    /// for its merchant, signed in, and the MAC is right under its session.
    Authentic(TerminalId),
    /// A trade or reversal the gate refuses, with the code the switch
    /// answers (97 unregistered, 77 not signed in, A0 bad MAC).
    Refused(TerminalId, ResponseCode),
    /// A message that carries no MAC by protocol (sign-in, settlement,
    /// upload, echo), or not a message at all: it proves nothing.
    Unproven,
}

/// The acquirer switch. See the module documentation.
///
/// The shell drains `poll_transmit` and `poll_event` after every call: the
/// outboxes are bounded by what one call can produce (`transmits_max`,
/// `events_max`, checked against the other bounds by the configuration),
/// and overflowing them is a broken invariant, not back-pressure.
#[derive(Debug)]
pub struct Switch {
    config: SwitchConfig,
    link: LinkKeys,
    link_mac: MacKey,
    state: SwitchPersistent,
    pending: BTreeMap<TradeKey, Pending>,
    transmits: BoundedQueue<Transmit>,
    events: BoundedQueue<SwitchEvent>,
}

impl Switch {
    /// A switch on its first day: every registered terminal signed out, on
    /// batch 000001. Nothing is due at a cold start; `now` is taken so that
    /// all four actors start the same way (docs/DESIGN.md, "Starting an
    /// actor").
    pub fn new(config: SwitchConfig, now: Instant) -> Result<Switch, SwitchConfigError> {
        let _ = now;
        config.validate()?;
        let terminals = config
            .terminals
            .iter()
            .map(|entry| (entry.terminal_id, TerminalState::new(entry.merchant_id, entry.tmk.0)))
            .collect();
        let state = SwitchPersistent {
            key_counter: 0,
            terminals,
            store_forward: StoreForward::new(config.store_forward_max),
            clearing: BTreeSet::new(),
        };
        Ok(Switch::assemble(config, state))
    }

    fn assemble(config: SwitchConfig, state: SwitchPersistent) -> Switch {
        let link = config.network_keys.link_keys();
        Switch {
            link_mac: link.mac_key(),
            link,
            pending: BTreeMap::new(),
            transmits: BoundedQueue::new(config.transmits_max),
            events: BoundedQueue::new(config.events_max),
            config,
            state,
        }
    }

    /// What a crash keeps.
    pub fn persistent(&self) -> SwitchPersistent {
        self.state.clone()
    }

    /// Restarts from `persistent` under `config` (the registry may have
    /// changed: terminals no longer registered are forgotten, new ones start
    /// signed out).
    ///
    /// Requests that were in flight are lost with the crash, but their
    /// records say they were forwarded: a reversible one may have been
    /// approved upstream, so the switch reverses it itself (reason 98), as
    /// if it had timed out; a non-reversible one (refund, upload, inquiry) is
    /// forgotten, so that the terminal's retry is forwarded again rather than
    /// answered 94 (the issuer recognises a repeat by its key).
    pub fn restart(
        config: SwitchConfig,
        persistent: SwitchPersistent,
        now: Instant,
    ) -> Result<Switch, SwitchConfigError> {
        config.validate()?;
        let SwitchPersistent { key_counter, terminals: mut old, store_forward, clearing } =
            persistent;
        if clearing.len() > config.clearing_max {
            return Err(SwitchConfigError::ClearingOverBound {
                count: clearing.len(),
                max: config.clearing_max,
            });
        }
        let count = store_forward.len();
        let mut store_forward =
            store_forward.rebound(config.store_forward_max).map_err(|count| {
                SwitchConfigError::StoreForwardOverBound { count, max: config.store_forward_max }
            })?;
        store_forward.all_due(now);
        let mut terminals = BTreeMap::new();
        let mut reversals_queued = 0;
        for entry in &config.terminals {
            let mut terminal = match old.remove(&entry.terminal_id) {
                Some(mut known) => {
                    known.merchant = entry.merchant_id;
                    known.tmk = entry.tmk.0;
                    known
                }
                None => TerminalState::new(entry.merchant_id, entry.tmk.0),
            };
            let batches = std::iter::once(&mut terminal.current).chain(terminal.previous.as_mut());
            for batch in batches {
                batch.trades.retain(|_, record| {
                    record.outcome != Outcome::Pending || record.request.kind().is_reversible()
                });
                for record in
                    batch.trades.values_mut().filter(|record| record.outcome == Outcome::Pending)
                {
                    record.outcome = Outcome::TimedOut;
                    if record.reversed {
                        continue;
                    }
                    record.reversed = true;
                    let key = TradeKey::of(&record.request);
                    if store_forward.room() == 0 {
                        return Err(SwitchConfigError::StoreForwardOverBound {
                            count: count + reversals_queued + 1,
                            max: config.store_forward_max,
                        });
                    }
                    store_forward.push(
                        key,
                        ReversalRequest::new(&record.request, ResponseCode::ISSUER_TIMEOUT),
                        now,
                    );
                    reversals_queued += 1;
                }
            }
            terminals.insert(entry.terminal_id, terminal);
        }
        assert!(terminals.len() <= config.terminals_max);
        let state = SwitchPersistent { key_counter, terminals, store_forward, clearing };
        let mut switch = Switch::assemble(config, state);
        let store_forward = switch.state.store_forward.len();
        switch.event(now, SwitchEventKind::Recovered { reversals_queued, store_forward });
        Ok(switch)
    }

    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// The switch's view of one terminal.
    pub fn terminal(&self, terminal: &TerminalId) -> Option<&TerminalState> {
        self.state.terminals.get(terminal)
    }

    /// Reversals still waiting for the network.
    pub fn store_forward(&self) -> &StoreForward {
        &self.state.store_forward
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    fn event(&mut self, at: Instant, kind: SwitchEventKind) {
        self.events.push_expect(SwitchEvent { at, kind }, "switch event");
    }

    fn transmit(&mut self, to: Node, bytes: Vec<u8>) {
        self.transmits.push_expect(Transmit { to, bytes }, "switch transmit");
    }

    fn send(&mut self, to: Node, message: &CupMessage, tpdu: Tpdu, mac: Option<&MacKey>) {
        let bytes = seal(message, tpdu, mac);
        self.transmit(to, bytes);
    }

    fn upstream(&mut self, message: &CupMessage) {
        let bytes = seal(message, Tpdu::new(NETWORK_ADDRESS, SWITCH_ADDRESS), Some(&self.link_mac));
        self.transmit(Node::Network, bytes);
    }

    /// Free places in store-and-forward once every in-flight reversible
    /// trade has its place reserved: a timeout must always be able to queue
    /// its reversal, so a new reversible trade is admitted only with room.
    fn store_forward_room(&self) -> usize {
        let reserved = self.pending.values().filter(|pending| pending.reversible()).count();
        self.state.store_forward.room().saturating_sub(reserved)
    }

    /// Registered (97), signed in (77), MAC right (A0): the three gates of
    /// every financial message, in that order.
    fn gate(
        &self,
        terminal: &TerminalId,
        merchant: &MerchantId,
        received: &Received,
    ) -> Result<Session, ResponseCode> {
        let state = self
            .state
            .terminals
            .get(terminal)
            .filter(|state| state.merchant == *merchant)
            .ok_or(ResponseCode::TERMINAL_NOT_REGISTERED)?;
        let session = state.session.clone().ok_or(ResponseCode::SIGN_IN_TO_NETWORK)?;
        // The unsafe policy skips the check on everything but an 0200.
        let checked =
            !self.config.mac_checked_on_0200_only || received.frame.message.mti() == Mti::FINANCIAL;
        if checked && !received.mac_valid(&session.mac_key()) {
            return Err(ResponseCode::MAC_ERROR);
        }
        Ok(session)
    }

    /// The gate's verdict on `bytes`, a whole frame from a terminal, with
    /// nothing changed: see [`Authentication`].
    pub fn authenticate(&self, bytes: &[u8]) -> Authentication {
        let Ok((frame, mac_span)) = Frame::decode_with_mac_span(bytes) else {
            return Authentication::Unproven;
        };
        let Ok(message) = CupMessage::parse(&frame.message) else {
            return Authentication::Unproven;
        };
        let (terminal, merchant) = match &message {
            CupMessage::Trade(request) => (request.terminal, request.merchant),
            CupMessage::Reversal(reversal) => {
                (reversal.original().terminal, reversal.original().merchant)
            }
            _ => return Authentication::Unproven,
        };
        let received = Received { bytes, mac_span, frame: &frame };
        match self.gate(&terminal, &merchant, &received) {
            Ok(_) => Authentication::Authentic(terminal),
            Err(code) => Authentication::Refused(terminal, code),
        }
    }

    /// The key answers to `terminal` are sealed with, if it is signed in.
    /// A refusal for a bad MAC is sealed with it too: if the terminal holds
    /// another key it sees a bad MAC, which also means "sign in again".
    fn session_mac(&self, terminal: &TerminalId) -> Option<MacKey> {
        self.state.terminals.get(terminal)?.session.as_ref().map(Session::mac_key)
    }

    /// Whether a settlement-class message (no MAC) may be served: 97 or 77.
    fn gate_unmacd(
        &self,
        terminal: &TerminalId,
        merchant: &MerchantId,
    ) -> Result<(), ResponseCode> {
        let state = self
            .state
            .terminals
            .get(terminal)
            .filter(|state| state.merchant == *merchant)
            .ok_or(ResponseCode::TERMINAL_NOT_REGISTERED)?;
        state.session.as_ref().map(|_| ()).ok_or(ResponseCode::SIGN_IN_TO_NETWORK)
    }

    fn answer_trade(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        request: &FinancialRequest,
        code: ResponseCode,
        mac: Option<&MacKey>,
    ) {
        let calendar = self.config.calendar;
        let answer = TradeResponse::answering(
            request,
            code,
            calendar.time_of_day(now),
            calendar.month_day(now),
        );
        self.send(to, &CupMessage::TradeAnswer(answer), tpdu, mac);
        self.event(
            now,
            SwitchEventKind::Answered { key: TradeKey::of(request), code, reversal: false },
        );
    }

    /// Sends `answer`, kept from the original, again to a copy's sender.
    fn replay_answer(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        answer: TradeResponse,
        mac: &MacKey,
    ) {
        let (key, code) = (TradeKey::of_answer(&answer), answer.response_code);
        self.send(to, &CupMessage::TradeAnswer(answer), tpdu, Some(mac));
        self.event(now, SwitchEventKind::Answered { key, code, reversal: false });
    }

    fn refuse_trade(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        request: &FinancialRequest,
        code: ResponseCode,
    ) {
        self.event(
            now,
            SwitchEventKind::Rejected {
                terminal: request.terminal,
                stan: Some(request.stan),
                code,
            },
        );
        let mac = self.session_mac(&request.terminal);
        self.answer_trade(now, to, tpdu, request, code, mac.as_ref());
    }

    fn answer_reversal(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        reversal: &ReversalRequest,
        code: ResponseCode,
        mac: Option<&MacKey>,
    ) {
        let calendar = self.config.calendar;
        let answer = TradeResponse::answering_reversal(
            reversal,
            code,
            calendar.time_of_day(now),
            calendar.month_day(now),
        );
        self.send(to, &CupMessage::TradeAnswer(answer), tpdu, mac);
        self.event(
            now,
            SwitchEventKind::Answered {
                key: TradeKey::of(reversal.original()),
                code,
                reversal: true,
            },
        );
    }

    // ---- from terminals ------------------------------------------------

    fn on_terminal_frame(&mut self, now: Instant, from: Node, bytes: &[u8]) {
        let (frame, mac_span) = match Frame::decode_with_mac_span(bytes) {
            Ok(decoded) => decoded,
            Err(error) => {
                self.event(
                    now,
                    SwitchEventKind::Dropped { from, reason: DropReason::Undecodable(error) },
                );
                return;
            }
        };
        let message = match CupMessage::parse(&frame.message) {
            Ok(message) => message,
            Err(error) => {
                self.format_error(now, from, &frame, &error);
                return;
            }
        };
        let received = Received { bytes, mac_span, frame: &frame };
        let tpdu = frame.tpdu.reply();
        match message {
            CupMessage::Network(request) => self.network_management(now, from, tpdu, &request),
            CupMessage::Trade(request) => self.trade(now, from, tpdu, &received, request),
            CupMessage::Reversal(reversal) => {
                self.terminal_reversal(now, from, tpdu, &received, &reversal)
            }
            CupMessage::Settlement(request) => self.settlement(now, from, tpdu, &request),
            CupMessage::BatchUpload(request) => self.batch_upload(now, from, tpdu, &request),
            CupMessage::BatchUploadEnd(request) => self.batch_upload_end(now, from, tpdu, &request),
            CupMessage::NetworkAnswer(_)
            | CupMessage::TradeAnswer(_)
            | CupMessage::SettlementAnswer(_)
            | CupMessage::BatchUploadAnswer(_) => self.event(
                now,
                SwitchEventKind::Dropped {
                    from,
                    reason: DropReason::Unexpected(UnexpectedFrame::AnswerFromTerminal),
                },
            ),
        }
    }

    /// A frame that is not a complete message: answer 30 with what can be
    /// echoed, if it is a request and names its terminal; MAC'd when the
    /// request was and the terminal holds a key, so it reads the refusal.
    fn format_error(&mut self, now: Instant, from: Node, frame: &Frame, error: &MessageError) {
        let request = &frame.message;
        let terminal = request.get(41).and_then(TerminalId::from_wire);
        let (false, Some(terminal)) = (request.mti().is_response(), terminal) else {
            self.event(
                now,
                SwitchEventKind::Dropped { from, reason: DropReason::Incomplete(error.clone()) },
            );
            return;
        };
        let calendar = self.config.calendar;
        let mut answer = Message::new(request.mti().response());
        for field in [2u8, 3, 4, 11, 25, 41, 42, 49, 60] {
            if let Some(value) = request.get(field) {
                answer.set(field, value).expect("a value that decoded in this field fits it");
            }
        }
        answer.set_number(12, calendar.time_of_day(now).number()).expect("n6");
        answer.set_number(13, calendar.month_day(now).number()).expect("n4");
        answer.set(39, ResponseCode::FORMAT_ERROR.as_bytes()).expect("an2");
        let mut reply = Frame {
            tpdu: frame.tpdu.reply(),
            header: Header::new(SOFTWARE_VERSION),
            message: answer,
        };
        let mac = self
            .state
            .terminals
            .get(&terminal)
            .and_then(|state| state.session.as_ref())
            .map(Session::mac_key)
            .filter(|_| request.has(64));
        let mut bytes = Vec::with_capacity(256);
        match mac {
            Some(key) => key.seal(&mut reply, &mut bytes),
            None => reply.encode(&mut bytes),
        }
        let stan = request.get_number(11).and_then(|n| Stan::new(n as u32));
        self.event(
            now,
            SwitchEventKind::Rejected { terminal, stan, code: ResponseCode::FORMAT_ERROR },
        );
        self.transmit(from, bytes);
    }

    fn network_management(&mut self, now: Instant, to: Node, tpdu: Tpdu, request: &NetworkRequest) {
        let calendar = self.config.calendar;
        let mut answer = NetworkResponse {
            code: request.code,
            stan: request.stan,
            batch: request.batch,
            terminal: request.terminal,
            merchant: request.merchant,
            time: calendar.time_of_day(now),
            date: calendar.month_day(now),
            rrn: None,
            response_code: ResponseCode::APPROVED,
            keys: None,
        };
        let key_counter = self.state.key_counter;
        let generation_key = self.config.key_generation_key.0;
        let quirk = self.config.quirk(&request.terminal, request.stan.value()).cloned();
        let quirk = quirk.as_ref();
        let mut events = Vec::with_capacity(1);
        match self
            .state
            .terminals
            .get_mut(&request.terminal)
            .filter(|state| state.merchant == request.merchant)
        {
            None => answer.response_code = ResponseCode::TERMINAL_NOT_REGISTERED,
            Some(state) => match request.code {
                NetworkCode::SignIn(mode) if !state.serves(mode) => {
                    // The TMK's length fixes the modes it can wrap keys for.
                    answer.response_code = ResponseCode::FUNCTION_NOT_SUPPORTED;
                }
                NetworkCode::SignIn(_) if quirk.and_then(|q| q.answer).is_some() => {
                    answer.response_code = quirk.and_then(|q| q.answer).expect("checked");
                }
                NetworkCode::SignIn(mode) => {
                    let mut generator = KeyGenerator::new(generation_key, key_counter);
                    let keys = generator.working_keys(mode);
                    self.state.key_counter = generator.counter();
                    let mut field_62 = keys.wrap(&state.tmk, mode);
                    if quirk.is_some_and(|q| q.bad_key_check) {
                        // The last byte is the MAK's check value: the terminal
                        // must refuse keys it cannot verify.
                        *field_62.last_mut().expect("field 62 is never empty") ^= 0x01;
                    }
                    answer.keys = Some(field_62);
                    answer.batch = state.current.number;
                    state.session = Some(Session { mode, keys });
                    events.push(SwitchEventKind::SignedIn {
                        terminal: request.terminal,
                        batch: answer.batch,
                        mode,
                    });
                }
                NetworkCode::SignOff => {
                    state.session = None;
                    answer.batch = state.current.number;
                    events.push(SwitchEventKind::SignedOff { terminal: request.terminal });
                }
                NetworkCode::Echo => answer.batch = state.current.number,
            },
        }
        if !answer.response_code.is_approved() {
            events.push(SwitchEventKind::Rejected {
                terminal: request.terminal,
                stan: Some(request.stan),
                code: answer.response_code,
            });
        }
        for kind in events {
            self.event(now, kind);
        }
        self.send(to, &CupMessage::NetworkAnswer(answer), tpdu, None);
    }

    fn trade(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        received: &Received,
        request: FinancialRequest,
    ) {
        let session = match self.gate(&request.terminal, &request.merchant, received) {
            Ok(session) => session,
            Err(code) => return self.refuse_trade(now, to, tpdu, &request, code),
        };
        let mac = session.mac_key();
        if let Some(code) =
            self.config.quirk(&request.terminal, request.stan.value()).and_then(|q| q.answer)
        {
            return self.refuse_trade(now, to, tpdu, &request, code);
        }
        let key = TradeKey::of(&request);
        let state = self.state.terminals.get(&request.terminal).expect("the gate found it");
        if state.current.number != request.batch {
            // The 0810 told the terminal its batch; another one means the two
            // disagree about what has been settled.
            return self.refuse_trade(now, to, tpdu, &request, ResponseCode::STATE_MISMATCH);
        }
        if self.pending.contains_key(&key) && self.config.duplicate_check {
            // The original is still upstream and its answer is on the way. A
            // 94 now would reach the terminal first and read as the answer to
            // its only request: a decline, its reversal deleted, while the
            // original may be approved. The copy is dropped instead.
            self.event(now, SwitchEventKind::DuplicateInFlight { key });
            return;
        }
        // An advice (upload or refund) answered with a code that leaves it
        // pending (98, 90, 91, 96, sign in again) was not taken: its next
        // copy goes upstream again instead of getting 94 here, so the
        // issuer's answer decides whether the batch counts it.
        let outcome_unknown = |record: &TradeRecord| {
            record.request.kind().is_advice()
                && matches!(record.outcome, Outcome::Declined(code) if code.leaves_upload_pending())
        };
        let known = state.current.trades.get(&request.stan).filter(|r| !outcome_unknown(r));
        if let (Some(record), true) = (known, self.config.duplicate_check) {
            // The terminal sending a copy may never have had the original's
            // answer: a bare 94 tells it nothing about its money, so the
            // answer it missed is sent again, under today's MAC.
            let replay = record.answer.clone().filter(|_| self.config.replay_duplicates);
            // Even a host that answers copies with a bare 94 must not give
            // it to a copy of what was refused: 94 says "held, it stands",
            // which a terminal that missed the refusal reads as taken (an
            // advice the issuer refused would then count as paid).
            let code = match record.outcome {
                Outcome::Declined(code) => code,
                _ => ResponseCode::DUPLICATE,
            };
            self.event(now, SwitchEventKind::Duplicate { key });
            return match replay {
                Some(answer) => self.replay_answer(now, to, tpdu, answer, &mac),
                None => self.answer_trade(now, to, tpdu, &request, code, Some(&mac)),
            };
        }
        let batch_full = !state.current.trades.contains_key(&request.stan)
            && state.current.trades.len() >= self.config.trades_per_batch_max;
        let no_reversal_room = request.kind().is_reversible() && self.store_forward_room() == 0;
        if batch_full || no_reversal_room || self.pending.len() >= self.config.pending_max {
            return self.refuse_trade(now, to, tpdu, &request, ResponseCode::SYSTEM_MALFUNCTION);
        }
        let mut forwarded = request.clone();
        if let Some(block) = &request.pin_block {
            match translate_pin(&session.keys.pik, &self.link.pik, &request.card.pan, block) {
                Ok(translated) => forwarded.pin_block = Some(translated),
                Err(_) => {
                    return self.refuse_trade(
                        now,
                        to,
                        tpdu,
                        &request,
                        ResponseCode::PIN_FORMAT_ERROR,
                    )
                }
            }
        }
        let mut at_rest = request;
        at_rest.pin_block = None;
        let state = self.state.terminals.get_mut(&at_rest.terminal).expect("the gate found it");
        state.current.trades.insert(
            at_rest.stan,
            TradeRecord {
                request: at_rest.clone(),
                outcome: Outcome::Pending,
                reversed: false,
                answer: None,
            },
        );
        assert!(state.current.trades.len() <= self.config.trades_per_batch_max);
        let deadline = now + self.config.upstream_timeout();
        let kind = at_rest.kind();
        self.pending.insert(key, Pending { deadline, reply_to: to, tpdu, request: at_rest });
        assert!(self.pending.len() <= self.config.pending_max);
        self.upstream(&CupMessage::Trade(forwarded));
        self.event(now, SwitchEventKind::Forwarded { key, kind });
    }

    /// A terminal's reversal. Idempotent: the original unknown → 25,
    /// declined → 12, approved or still pending → 00 at once, and the
    /// reversal goes upstream through store-and-forward. The acquirer takes
    /// the responsibility the moment it acknowledges: the terminal deletes
    /// its pending reversal on 00, so from then on only the switch's queue
    /// stands between the cardholder and a debit nobody holds.
    fn terminal_reversal(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        received: &Received,
        reversal: &ReversalRequest,
    ) {
        let original = reversal.original();
        let mac = match self.gate(&original.terminal, &original.merchant, received) {
            Ok(session) => session.mac_key(),
            Err(code) => {
                self.event(
                    now,
                    SwitchEventKind::Rejected {
                        terminal: original.terminal,
                        stan: Some(original.stan),
                        code,
                    },
                );
                let mac = self.session_mac(&original.terminal);
                return self.answer_reversal(now, to, tpdu, reversal, code, mac.as_ref());
            }
        };
        let key = TradeKey::of(original);
        let room = self.store_forward_room();
        let pending_reserved = self.pending.get(&key).is_some_and(Pending::reversible);
        let state = self.state.terminals.get_mut(&original.terminal).expect("the gate found it");
        let code = match state.record_mut(original.batch, original.stan) {
            None => ResponseCode::ORIGINAL_NOT_FOUND,
            Some(record) if matches!(record.outcome, Outcome::Declined(_)) => {
                ResponseCode::UNSUPPORTED_BY_ISSUER
            }
            // Already queued or already acknowledged upstream: nothing new,
            // unless the unsafe policy passes the repeat on. One still
            // queued is the same reversal and goes upstream anyway.
            Some(record) if record.reversed => {
                let forward = self.config.forward_repeated_reversals
                    && room > 0
                    && !self.state.store_forward.contains(&key);
                if forward {
                    self.state.store_forward.push(key, reversal.clone(), now);
                    self.event(
                        now,
                        SwitchEventKind::ReversalQueued { key, reason: reversal.reason },
                    );
                    self.send_due_reversals(now);
                }
                ResponseCode::APPROVED
            }
            Some(_) if room == 0 && !pending_reserved => ResponseCode::SYSTEM_MALFUNCTION,
            Some(record) => {
                record.reversed = true;
                self.pending.remove(&key);
                self.state.store_forward.push(key, reversal.clone(), now);
                self.event(now, SwitchEventKind::ReversalQueued { key, reason: reversal.reason });
                self.send_due_reversals(now);
                ResponseCode::APPROVED
            }
        };
        if code == ResponseCode::SYSTEM_MALFUNCTION {
            self.event(
                now,
                SwitchEventKind::Rejected {
                    terminal: original.terminal,
                    stan: Some(original.stan),
                    code,
                },
            );
        }
        self.answer_reversal(now, to, tpdu, reversal, code, Some(&mac));
    }

    fn settlement(&mut self, now: Instant, to: Node, tpdu: Tpdu, request: &SettlementRequest) {
        let calendar = self.config.calendar;
        let mut answer = SettlementResponse {
            stan: request.stan,
            batch: request.batch,
            terminal: request.terminal,
            merchant: request.merchant,
            time: calendar.time_of_day(now),
            date: calendar.month_day(now),
            settlement_date: Some(calendar.month_day(now)),
            rrn: None,
            totals: request.totals,
            result: SettlementResult::Error,
        };
        // 0510 has no field 39: a refusal is the result flag 3 and an event.
        let refusal = match self.gate_unmacd(&request.terminal, &request.merchant) {
            Err(code) => Some(code),
            Ok(()) => {
                let state =
                    self.state.terminals.get_mut(&request.terminal).expect("the gate found it");
                match state.batch(request.batch).map(|batch| batch.totals()) {
                    None => Some(ResponseCode::STATE_MISMATCH),
                    Some(switch_totals) => {
                        let disagree = self
                            .config
                            .quirk(&request.terminal, request.stan.value())
                            .is_some_and(|quirk| quirk.not_balanced);
                        let balanced = switch_totals == request.totals && !disagree;
                        answer.result = if balanced {
                            SettlementResult::Balanced
                        } else {
                            SettlementResult::NotBalanced
                        };
                        let close = balanced && state.current.number == request.batch;
                        let closed = close.then(|| state.close_batch());
                        self.event(
                            now,
                            SwitchEventKind::SettlementAnswered {
                                terminal: request.terminal,
                                batch: request.batch,
                                balanced,
                                switch_totals,
                                terminal_totals: request.totals,
                            },
                        );
                        if let Some((batch, next)) = closed {
                            self.event(
                                now,
                                SwitchEventKind::BatchClosed {
                                    terminal: request.terminal,
                                    batch,
                                    next,
                                    reason: CloseReason::Balanced,
                                },
                            );
                            self.file_closed_batch(now, request.terminal, false);
                        }
                        None
                    }
                }
            }
        };
        if let Some(code) = refusal {
            self.event(
                now,
                SwitchEventKind::Rejected {
                    terminal: request.terminal,
                    stan: Some(request.stan),
                    code,
                },
            );
        }
        self.send(to, &CupMessage::SettlementAnswer(answer), tpdu, None);
    }

    fn answer_upload(
        &mut self,
        to: Node,
        tpdu: Tpdu,
        ids: (Stan, BatchNo, TerminalId, MerchantId),
        network_code: u16,
        code: ResponseCode,
    ) {
        let (stan, batch, terminal, merchant) = ids;
        let answer = BatchUploadResponse {
            stan,
            batch,
            terminal,
            merchant,
            network_code,
            response_code: code,
        };
        self.send(to, &CupMessage::BatchUploadAnswer(answer), tpdu, None);
    }

    /// Records what the terminal says it did in its batch. An entry the
    /// switch does not hold as approved (unknown STAN, declined, reversed,
    /// another amount) is reported, not added: totals follow authorised
    /// trades only, and the difference goes to next-day reconciliation.
    fn batch_upload(&mut self, now: Instant, to: Node, tpdu: Tpdu, request: &BatchUploadRequest) {
        let ids = (request.stan, request.batch, request.terminal, request.merchant);
        let code = match self.gate_unmacd(&request.terminal, &request.merchant) {
            Err(code) => code,
            Ok(()) => {
                let trades_max = self.config.trades_per_batch_max;
                let state =
                    self.state.terminals.get_mut(&request.terminal).expect("the gate found it");
                if state.current.number == request.batch {
                    let batch = &mut state.current;
                    let mut unknown = Vec::new();
                    // A chunk sent again (its 0330 lost, or the terminal lost
                    // power before it came) counts once.
                    let mut new_entries = 0usize;
                    let mut over_bound = 0usize;
                    for entry in &request.detail.entries {
                        if !batch.uploaded.contains_key(&entry.stan) {
                            new_entries += 1;
                        }
                        let matched = batch.trades.get(&entry.stan).is_some_and(|record| {
                            record.counts() && record.request.trade.amount() == Some(entry.amount)
                        });
                        if !matched {
                            unknown.push(*entry);
                        }
                        if batch.uploaded.len() < trades_max
                            || batch.uploaded.contains_key(&entry.stan)
                        {
                            batch.uploaded.insert(entry.stan, *entry);
                        } else {
                            over_bound += 1;
                        }
                    }
                    assert!(batch.uploaded.len() <= trades_max);
                    if over_bound > 0 {
                        self.event(
                            now,
                            SwitchEventKind::UploadOverBound {
                                terminal: request.terminal,
                                batch: request.batch,
                                dropped: over_bound,
                            },
                        );
                    }
                    for entry in &unknown {
                        self.event(
                            now,
                            SwitchEventKind::UploadedTradeUnknown {
                                terminal: request.terminal,
                                batch: request.batch,
                                stan: entry.stan,
                                amount: entry.amount,
                            },
                        );
                    }
                    self.event(
                        now,
                        SwitchEventKind::BatchUploaded {
                            terminal: request.terminal,
                            batch: request.batch,
                            entries: new_entries,
                            unknown: unknown.len(),
                        },
                    );
                    ResponseCode::APPROVED
                } else if state.previous.as_ref().is_some_and(|batch| batch.number == request.batch)
                {
                    // A repeat after the batch closed (its answer was lost).
                    ResponseCode::APPROVED
                } else {
                    ResponseCode::STATE_MISMATCH
                }
            }
        };
        self.finish_upload(now, to, tpdu, ids, NETWORK_CODE_SETTLEMENT, code);
    }

    fn batch_upload_end(&mut self, now: Instant, to: Node, tpdu: Tpdu, request: &BatchUploadEnd) {
        let ids = (request.stan, request.batch, request.terminal, request.merchant);
        let code = match self.gate_unmacd(&request.terminal, &request.merchant) {
            Err(code) => code,
            Ok(()) => {
                let quirk = self
                    .config
                    .quirk(&request.terminal, request.stan.value())
                    .and_then(|quirk| quirk.answer);
                let trades_max = self.config.trades_per_batch_max;
                let state =
                    self.state.terminals.get_mut(&request.terminal).expect("the gate found it");
                let held = state.current.uploaded.len();
                // The end message counts the entries the terminal uploaded;
                // fewer reached the switch (and the table had room for
                // them): the upload does not reconcile, 95, and the batch
                // stays open for the terminal to upload it again.
                let short = usize::from(request.total_count) > held && held < trades_max;
                if let Some(code) = quirk {
                    code
                } else if state.current.number == request.batch && short {
                    ResponseCode::RECONCILIATION_ERROR
                } else if state.current.number == request.batch {
                    let (batch, next) = state.close_batch();
                    self.event(
                        now,
                        SwitchEventKind::BatchClosed {
                            terminal: request.terminal,
                            batch,
                            next,
                            reason: CloseReason::UploadEnd,
                        },
                    );
                    self.file_closed_batch(now, request.terminal, true);
                    ResponseCode::APPROVED
                } else if state.previous.as_ref().is_some_and(|batch| batch.number == request.batch)
                {
                    ResponseCode::APPROVED
                } else {
                    ResponseCode::STATE_MISMATCH
                }
            }
        };
        self.finish_upload(now, to, tpdu, ids, request.network_code(), code);
    }

    /// Files the batch `terminal` just closed for the day's clearing: what
    /// the terminal settled. A balanced batch holds what the switch recorded
    /// approved and not reversed (the totals agreed); after a batch upload,
    /// the trades the terminal uploaded, since only it knows which it
    /// completed (DOMAIN.md: a reversal that never got through is
    /// reconciled the next day, and the money goes back). A batch closed
    /// host-side was never settled: the switch's own records stand in.
    fn file_closed_batch(&mut self, now: Instant, terminal: TerminalId, by_upload: bool) {
        let by_upload = by_upload && !self.config.clearing_from_own_approvals;
        let state = self.state.terminals.get(&terminal).expect("a known terminal's batch closed");
        let batch = state.previous.as_ref().expect("a batch was just closed");
        let number = batch.number;
        let mut totals = BatchTotals::default();
        let keys: Vec<TradeKey> = if by_upload {
            let merchant = state.merchant;
            for (stan, entry) in &batch.uploaded {
                // An entry the switch never saw is an offline sale's upload
                // that did not reach it: a debit.
                let side = batch.trades.get(stan).map_or(Side::Debit, |r| r.request.kind().side());
                match side {
                    Side::Debit => totals.add_debit(entry.amount),
                    Side::Credit => totals.add_credit(entry.amount),
                    Side::None => {}
                }
            }
            batch
                .uploaded
                .keys()
                .map(|stan| TradeKey { terminal, merchant, batch: number, stan: *stan })
                .collect()
        } else {
            totals = batch.totals();
            batch
                .trades
                .values()
                .filter(|record| record.counts())
                .map(|record| TradeKey::of(&record.request))
                .collect()
        };
        let room = self.config.clearing_max.saturating_sub(self.state.clearing.len());
        let filed = keys.len().min(room);
        self.state.clearing.extend(keys[..filed].iter().copied());
        assert!(self.state.clearing.len() <= self.config.clearing_max);
        let filed_event =
            SwitchEventKind::BatchFiled { terminal, batch: number, filed, by_upload, totals };
        self.event(now, filed_event);
        if filed < keys.len() {
            let unfiled = keys.len() - filed;
            self.event(now, SwitchEventKind::ClearingFileFull { terminal, batch: number, unfiled });
        }
    }

    /// Answers a batch upload message, logging a refusal first.
    fn finish_upload(
        &mut self,
        now: Instant,
        to: Node,
        tpdu: Tpdu,
        ids: (Stan, BatchNo, TerminalId, MerchantId),
        network_code: u16,
        code: ResponseCode,
    ) {
        if !code.is_approved() {
            let (stan, _, terminal, _) = ids;
            self.event(now, SwitchEventKind::Rejected { terminal, stan: Some(stan), code });
        }
        self.answer_upload(to, tpdu, ids, network_code, code);
    }

    // ---- from the network ----------------------------------------------

    fn on_network_frame(&mut self, now: Instant, bytes: &[u8]) {
        let from = Node::Network;
        let inbound = match receive(bytes, Some(&self.link_mac)) {
            Ok(inbound) => inbound,
            Err(InboundError::Decode(error)) => {
                return self.event(
                    now,
                    SwitchEventKind::Dropped { from, reason: DropReason::Undecodable(error) },
                )
            }
            Err(InboundError::Format { error, .. }) => {
                return self.event(
                    now,
                    SwitchEventKind::Dropped { from, reason: DropReason::Incomplete(error) },
                )
            }
        };
        if !inbound.mac.is_valid() {
            return self
                .event(now, SwitchEventKind::Dropped { from, reason: DropReason::BadUpstreamMac });
        }
        match inbound.message {
            CupMessage::TradeAnswer(answer) if answer.reversal => {
                self.reversal_answer(now, &answer)
            }
            CupMessage::TradeAnswer(answer) => self.trade_answer(now, answer),
            _ => self.event(
                now,
                SwitchEventKind::Dropped {
                    from,
                    reason: DropReason::Unexpected(UnexpectedFrame::NotTradeAnswerFromNetwork),
                },
            ),
        }
    }

    fn trade_answer(&mut self, now: Instant, answer: TradeResponse) {
        let key = TradeKey::of_answer(&answer);
        let code = answer.response_code;
        let Some(pending) = self.pending.remove(&key) else {
            // Timed out (98 already sent) or reversed by the terminal: an
            // approval now would print a slip for a trade being reversed.
            let known = self
                .state
                .terminals
                .get(&key.terminal)
                .and_then(|state| state.record(key.batch, key.stan))
                .is_some();
            let kind = if known {
                SwitchEventKind::LateAnswerDropped { key, code }
            } else {
                SwitchEventKind::Dropped { from: Node::Network, reason: DropReason::NotPending }
            };
            return self.event(now, kind);
        };
        let state = self.state.terminals.get_mut(&key.terminal);
        let mac = state.as_ref().and_then(|state| state.session.as_ref()).map(Session::mac_key);
        if let Some(record) = state.and_then(|state| state.record_mut(key.batch, key.stan)) {
            // Upstream's 94 to an advice (an offline trade's upload, a
            // refund) means the issuer already holds it — it answers a copy
            // of one it refused with the refusal — so it counts as taken.
            let taken = code.is_approved()
                || (code == ResponseCode::DUPLICATE && record.request.kind().is_advice());
            record.outcome = if taken { Outcome::Approved } else { Outcome::Declined(code) };
            record.answer = Some(answer.clone());
        }
        match mac {
            Some(mac) => {
                let mut header = Header::new(SOFTWARE_VERSION);
                if self
                    .config
                    .quirk(&key.terminal, key.stan.value())
                    .is_some_and(|q| q.sign_in_again_header)
                {
                    header.processing = ProcessingRequirement::SIGN_IN_AGAIN;
                }
                let bytes = seal_with_header(
                    &CupMessage::TradeAnswer(answer),
                    pending.tpdu,
                    header,
                    Some(&mac),
                );
                self.transmit(pending.reply_to, bytes);
                self.event(now, SwitchEventKind::Answered { key, code, reversal: false });
            }
            None => self.event(
                now,
                SwitchEventKind::Dropped {
                    from: Node::Network,
                    reason: DropReason::TerminalNotSignedIn,
                },
            ),
        }
    }

    fn reversal_answer(&mut self, now: Instant, answer: &TradeResponse) {
        let key = TradeKey::of_answer(answer);
        let code = answer.response_code;
        if !code.completes_reversal() {
            // Anything else (96, 91...) is "try again": the retry timer does.
            return;
        }
        if self.state.store_forward.acknowledge(&key) {
            self.event(now, SwitchEventKind::ReversalAcknowledged { key, code });
        } else {
            self.event(
                now,
                SwitchEventKind::Dropped { from: Node::Network, reason: DropReason::NotPending },
            );
        }
    }

    // ---- deadlines -----------------------------------------------------

    fn send_due_reversals(&mut self, now: Instant) {
        let retry = self.config.reversal_retry_interval();
        for queued in self.state.store_forward.take_due(now, retry) {
            self.upstream(&CupMessage::Reversal(queued.reversal));
            self.event(
                now,
                SwitchEventKind::ReversalSent { key: queued.key, attempt: queued.attempts },
            );
        }
    }

    /// The network did not answer in time: the terminal gets 98, and a
    /// reversible trade is reversed by the switch itself, since the issuer
    /// may hold it.
    fn upstream_timeout(&mut self, now: Instant, key: TradeKey, pending: Pending) {
        self.event(now, SwitchEventKind::UpstreamTimeout { key });
        let reversible = pending.reversible();
        let state = self.state.terminals.get_mut(&key.terminal);
        let mac = state.as_ref().and_then(|state| state.session.as_ref()).map(Session::mac_key);
        if let Some(state) = state {
            if reversible {
                if let Some(record) = state.record_mut(key.batch, key.stan) {
                    record.outcome = Outcome::TimedOut;
                    record.reversed = true;
                }
            } else if let Some(batch) = state.batch_mut(key.batch) {
                // Nothing to reverse: forgetting it lets the terminal's retry through.
                batch.trades.remove(&key.stan);
            }
        }
        if reversible {
            let reversal = ReversalRequest::new(&pending.request, ResponseCode::ISSUER_TIMEOUT);
            self.state.store_forward.push(key, reversal, now);
            self.event(
                now,
                SwitchEventKind::ReversalQueued { key, reason: ResponseCode::ISSUER_TIMEOUT },
            );
        }
        match mac {
            Some(mac) => self.answer_trade(
                now,
                pending.reply_to,
                pending.tpdu,
                &pending.request,
                ResponseCode::ISSUER_TIMEOUT,
                Some(&mac),
            ),
            None => self.event(
                now,
                SwitchEventKind::Dropped {
                    from: Node::Network,
                    reason: DropReason::TerminalNotSignedIn,
                },
            ),
        }
    }
}

impl Actor for Switch {
    type Command = SwitchCommand;
    type Event = SwitchEvent;

    fn handle_message(&mut self, now: Instant, from: Node, bytes: &[u8]) {
        match from {
            Node::Terminal(_) => self.on_terminal_frame(now, from, bytes),
            Node::Network => self.on_network_frame(now, bytes),
            Node::Switch | Node::Issuer(_) => self.event(
                now,
                SwitchEventKind::Dropped {
                    from,
                    reason: DropReason::Unexpected(UnexpectedFrame::NoLink),
                },
            ),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<TradeKey> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            let pending = self.pending.remove(&key).expect("just listed");
            self.upstream_timeout(now, key, pending);
        }
        self.send_due_reversals(now);
    }

    fn handle_command(&mut self, now: Instant, command: SwitchCommand) {
        match command {
            SwitchCommand::RevokeKeys { terminal } => {
                if let Some(state) = self.state.terminals.get_mut(&terminal) {
                    if state.session.take().is_some() {
                        self.event(now, SwitchEventKind::SignedOff { terminal });
                    }
                }
            }
            SwitchCommand::Quirk(quirk) => {
                let quirks = &mut self.config.quirks;
                if quirks.len() >= super::config::QUIRKS_MAX {
                    let (terminal, stan) = (quirk.terminal, quirk.stan);
                    return self.event(now, SwitchEventKind::QuirkRefused { terminal, stan });
                }
                quirks.retain(|q| q.terminal != quirk.terminal || q.stan != quirk.stan);
                quirks.push(quirk);
                assert!(quirks.len() <= super::config::QUIRKS_MAX);
            }
            SwitchCommand::CloseBatch { terminal } => {
                let Some(state) = self.state.terminals.get_mut(&terminal) else { return };
                let had_session = state.session.take().is_some();
                let (batch, next) = state.close_batch();
                if had_session {
                    self.event(now, SwitchEventKind::SignedOff { terminal });
                }
                let reason = CloseReason::HostSide;
                self.event(now, SwitchEventKind::BatchClosed { terminal, batch, next, reason });
                self.file_closed_batch(now, terminal, false);
            }
            SwitchCommand::SubmitClearing => {
                let keys: Vec<TradeKey> =
                    std::mem::take(&mut self.state.clearing).into_iter().collect();
                self.event(now, SwitchEventKind::ClearingSubmitted { keys });
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|pending| pending.deadline).min();
        match (pending, self.state.store_forward.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<SwitchEvent> {
        self.events.pop()
    }
}
