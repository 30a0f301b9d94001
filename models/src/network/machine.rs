//! The network's state machine: routing, timeouts, reversals in custody, and
//! the clearing list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::config::{NetworkConfig, NetworkConfigError};
use super::events::NetworkDropReason::Undecodable;
use super::events::NetworkFormatReason::Incomplete;
use super::events::{
    NetworkCommand, NetworkCommandRefusal, NetworkDropReason, NetworkEvent, NetworkEventKind,
    NetworkFormatReason, ReversalOrigin,
};
use crate::actor::{Actor, LinkKeys, Node, TradeKey, Transmit};
use crate::bounded::BoundedQueue;
use crate::iso8583::cup::CupMessage;
use crate::iso8583::mac::MacKey;
use crate::iso8583::pin::translate_pin;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::{FinancialRequest, ReversalRequest, TradeKind, TradeResponse};
use crate::iso8583::values::Pan;
use crate::iso8583::Tpdu;
use crate::issuer::reply::echo_answer;
use crate::time::Instant;
use crate::wire::{receive, seal, InboundError};

/// Toward issuers: destination 0002, source 0001 (docs/DESIGN.md).
const ISSUER_TPDU: Tpdu = Tpdu::new(0x0002, 0x0001);

#[derive(Debug, Clone)]
struct Link {
    keys: LinkKeys,
    mac: MacKey,
}

impl Link {
    fn new(keys: LinkKeys) -> Link {
        Link { mac: keys.mac_key(), keys }
    }
}

/// A request at an issuer, not yet answered.
#[derive(Debug, Clone)]
struct Pending {
    issuer: u16,
    /// As forwarded: PIN block under the issuer link's PIK.
    request: FinancialRequest,
    switch_tpdu: Tpdu,
    deadline: Instant,
}

/// A reversal the network has taken responsibility for.
#[derive(Debug, Clone)]
struct Custody {
    issuer: u16,
    reversal: ReversalRequest,
    tries: u32,
    next_at: Instant,
    /// The switch is waiting for an answer to its reversal until then.
    switch_reply: Option<(Tpdu, Instant)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Pending,
    Answered(ResponseCode),
    /// The network answered 98; `late` is what the issuer said afterwards.
    TimedOut {
        late: Option<ResponseCode>,
    },
}

#[derive(Debug, Clone)]
struct ClearingEntry {
    issuer: u16,
    kind: TradeKind,
    fate: Fate,
    /// A reversal entered custody for it (or passed through).
    reversed: bool,
}

impl ClearingEntry {
    /// Approved at the issuer and nobody will take it back.
    fn complete(&self) -> bool {
        let approved = match self.fate {
            Fate::Answered(code) => code.is_approved(),
            // Nothing reverses a late-approved upload or refund: the issuer holds it.
            Fate::TimedOut { late: Some(code) } => code.is_approved() && !self.kind.is_reversible(),
            _ => false,
        };
        approved && !self.reversed
    }
}

/// The card network (CUP). See the [module docs](super).
#[derive(Debug)]
pub struct Network {
    config: NetworkConfig,
    switch: Link,
    issuers: BTreeMap<u16, Link>,
    /// Longest prefix first, so the first match wins.
    routes: Vec<(String, u16)>,
    cutoff: bool,
    down: BTreeSet<u16>,
    pending: BTreeMap<TradeKey, Pending>,
    custody: BTreeMap<TradeKey, Custody>,
    clearing: BTreeMap<TradeKey, ClearingEntry>,
    /// The acquirer's clearing file for the coming clearing, once filed.
    filed: Option<BTreeSet<TradeKey>>,
    transmits: BoundedQueue<Transmit>,
    events: BoundedQueue<NetworkEvent>,
}

impl Network {
    /// The network at its first start, no trade pending. Nothing is due at
    /// a cold start; `now` is taken so that all four actors start the same
    /// way (docs/DESIGN.md, "Starting an actor"). The network keeps no
    /// persistent state, so it has no `restart`.
    pub fn new(config: NetworkConfig, now: Instant) -> Result<Network, NetworkConfigError> {
        let _ = now;
        let valid = config.validate()?;
        let mut routes: Vec<(String, u16)> =
            config.routes.iter().map(|route| (route.bin_prefix.clone(), route.issuer)).collect();
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Network {
            switch: Link::new(valid.switch),
            issuers: valid
                .issuers
                .into_iter()
                .map(|(index, keys)| (index, Link::new(keys)))
                .collect(),
            routes,
            cutoff: false,
            down: BTreeSet::new(),
            pending: BTreeMap::new(),
            custody: BTreeMap::new(),
            clearing: BTreeMap::new(),
            filed: None,
            transmits: BoundedQueue::new(config.transmits_max),
            events: BoundedQueue::new(config.events_max),
            config,
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The issuer that holds `pan`'s account: the longest matching prefix.
    pub fn route(&self, pan: &Pan) -> Option<u16> {
        self.routes
            .iter()
            .find(|(prefix, _)| pan.as_str().starts_with(prefix.as_str()))
            .map(|(_, issuer)| *issuer)
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Reversals in custody, not yet acknowledged by their issuer.
    pub fn custody_count(&self) -> usize {
        self.custody.len()
    }

    pub fn in_cutoff(&self) -> bool {
        self.cutoff
    }

    fn emit(&mut self, at: Instant, kind: NetworkEventKind) {
        self.events.push_expect(NetworkEvent { at, kind }, "network event");
    }

    fn send(&mut self, to: Node, bytes: Vec<u8>) {
        self.transmits.push_expect(Transmit { to, bytes }, "network transmit");
    }

    fn check_invariants(&self) {
        assert!(self.pending.len() <= self.config.pending_max);
        assert!(self.pending.len() + self.custody.len() <= self.config.store_forward_max);
        assert!(self.clearing.len() <= self.config.clearing_max);
    }

    fn stamp(
        &self,
        now: Instant,
    ) -> (crate::iso8583::values::TimeOfDay, crate::iso8583::values::MonthDay) {
        (self.config.calendar.time_of_day(now), self.config.calendar.month_day(now))
    }

    fn reply_to_switch(&mut self, tpdu: Tpdu, response: TradeResponse) {
        let bytes = seal(&CupMessage::TradeAnswer(response), tpdu.reply(), Some(&self.switch.mac));
        self.send(Node::Switch, bytes);
    }

    fn behalf(&mut self, now: Instant, tpdu: Tpdu, request: &FinancialRequest, code: ResponseCode) {
        let (time, date) = self.stamp(now);
        self.emit(
            now,
            NetworkEventKind::AnsweredOnBehalf {
                key: TradeKey::of(request),
                kind: request.kind(),
                code,
                reversal: false,
            },
        );
        self.reply_to_switch(tpdu, TradeResponse::answering(request, code, time, date));
    }

    fn behalf_reversal(
        &mut self,
        now: Instant,
        tpdu: Tpdu,
        reversal: &ReversalRequest,
        code: ResponseCode,
    ) {
        let (time, date) = self.stamp(now);
        let original = reversal.original();
        self.emit(
            now,
            NetworkEventKind::AnsweredOnBehalf {
                key: TradeKey::of(original),
                kind: original.kind(),
                code,
                reversal: true,
            },
        );
        self.reply_to_switch(tpdu, TradeResponse::answering_reversal(reversal, code, time, date));
    }

    fn has_room(&self, key: &TradeKey) -> bool {
        self.pending.len() < self.config.pending_max
            && self.pending.len() + self.custody.len() < self.config.store_forward_max
            && (self.clearing.contains_key(key) || self.clearing.len() < self.config.clearing_max)
    }

    // ---- from the switch ----

    fn on_switch_request(&mut self, now: Instant, tpdu: Tpdu, mut request: FinancialRequest) {
        let key = TradeKey::of(&request);
        if self.cutoff {
            return self.behalf(now, tpdu, &request, ResponseCode::CUTOFF_IN_PROGRESS);
        }
        let Some(issuer) = self.route(&request.card.pan) else {
            return self.behalf(now, tpdu, &request, ResponseCode::NO_SUCH_ISSUER);
        };
        if self.down.contains(&issuer) {
            return self.behalf(now, tpdu, &request, ResponseCode::ISSUER_INOPERATIVE);
        }
        if self.pending.contains_key(&key) && request.kind().is_advice() {
            // A 94 now would read as "taken" to the switch and the terminal,
            // while the issuer may yet refuse the first copy (a refund of an
            // unknown original): the first copy's answer, on its way, serves.
            let reason = NetworkDropReason::AdviceCopyAtIssuer { stan: key.stan };
            return self.emit(now, NetworkEventKind::FrameDropped { from: Node::Switch, reason });
        }
        if self.pending.contains_key(&key) || self.custody.contains_key(&key) {
            // The first copy is still at the issuer (its answer will serve), or
            // is being reversed: a copy must not overtake that reversal.
            return self.behalf(now, tpdu, &request, ResponseCode::DUPLICATE);
        }
        if !self.has_room(&key) {
            return self.behalf(now, tpdu, &request, ResponseCode::SYSTEM_MALFUNCTION);
        }
        let link = &self.issuers[&issuer];
        if let Some(block) = request.pin_block {
            match translate_pin(&self.switch.keys.pik, &link.keys.pik, &request.card.pan, &block) {
                Ok(translated) => request.pin_block = Some(translated),
                Err(_) => return self.behalf(now, tpdu, &request, ResponseCode::PIN_FORMAT_ERROR),
            }
        }
        let bytes = seal(&CupMessage::Trade(request.clone()), ISSUER_TPDU, Some(&link.mac));
        self.send(Node::Issuer(issuer), bytes);
        self.emit(now, NetworkEventKind::Routed { key, kind: request.kind(), issuer });
        // A repeat keeps the first copy's fate: the issuer will answer it 94.
        self.clearing.entry(key).or_insert(ClearingEntry {
            issuer,
            kind: request.kind(),
            fate: Fate::Pending,
            reversed: false,
        });
        let deadline = now + Duration::from_millis(self.config.issuer_timeout_ms);
        self.pending.insert(key, Pending { issuer, request, switch_tpdu: tpdu, deadline });
        self.check_invariants();
    }

    fn on_switch_reversal(&mut self, now: Instant, tpdu: Tpdu, reversal: ReversalRequest) {
        let key = TradeKey::of(reversal.original());
        let Some(issuer) = self.route(&reversal.original().card.pan) else {
            // No issuer ever saw it: "original not found" ends the terminal's retries.
            return self.behalf_reversal(now, tpdu, &reversal, ResponseCode::ORIGINAL_NOT_FOUND);
        };
        if self.custody.contains_key(&key) {
            // Already ours to deliver: the acquirer may stop.
            return self.behalf_reversal(now, tpdu, &reversal, ResponseCode::APPROVED);
        }
        if self.pending.len() + self.custody.len() >= self.config.store_forward_max {
            return self.behalf_reversal(now, tpdu, &reversal, ResponseCode::SYSTEM_MALFUNCTION);
        }
        if let Some(entry) = self.clearing.get_mut(&key) {
            entry.reversed = true;
        }
        let up = !self.down.contains(&issuer);
        let switch_reply =
            up.then(|| (tpdu, now + Duration::from_millis(self.config.issuer_timeout_ms)));
        self.custody.insert(
            key,
            Custody { issuer, reversal: reversal.clone(), tries: 0, next_at: now, switch_reply },
        );
        self.emit(
            now,
            NetworkEventKind::ReversalQueued { key, issuer, origin: ReversalOrigin::Switch },
        );
        if up {
            self.send_reversal(now, key);
        } else {
            self.behalf_reversal(now, tpdu, &reversal, ResponseCode::APPROVED);
        }
        self.check_invariants();
    }

    fn send_reversal(&mut self, now: Instant, key: TradeKey) {
        let interval = Duration::from_millis(self.config.reversal_retry_interval_ms);
        let custody = self.custody.get_mut(&key).expect("sent only from custody");
        custody.tries += 1;
        assert!(custody.tries <= self.config.reversal_tries_max);
        custody.next_at = now + interval;
        let (issuer, attempt) = (custody.issuer, custody.tries);
        let bytes = seal(
            &CupMessage::Reversal(custody.reversal.clone()),
            ISSUER_TPDU,
            Some(&self.issuers[&issuer].mac),
        );
        self.send(Node::Issuer(issuer), bytes);
        self.emit(now, NetworkEventKind::ReversalSent { key, issuer, attempt });
    }

    // ---- from an issuer ----

    fn on_issuer_answer(&mut self, now: Instant, issuer: u16, response: TradeResponse) {
        let key = TradeKey::of_answer(&response);
        let code = response.response_code;
        if response.reversal {
            return self.on_reversal_answer(now, issuer, key, response);
        }
        if self.pending.get(&key).is_some_and(|pending| pending.issuer == issuer) {
            let pending = self.pending.remove(&key).expect("just looked up");
            if let Some(entry) = self.clearing.get_mut(&key) {
                if entry.fate == Fate::Pending {
                    entry.fate = Fate::Answered(code);
                } else if entry.fate == (Fate::TimedOut { late: None })
                    && (code.is_approved()
                        || (code == ResponseCode::DUPLICATE && entry.kind.is_advice()))
                {
                    // The first copy timed out with its outcome unknown (its
                    // request or its answer lost). This copy's approval — or,
                    // for an advice (upload, refund), its 94 ("I hold the
                    // first") — says the issuer holds the trade, so
                    // clearing must keep it. Regression: stories.rs
                    // `an_upload_lost_in_a_partition_is_kept_at_clearing`.
                    entry.fate = Fate::TimedOut { late: Some(ResponseCode::APPROVED) };
                }
            }
            self.emit(
                now,
                NetworkEventKind::AnswerRelayed {
                    key,
                    kind: response.kind,
                    issuer,
                    code,
                    reversal: false,
                },
            );
            self.reply_to_switch(pending.switch_tpdu, response);
            return;
        }
        match self.clearing.get_mut(&key) {
            Some(entry)
                if entry.issuer == issuer && entry.fate == (Fate::TimedOut { late: None }) =>
            {
                entry.fate = Fate::TimedOut { late: Some(code) };
                self.emit(now, NetworkEventKind::LateAnswerDropped { key, issuer, code });
            }
            _ => self.emit(
                now,
                NetworkEventKind::UnmatchedAnswerDropped { from: Node::Issuer(issuer), key },
            ),
        }
    }

    fn on_reversal_answer(
        &mut self,
        now: Instant,
        issuer: u16,
        key: TradeKey,
        response: TradeResponse,
    ) {
        let code = response.response_code;
        let ours = matches!(self.custody.get(&key), Some(custody) if custody.issuer == issuer);
        if !ours {
            return self.emit(
                now,
                NetworkEventKind::UnmatchedAnswerDropped { from: Node::Issuer(issuer), key },
            );
        }
        let done = [
            ResponseCode::APPROVED,
            ResponseCode::UNSUPPORTED_BY_ISSUER,
            ResponseCode::ORIGINAL_NOT_FOUND,
        ]
        .contains(&code);
        if !done {
            // Retried at its next_at; a waiting switch is answered at its deadline.
            return self.emit(now, NetworkEventKind::ReversalRefused { key, issuer, code });
        }
        let custody = self.custody.remove(&key).expect("just looked up");
        self.emit(now, NetworkEventKind::ReversalAcknowledged { key, issuer, code });
        if let Some((tpdu, _)) = custody.switch_reply {
            self.emit(
                now,
                NetworkEventKind::AnswerRelayed {
                    key,
                    kind: response.kind,
                    issuer,
                    code,
                    reversal: true,
                },
            );
            self.reply_to_switch(tpdu, response);
        }
    }

    // ---- time ----

    fn expire_pending(&mut self, now: Instant) {
        let expired: Vec<TradeKey> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(key, _)| *key).collect();
        for key in expired {
            let pending = self.pending.remove(&key).expect("listed above");
            let issuer = pending.issuer;
            self.emit(now, NetworkEventKind::IssuerTimeout { key, issuer });
            self.behalf(now, pending.switch_tpdu, &pending.request, ResponseCode::ISSUER_TIMEOUT);
            let reversible = pending.request.kind().is_reversible();
            if let Some(entry) = self.clearing.get_mut(&key) {
                if entry.fate == Fate::Pending {
                    entry.fate = Fate::TimedOut { late: None };
                }
                entry.reversed |= reversible;
            }
            if !reversible || self.custody.contains_key(&key) {
                continue;
            }
            // Admission kept pending + custody within store_forward_max, so
            // this reversal takes the place its request just left.
            let reversal = ReversalRequest::new(&pending.request, ResponseCode::ISSUER_TIMEOUT);
            self.custody.insert(
                key,
                Custody { issuer, reversal, tries: 0, next_at: now, switch_reply: None },
            );
            self.emit(
                now,
                NetworkEventKind::ReversalQueued {
                    key,
                    issuer,
                    origin: ReversalOrigin::IssuerTimeout,
                },
            );
        }
        self.check_invariants();
    }

    fn answer_waiting_switch(&mut self, now: Instant) {
        let overdue: Vec<TradeKey> = self
            .custody
            .iter()
            .filter(|(_, c)| c.switch_reply.is_some_and(|(_, deadline)| deadline <= now))
            .map(|(key, _)| *key)
            .collect();
        for key in overdue {
            let custody = self.custody.get_mut(&key).expect("listed above");
            let (tpdu, _) = custody.switch_reply.take().expect("filtered on it");
            let reversal = custody.reversal.clone();
            // The network keeps the reversal and keeps trying: for the
            // acquirer it is done.
            self.behalf_reversal(now, tpdu, &reversal, ResponseCode::APPROVED);
        }
    }

    fn send_due_reversals(&mut self, now: Instant) {
        let due: Vec<TradeKey> = self
            .custody
            .iter()
            .filter(|(_, c)| c.next_at <= now && !self.down.contains(&c.issuer))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            let custody = &self.custody[&key];
            if custody.tries >= self.config.reversal_tries_max {
                let (issuer, tries) = (custody.issuer, custody.tries);
                let custody = self.custody.remove(&key).expect("listed above");
                if let Some((tpdu, _)) = custody.switch_reply {
                    self.behalf_reversal(now, tpdu, &custody.reversal, ResponseCode::APPROVED);
                }
                self.emit(now, NetworkEventKind::ReversalAbandoned { key, issuer, tries });
                continue;
            }
            self.send_reversal(now, key);
        }
    }

    // ---- commands ----

    fn file_clearing(&mut self, now: Instant, keys: Vec<TradeKey>) {
        // A file past the bound is refused whole rather than cut: clearing
        // part of a file would return debits the acquirer did settle.
        if keys.len() > self.config.clearing_file_max {
            let reason = NetworkCommandRefusal::ClearingFileTooLarge {
                trades: keys.len(),
                clearing_file_max: self.config.clearing_file_max,
            };
            return self.emit(now, NetworkEventKind::CommandRefused { reason });
        }
        let filed: BTreeSet<TradeKey> = keys.into_iter().collect();
        let held = filed.iter().filter(|key| self.clearing.contains_key(key)).count();
        self.emit(now, NetworkEventKind::ClearingFiled { trades: filed.len(), held });
        self.filed = Some(filed);
    }

    fn clear(&mut self, now: Instant) {
        let filed = self.filed.take();
        let indexes: Vec<u16> = self.issuers.keys().copied().collect();
        for issuer in indexes {
            let keys: Vec<TradeKey> = self
                .clearing
                .iter()
                .filter(|(key, entry)| {
                    entry.issuer == issuer
                        && entry.complete()
                        && filed.as_ref().is_none_or(|filed| filed.contains(key))
                })
                .map(|(key, _)| *key)
                .collect();
            self.emit(now, NetworkEventKind::ClearingList { issuer, keys });
        }
        let custody = &self.custody;
        // What is still moving stays for the next day's list.
        self.clearing.retain(|key, entry| entry.fate == Fate::Pending || custody.contains_key(key));
    }

    fn mark(&mut self, now: Instant, issuer: u16, down: bool) {
        if !self.issuers.contains_key(&issuer) {
            let reason = NetworkCommandRefusal::NoSuchIssuer { issuer };
            return self.emit(now, NetworkEventKind::CommandRefused { reason });
        }
        if down {
            self.down.insert(issuer);
            self.emit(now, NetworkEventKind::IssuerMarkedDown { issuer });
            return;
        }
        self.down.remove(&issuer);
        self.emit(now, NetworkEventKind::IssuerMarkedUp { issuer });
        // What waited for this issuer goes now, not a retry interval later.
        for custody in self.custody.values_mut().filter(|c| c.issuer == issuer) {
            custody.next_at = custody.next_at.min(now);
        }
        self.send_due_reversals(now);
    }
}

impl Actor for Network {
    type Command = NetworkCommand;
    type Event = NetworkEvent;

    fn handle_message(&mut self, now: Instant, from: Node, bytes: &[u8]) {
        let mac = match from {
            Node::Switch => self.switch.mac.clone(),
            Node::Issuer(index) if self.issuers.contains_key(&index) => {
                self.issuers[&index].mac.clone()
            }
            _ => {
                let reason = NetworkDropReason::NoLink { from };
                return self.emit(now, NetworkEventKind::FrameDropped { from, reason });
            }
        };
        let inbound = match receive(bytes, Some(&mac)) {
            Ok(inbound) => inbound,
            Err(InboundError::Decode(error)) => {
                return self.emit(
                    now,
                    NetworkEventKind::FrameDropped { from, reason: Undecodable(error) },
                );
            }
            Err(InboundError::Format { frame, error }) => {
                let answer = match from {
                    Node::Switch => echo_answer(
                        &frame,
                        ResponseCode::FORMAT_ERROR,
                        now,
                        &self.config.calendar,
                        &mac,
                    ),
                    _ => None,
                };
                let answered = answer.is_some();
                if let Some(bytes) = answer {
                    self.send(from, bytes);
                }
                return self.emit(
                    now,
                    NetworkEventKind::FormatRejected { from, answered, reason: Incomplete(error) },
                );
            }
        };
        let tpdu = inbound.frame.tpdu;
        let authentic = inbound.mac.is_valid();
        match (from, inbound.message) {
            (Node::Switch, CupMessage::Trade(request)) if authentic => {
                self.on_switch_request(now, tpdu, request)
            }
            (Node::Switch, CupMessage::Trade(request)) => {
                self.emit(
                    now,
                    NetworkEventKind::MacRejected { from, key: Some(TradeKey::of(&request)) },
                );
                let (time, date) = self.stamp(now);
                self.reply_to_switch(
                    tpdu,
                    TradeResponse::answering(&request, ResponseCode::MAC_ERROR, time, date),
                );
            }
            (Node::Switch, CupMessage::Reversal(reversal)) if authentic => {
                self.on_switch_reversal(now, tpdu, reversal)
            }
            (Node::Switch, CupMessage::Reversal(reversal)) => {
                self.emit(
                    now,
                    NetworkEventKind::MacRejected {
                        from,
                        key: Some(TradeKey::of(reversal.original())),
                    },
                );
                let (time, date) = self.stamp(now);
                self.reply_to_switch(
                    tpdu,
                    TradeResponse::answering_reversal(
                        &reversal,
                        ResponseCode::MAC_ERROR,
                        time,
                        date,
                    ),
                );
            }
            (Node::Issuer(index), CupMessage::TradeAnswer(response)) if authentic => {
                self.on_issuer_answer(now, index, response)
            }
            (Node::Issuer(_), CupMessage::TradeAnswer(response)) => {
                // An answer that fails its MAC is no answer: the timeout reverses.
                let key = TradeKey::of_answer(&response);
                self.emit(now, NetworkEventKind::MacRejected { from, key: Some(key) });
            }
            (_, other) => {
                let mti = other.to_message().mti();
                let reason = NetworkFormatReason::NotTaken { mti, from };
                self.emit(now, NetworkEventKind::FormatRejected { from, answered: false, reason });
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.expire_pending(now);
        self.answer_waiting_switch(now);
        self.send_due_reversals(now);
        self.check_invariants();
    }

    fn handle_command(&mut self, now: Instant, command: NetworkCommand) {
        match command {
            NetworkCommand::CutoffStart => {
                self.cutoff = true;
                self.emit(now, NetworkEventKind::CutoffStarted);
            }
            NetworkCommand::CutoffEnd => {
                self.cutoff = false;
                self.emit(now, NetworkEventKind::CutoffEnded);
            }
            NetworkCommand::IssuerDown(issuer) => self.mark(now, issuer, true),
            NetworkCommand::IssuerUp(issuer) => self.mark(now, issuer, false),
            NetworkCommand::FileClearing { keys } => self.file_clearing(now, keys),
            NetworkCommand::Clear => self.clear(now),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.deadline);
        let replies =
            self.custody.values().filter_map(|c| c.switch_reply.map(|(_, deadline)| deadline));
        let retries =
            self.custody.values().filter(|c| !self.down.contains(&c.issuer)).map(|c| c.next_at);
        pending.chain(replies).chain(retries).min()
    }

    fn poll_event(&mut self) -> Option<NetworkEvent> {
        self.events.pop()
    }
}
