//! An in-memory world for the models, in the style of quinn-proto's test
//! `Pair`: terminals, switch, network and issuers wired by a queue of frames
//! in flight with virtual time, able to drop, delay, duplicate or corrupt a
//! chosen frame and to cut a terminal's power at a chosen point.
//!
//! No turmoil, no tokio: this is the bare cost of the models, and the place
//! where protocol stories are told and checked frame by frame.

pub mod build;
mod fault;
mod record;

use std::collections::BTreeMap;
use std::time::Duration;

pub use fault::{FaultAction, FaultRule, FrameMatch};
pub use record::{Fate, Record};

use crate::actor::{Actor, Node, Transmit};
use crate::iso8583::values::TerminalId;
use crate::iso8583::{Frame, Message, Mti};
use crate::issuer::Issuer;
use crate::network::Network;
use crate::switch::Switch;
use crate::terminal::{Terminal, TerminalCommand};
use crate::time::Instant;

/// Bounds that keep a runaway story from running forever.
pub const FLIGHTS_MAX: usize = 100_000;
pub const RECORDS_MAX: usize = 5_000_000;
pub const STEPS_PER_CALL_MAX: usize = 10_000_000;

#[derive(Debug, Clone)]
struct Flight {
    from: Node,
    to: Node,
    bytes: Vec<u8>,
}

/// The world. Fields are public so stories can look at any actor's state.
#[derive(Debug)]
pub struct Harness {
    pub now: Instant,
    pub terminals: BTreeMap<TerminalId, Terminal>,
    pub switch: Switch,
    pub network: Network,
    pub issuers: Vec<Issuer>,
    /// One-way latency of every hop.
    pub latency: Duration,
    pub faults: Vec<FaultRule>,
    pub records: Vec<Record>,
    /// Whether the switch is up; frames to a crashed switch are lost.
    switch_up: bool,
    flights: BTreeMap<(Instant, u64), Flight>,
    sequence: u64,
}

fn peek(bytes: &[u8]) -> (Option<Mti>, Option<u32>) {
    match Frame::decode(bytes) {
        Ok(frame) => (Some(frame.message.mti()), frame.message.get_number(11).map(|n| n as u32)),
        Err(_) => (None, None),
    }
}

impl Harness {
    pub fn new(
        terminals: Vec<Terminal>,
        switch: Switch,
        network: Network,
        issuers: Vec<Issuer>,
    ) -> Harness {
        let terminals = terminals.into_iter().map(|t| (t.config().terminal_id, t)).collect();
        Harness {
            now: Instant::ZERO,
            terminals,
            switch,
            network,
            issuers,
            latency: Duration::from_millis(50),
            faults: Vec::new(),
            records: Vec::new(),
            switch_up: true,
            flights: BTreeMap::new(),
            sequence: 0,
        }
    }

    pub fn terminal(&mut self, id: &TerminalId) -> &mut Terminal {
        self.terminals.get_mut(id).expect("a terminal of this world")
    }

    pub fn command(&mut self, id: &TerminalId, command: TerminalCommand) {
        let now = self.now;
        self.terminal(id).handle_command(now, command);
        self.drain();
    }

    pub fn command_network(&mut self, command: crate::network::NetworkCommand) {
        let now = self.now;
        self.network.handle_command(now, command);
        self.drain();
    }

    pub fn command_issuer(&mut self, index: usize, command: crate::issuer::IssuerCommand) {
        let now = self.now;
        self.issuers[index].handle_command(now, command);
        self.drain();
    }

    pub fn add_fault(&mut self, rule: FaultRule) {
        self.faults.push(rule);
    }

    pub fn power_off(&mut self, id: &TerminalId) {
        let now = self.now;
        self.terminal(id).power_off(now);
        self.drain();
    }

    pub fn power_on(&mut self, id: &TerminalId) {
        let now = self.now;
        self.terminal(id).power_on(now);
        self.drain();
    }

    /// Crashes the switch: in-flight state is lost, persistent state kept.
    pub fn crash_switch(&mut self) {
        self.switch_up = false;
    }

    /// Restarts the switch from its persistent state.
    pub fn restart_switch(&mut self) {
        let persistent = self.switch.persistent();
        let config = self.switch.config().clone();
        self.switch = Switch::restart(config, persistent, self.now)
            .expect("a config that loaded once loads again");
        self.switch_up = true;
        self.drain();
    }

    /// Frames in flight now.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut earliest = self.flights.keys().next().map(|(at, _)| *at);
        let mut consider = |deadline: Option<Instant>| {
            if let Some(deadline) = deadline {
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            }
        };
        for terminal in self.terminals.values() {
            consider(terminal.poll_timeout());
        }
        if self.switch_up {
            consider(self.switch.poll_timeout());
        }
        consider(self.network.poll_timeout());
        for issuer in &self.issuers {
            consider(issuer.poll_timeout());
        }
        earliest
    }

    /// Processes everything due at the next deadline, if it is not after
    /// `limit`. Returns false when nothing is due by then.
    pub fn step(&mut self, limit: Instant) -> bool {
        let Some(at) = self.next_deadline() else { return false };
        if at > limit {
            return false;
        }
        assert!(at >= self.now, "time runs forward");
        self.now = at;
        let now = self.now;
        while let Some(entry) = self.flights.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let flight = entry.remove();
            self.deliver(flight);
        }
        for terminal in self.terminals.values_mut() {
            if terminal.poll_timeout().is_some_and(|t| t <= now) {
                terminal.handle_timeout(now);
            }
        }
        if self.switch_up && self.switch.poll_timeout().is_some_and(|t| t <= now) {
            self.switch.handle_timeout(now);
        }
        if self.network.poll_timeout().is_some_and(|t| t <= now) {
            self.network.handle_timeout(now);
        }
        for issuer in &mut self.issuers {
            if issuer.poll_timeout().is_some_and(|t| t <= now) {
                issuer.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `duration` from now has passed.
    pub fn run_for(&mut self, duration: Duration) {
        let limit = self.now + duration;
        let mut steps = 0;
        while self.step(limit) {
            steps += 1;
            assert!(steps < STEPS_PER_CALL_MAX, "a story that never settles");
        }
        self.now = self.now.max(limit);
    }

    /// Runs until no frame is in flight and no deadline falls within `horizon`.
    pub fn settle(&mut self, horizon: Duration) {
        let mut steps = 0;
        while self.step(self.now + horizon) {
            steps += 1;
            assert!(steps < STEPS_PER_CALL_MAX, "a story that never settles");
        }
    }

    fn deliver(&mut self, flight: Flight) {
        let now = self.now;
        let Flight { from, to, bytes } = flight;
        let (mti, stan) = peek(&bytes);
        let delivered = match to {
            Node::Terminal(id) => match self.terminals.get_mut(&id) {
                Some(terminal) if terminal.is_powered() => {
                    terminal.handle_message(now, from, &bytes);
                    true
                }
                _ => false,
            },
            Node::Switch if self.switch_up => {
                self.switch.handle_message(now, from, &bytes);
                true
            }
            Node::Switch => false,
            Node::Network => {
                self.network.handle_message(now, from, &bytes);
                true
            }
            Node::Issuer(index) => match self.issuers.get_mut(usize::from(index)) {
                Some(issuer) => {
                    issuer.handle_message(now, from, &bytes);
                    true
                }
                None => false,
            },
        };
        if !delivered {
            let bytes = bytes.to_vec();
            self.record(Record::Frame { at: now, from, to, mti, stan, fate: Fate::Lost, bytes });
        }
    }

    fn send(&mut self, from: Node, transmit: Transmit) {
        let Transmit { to, mut bytes } = transmit;
        let (mti, stan) = peek(&bytes);
        let sent = bytes.clone();
        let mut action = None;
        for rule in &mut self.faults {
            if rule.matching.matches(from, to, mti, stan) {
                if let Some(fired) = rule.fire() {
                    action = Some(fired);
                    break;
                }
            }
        }
        let mut due = self.now + self.latency;
        let mut copies = 1;
        let fate = match action {
            None => Fate::Delivered,
            Some(FaultAction::Drop) => {
                copies = 0;
                Fate::Dropped
            }
            Some(FaultAction::Delay(extra)) => {
                due = due + extra;
                Fate::Delayed
            }
            Some(FaultAction::Duplicate) => {
                copies = 2;
                Fate::Duplicated
            }
            Some(FaultAction::Corrupt { byte_from_end }) => {
                let index = bytes.len().saturating_sub(byte_from_end.max(1));
                bytes[index] ^= 0x01;
                Fate::Corrupted
            }
        };
        self.record(Record::Frame { at: self.now, from, to, mti, stan, fate, bytes: sent });
        for _ in 0..copies {
            self.sequence += 1;
            self.flights.insert((due, self.sequence), Flight { from, to, bytes: bytes.clone() });
        }
        assert!(self.flights.len() <= FLIGHTS_MAX, "frames in flight over {FLIGHTS_MAX}");
    }

    fn record(&mut self, record: Record) {
        assert!(self.records.len() < RECORDS_MAX, "records over {RECORDS_MAX}");
        self.records.push(record);
    }

    /// Moves every pending transmit into flight and every event into the records.
    fn drain(&mut self) {
        let mut moved = true;
        while moved {
            moved = false;
            let mut outbound: Vec<(Node, Transmit)> = Vec::new();
            let ids: Vec<TerminalId> = self.terminals.keys().copied().collect();
            for id in ids {
                let terminal = self.terminals.get_mut(&id).expect("listed");
                while let Some(transmit) = terminal.poll_transmit() {
                    outbound.push((Node::Terminal(id), transmit));
                }
                while let Some(event) = terminal.poll_event() {
                    self.records.push(Record::Terminal(event));
                }
            }
            if self.switch_up {
                while let Some(transmit) = self.switch.poll_transmit() {
                    outbound.push((Node::Switch, transmit));
                }
                while let Some(event) = self.switch.poll_event() {
                    self.records.push(Record::Switch(event));
                }
            }
            while let Some(transmit) = self.network.poll_transmit() {
                outbound.push((Node::Network, transmit));
            }
            while let Some(event) = self.network.poll_event() {
                self.records.push(Record::Network(event));
            }
            for (index, issuer) in self.issuers.iter_mut().enumerate() {
                while let Some(transmit) = issuer.poll_transmit() {
                    outbound.push((Node::Issuer(index as u16), transmit));
                }
                while let Some(event) = issuer.poll_event() {
                    self.records.push(Record::Issuer(index as u16, event));
                }
            }
            for (from, transmit) in outbound {
                moved = true;
                self.send(from, transmit);
            }
        }
    }

    /// Frames sent so far, in order, with their fate.
    pub fn frames(
        &self,
    ) -> impl Iterator<Item = (Node, Node, Option<Mti>, Option<u32>, Fate)> + '_ {
        self.records.iter().filter_map(|record| match record {
            Record::Frame { from, to, mti, stan, fate, .. } => {
                Some((*from, *to, *mti, *stan, *fate))
            }
            _ => None,
        })
    }

    /// Decodes a frame for inspection in stories.
    pub fn decode(bytes: &[u8]) -> Option<Message> {
        Frame::decode(bytes).ok().map(|frame| frame.message)
    }
}
