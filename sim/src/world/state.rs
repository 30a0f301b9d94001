//! The world every host shares: the actors (so they outlive a host crash),
//! the connections between them, the per-terminal line shims, the commands
//! waiting for each actor, and the trace.
//!
//! Turmoil runs every host on one thread (a `LocalSet`), so the state is an
//! `Rc<RefCell<World>>`; no borrow is ever held across an `.await`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use possim_models::actor::{Actor, Node, TradeKey};
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::{Frame, ResponseCode};
use possim_models::issuer::{Issuer, IssuerCommand};
use possim_models::network::{Network, NetworkCommand, NetworkEventKind};
use possim_models::switch::{Switch, SwitchCommand, SwitchEventKind, SwitchQuirk};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::{Terminal, TerminalCommand};
use possim_models::time::Instant;
use tokio::sync::{mpsc, Notify};

/// Frames waiting on one connection's writer; past it the frame is lost.
pub(crate) const CONNECTION_FRAMES_MAX: usize = 1024;

use super::line::{FrameHeader, Line, LineVerdict};
use crate::frame_facts::FrameFacts;
use crate::trace::{Fate, FaultCause, FaultKind, FaultRecord, FrameRecord, Trace, TraceEvent};

pub(crate) type Shared = Rc<RefCell<World>>;

/// Commands waiting for an actor's driver, bounded per actor.
pub(crate) const COMMANDS_MAX: usize = 4096;

#[derive(Debug)]
pub(crate) enum Command {
    Terminal(TerminalCommand),
    Switch(SwitchCommand),
    Network(NetworkCommand),
    Issuer(IssuerCommand),
}

/// What a line shim asks of the world as a frame passes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A protocol-placed power cut, which the runner makes at its next step.
    PowerCut(PowerCut),
    /// A placed `settlement_unbalanced`: the switch's count of this 0500's
    /// batch is to disagree with the terminal's. The world tells the switch
    /// at once, while the 0500 is still on the line.
    SettlementDisagree { terminal: TerminalId, stan: u32 },
    /// A placed `cutoff_during_settlement`: the network's cutoff window,
    /// which the runner starts at its next step (it owns the window's end).
    Cutoff { for_ms: u64, why: String },
    /// A placed tamper lock, which the runner makes at its next step.
    Tamper(PlacedTamper),
    /// A placed `upload_not_reconciled` or `reconciliation_error`: the
    /// switch answers this request (and its copies) `code` itself. Told at
    /// once, while the request is still on the line.
    HostAnswers { terminal: TerminalId, stan: u32, code: ResponseCode, why: String },
}

/// A protocol-placed power cut waiting for the runner's next step (the
/// world cannot cut power itself: the runner owns the terminal's restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PowerCut {
    pub terminal: TerminalId,
    pub off_ms: u64,
    pub why: String,
}

/// A protocol-placed tamper lock waiting for the runner's next step (the
/// runner owns the technician's unlock on the day's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlacedTamper {
    pub terminal: TerminalId,
    pub unlock_after_ms: u64,
    pub why: String,
}

/// What the world hands the runner as it happens, besides recording it in
/// the trace: the runner never reads the trace back during a run. Drained
/// by the runner after every step.
#[derive(Debug, Clone)]
pub(crate) enum WorldEvent {
    /// A terminal reported something (every event, in the trace's order).
    Terminal { terminal: TerminalId, kind: TerminalEventKind },
    /// The switch handed over its clearing file.
    ClearingSubmitted { keys: Vec<TradeKey> },
    /// The network cleared one issuer's trades.
    ClearingList { issuer: u16, keys: Vec<TradeKey> },
    /// A protocol-placed power cut, which the runner makes at its next step
    /// (the world cannot cut power itself: the runner owns the restart).
    PowerCut(PowerCut),
    /// A placed cutoff window, which the runner starts at its next step (it
    /// owns the window's end): how long, and the placement's words.
    Cutoff { for_ms: u64, why: String },
    /// A placed tamper lock, which the runner makes at its next step.
    Tamper(PlacedTamper),
}

/// Events waiting for the runner's next drain. A step records at most what
/// the trace can hold, so the trace's bound bounds this queue too.
pub(crate) const WORLD_EVENTS_MAX: usize = crate::trace::TRACE_RECORDS_MAX;

/// A frame to send later (a delayed line): the shell that flushed spawns it.
#[derive(Debug)]
pub(crate) struct Later {
    pub delay_ms: u64,
    pub owner: Node,
    pub to: Node,
    pub bytes: Vec<u8>,
}

pub(crate) struct TerminalSlot {
    pub terminal: Terminal,
    pub farm: String,
    pub line: Line,
}

pub(crate) struct World {
    /// Business time at simulated time zero (the trading day's opening).
    pub offset_ms: u64,
    pub trace: Trace,
    pub switch: Switch,
    pub switch_up: bool,
    pub network: Network,
    /// By index: a scenario's indexes need not run 0, 1, 2, ... (`{0, 5}`
    /// is two issuers).
    pub issuers: BTreeMap<u16, Issuer>,
    /// An issuer that is silent drops everything it would send.
    pub issuer_silent: BTreeMap<u16, bool>,
    pub terminals: BTreeMap<TerminalId, TerminalSlot>,
    /// (owner, peer) -> the connection the owner writes to the peer on.
    pub routes: BTreeMap<(Node, Node), mpsc::Sender<Vec<u8>>>,
    /// Notified to make a terminal drop its connection and dial again.
    pub resets: BTreeMap<TerminalId, Rc<Notify>>,
    /// The same for a backbone client connection (owner, peer).
    pub link_resets: BTreeMap<(Node, Node), Rc<Notify>>,
    pub wakers: BTreeMap<Node, Rc<Notify>>,
    pub commands: BTreeMap<Node, VecDeque<Command>>,
    /// Host pairs (sorted names) with no traffic, and with traffic held.
    pub partitioned: BTreeSet<(String, String)>,
    pub held: BTreeSet<(String, String)>,
    /// What happened since the runner last drained it ([`WorldEvent`]).
    pub events: VecDeque<WorldEvent>,
    /// What every task and sleep of the shells reports, for idle skipping.
    pub quiet: Rc<super::quiet::Quiet>,
}

pub(crate) fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl World {
    pub fn host_of(&self, node: Node) -> String {
        match node {
            Node::Switch => "switch".into(),
            Node::Network => "network".into(),
            Node::Issuer(index) => format!("issuer-{index}"),
            Node::Terminal(id) => {
                self.terminals.get(&id).map_or_else(|| "farm-?".into(), |s| s.farm.clone())
            }
        }
    }

    pub fn waker(&mut self, node: Node) -> Rc<Notify> {
        self.wakers.entry(node).or_insert_with(|| Rc::new(Notify::new())).clone()
    }

    pub fn wake(&self, node: Node) {
        if let Some(waker) = self.wakers.get(&node) {
            waker.notify_one();
        }
    }

    /// After a partition between hosts `a` and `b` is repaired, every
    /// connection that crossed it dials again: segments lost mid-stream would
    /// otherwise stall it forever (turmoil's TCP never retransmits), as a
    /// real element's dead-connection detection would.
    pub fn redial_across(&mut self, a: &str, b: &str) {
        let across = pair(a, b);
        for (id, slot) in &self.terminals {
            if pair(&slot.farm, "switch") == across {
                if let Some(reset) = self.resets.get(id) {
                    reset.notify_one();
                }
            }
        }
        for ((owner, peer), reset) in &self.link_resets {
            if pair(&self.host_of(*owner), &self.host_of(*peer)) == across {
                reset.notify_one();
            }
        }
    }

    pub fn command(&mut self, node: Node, command: Command) {
        let queue = self.commands.entry(node).or_default();
        assert!(queue.len() < COMMANDS_MAX, "commands for {node} over {COMMANDS_MAX}");
        queue.push_back(command);
        self.wake(node);
    }

    /// Hands `event` to the runner.
    pub fn event(&mut self, event: WorldEvent) {
        assert!(self.events.len() < WORLD_EVENTS_MAX, "world events over {WORLD_EVENTS_MAX}");
        self.events.push_back(event);
    }

    pub fn fault(&mut self, at: Instant, record: FaultRecord) {
        self.trace.push(at, TraceEvent::Fault(record));
    }

    /// Whether the hosts of `from` and `to` are partitioned. Nothing is
    /// written into a partition: turmoil would drop it too, and its TCP never
    /// retransmits, so one dropped segment would stall the stream forever
    /// after the repair. Every path that writes asks here first.
    fn partitioned(&self, from: Node, to: Node) -> bool {
        !self.partitioned.is_empty()
            && self.partitioned.contains(&pair(&self.host_of(from), &self.host_of(to)))
    }

    fn is_up(&self, node: Node) -> bool {
        match node {
            Node::Switch => self.switch_up,
            Node::Terminal(id) => {
                self.terminals.get(&id).is_some_and(|slot| slot.terminal.is_powered())
            }
            Node::Network | Node::Issuer(_) => true,
        }
    }

    /// The next deadline of `node`'s actor.
    pub fn deadline(&self, node: Node) -> Option<Instant> {
        match node {
            Node::Switch if self.switch_up => self.switch.poll_timeout(),
            Node::Switch => None,
            Node::Network => self.network.poll_timeout(),
            Node::Issuer(index) => self.issuers.get(&index).and_then(Issuer::poll_timeout),
            Node::Terminal(id) => {
                self.terminals.get(&id).and_then(|slot| slot.terminal.poll_timeout())
            }
        }
    }

    /// Runs `body` inside the log span of `node`'s actor on its host; only
    /// a call when logs are off ([`crate::logs`]).
    fn in_span<T>(&mut self, node: Node, body: impl FnOnce(&mut World) -> T) -> T {
        if !crate::logs::spans_on() {
            return body(self);
        }
        let host = self.host_of(node);
        let (_host, actor) = crate::logs::actor_span(node, || host);
        actor.in_scope(|| body(self))
    }

    /// Applies queued commands, fires a due deadline, and flushes.
    pub fn drive(&mut self, now: Instant, node: Node) -> Vec<Later> {
        let commands: Vec<Command> =
            self.commands.get_mut(&node).map(|q| q.drain(..).collect()).unwrap_or_default();
        for command in commands {
            match (node, command) {
                (Node::Terminal(id), Command::Terminal(command)) => {
                    if let Some(slot) = self.terminals.get_mut(&id) {
                        slot.terminal.handle_command(now, command);
                    }
                }
                (Node::Switch, Command::Switch(command)) => {
                    self.switch.handle_command(now, command)
                }
                (Node::Network, Command::Network(command)) => {
                    self.network.handle_command(now, command)
                }
                (Node::Issuer(index), Command::Issuer(command)) => {
                    if let Some(issuer) = self.issuers.get_mut(&index) {
                        issuer.handle_command(now, command);
                    }
                }
                (node, command) => panic!("command {command:?} is not for {node}"),
            }
        }
        if self.deadline(node).is_some_and(|deadline| deadline <= now) {
            match node {
                Node::Switch => self.switch.handle_timeout(now),
                Node::Network => self.network.handle_timeout(now),
                Node::Issuer(index) => {
                    if let Some(issuer) = self.issuers.get_mut(&index) {
                        issuer.handle_timeout(now);
                    }
                }
                Node::Terminal(id) => {
                    if let Some(slot) = self.terminals.get_mut(&id) {
                        slot.terminal.handle_timeout(now);
                    }
                }
            }
        }
        self.flush(now, node)
    }

    /// A frame from `from` reaches `to`'s actor (after any line shim).
    pub fn deliver(&mut self, now: Instant, to: Node, from: Node, bytes: &[u8]) -> Vec<Later> {
        if !self.is_up(to) {
            let frame = FrameRecord::new(from, to, FrameFacts::of(bytes), Fate::Lost);
            self.trace.push(now, TraceEvent::Frame(Box::new(frame)));
            return Vec::new();
        }
        match to {
            Node::Switch => self.switch.handle_message(now, from, bytes),
            Node::Network => self.network.handle_message(now, from, bytes),
            Node::Issuer(index) => {
                if let Some(issuer) = self.issuers.get_mut(&index) {
                    issuer.handle_message(now, from, bytes);
                }
            }
            Node::Terminal(id) => {
                if let Some(slot) = self.terminals.get_mut(&id) {
                    slot.terminal.handle_message(now, from, bytes);
                }
            }
        }
        self.wake(to);
        self.flush(now, to)
    }

    /// Moves `node`'s events into the trace and its frames onto the wire.
    pub fn flush(&mut self, now: Instant, node: Node) -> Vec<Later> {
        self.in_span(node, |world| world.flush_actor(now, node))
    }

    fn flush_actor(&mut self, now: Instant, node: Node) -> Vec<Later> {
        let mut outbound = Vec::new();
        match node {
            Node::Switch => {
                while let Some(event) = self.switch.poll_event() {
                    if let SwitchEventKind::ClearingSubmitted { keys } = &event.kind {
                        self.event(WorldEvent::ClearingSubmitted { keys: keys.clone() });
                    }
                    self.trace.push(event.at, TraceEvent::Switch(event));
                }
                while let Some(transmit) = self.switch.poll_transmit() {
                    outbound.push(transmit);
                }
            }
            Node::Network => {
                while let Some(event) = self.network.poll_event() {
                    if let NetworkEventKind::ClearingList { issuer, keys } = &event.kind {
                        let (issuer, keys) = (*issuer, keys.clone());
                        self.event(WorldEvent::ClearingList { issuer, keys });
                    }
                    self.trace.push(event.at, TraceEvent::Network(event));
                }
                while let Some(transmit) = self.network.poll_transmit() {
                    outbound.push(transmit);
                }
            }
            Node::Issuer(index) => {
                let mut events = Vec::new();
                if let Some(issuer) = self.issuers.get_mut(&index) {
                    while let Some(event) = issuer.poll_event() {
                        events.push(event);
                    }
                    while let Some(transmit) = issuer.poll_transmit() {
                        outbound.push(transmit);
                    }
                }
                for event in events {
                    self.issuer_event_hooks(&event.kind);
                    self.trace.push(event.at, TraceEvent::Issuer { issuer: index, event });
                }
            }
            Node::Terminal(id) => {
                let Some(slot) = self.terminals.get_mut(&id) else { return Vec::new() };
                let mut events = Vec::new();
                while let Some(event) = slot.terminal.poll_event() {
                    events.push(event);
                }
                while let Some(transmit) = slot.terminal.poll_transmit() {
                    outbound.push(transmit);
                }
                for event in events {
                    let kind = event.kind.clone();
                    self.event(WorldEvent::Terminal { terminal: event.terminal, kind });
                    self.trace.push(event.at, TraceEvent::Terminal(event));
                }
            }
        }
        let mut later = Vec::new();
        for transmit in outbound {
            later.extend(self.send(now, node, transmit.to, transmit.bytes));
        }
        later
    }

    /// Protocol faults placed on the issuer's approval of a terminal's trade.
    fn issuer_event_hooks(&mut self, kind: &possim_models::issuer::IssuerEventKind) {
        if let possim_models::issuer::IssuerEventKind::Approved { key, .. } = kind {
            if let Some(slot) = self.terminals.get_mut(&key.terminal) {
                if let Some((off_ms, why)) = slot.line.on_issuer_approved(key.stan.value()) {
                    let cut = PowerCut { terminal: key.terminal, off_ms, why };
                    self.event(WorldEvent::PowerCut(cut));
                }
            }
        }
    }

    /// Puts one frame on its way, through the sender's line shim when the
    /// sender or receiver is a terminal.
    fn send(&mut self, now: Instant, owner: Node, to: Node, bytes: Vec<u8>) -> Vec<Later> {
        // A terminal's line shim judges (and records) its frames: outbound
        // here, inbound when they arrive in the farm.
        if let Node::Terminal(id) = owner {
            // Decoded before the shim may flip a bit: the record says what was sent.
            let (facts, header) = decode_once(&bytes);
            let verdict = match self.terminals.get_mut(&id) {
                Some(slot) => slot.line.outbound(now, header, bytes),
                None => return Vec::new(),
            };
            return self.apply_line(now, owner, to, facts, verdict);
        }
        if let Node::Terminal(_) = to {
            if self.partitioned(owner, to) {
                return self.record_and_drop(now, owner, to, &bytes, Fate::Dropped);
            }
            // Recorded when it reaches the farm; decoded here only if it cannot go.
            let unsent = match self.routes.get(&(owner, to)) {
                Some(sender) => sender.try_send(bytes).err().map(|error| error.into_inner()),
                None => Some(bytes),
            };
            if let Some(bytes) = unsent {
                return self.record_and_drop(now, owner, to, &bytes, Fate::Lost);
            }
            return Vec::new();
        }
        if let Node::Issuer(index) = owner {
            if self.issuer_silent.get(&index) == Some(&true) {
                return self.record_and_drop(now, owner, to, &bytes, Fate::Dropped);
            }
        }
        if !self.is_up(to) && !matches!(to, Node::Terminal(_)) {
            return self.record_and_drop(now, owner, to, &bytes, Fate::Lost);
        }
        if self.partitioned(owner, to) {
            return self.record_and_drop(now, owner, to, &bytes, Fate::Dropped);
        }
        let held = !self.held.is_empty()
            && self.held.contains(&pair(&self.host_of(owner), &self.host_of(to)));
        let fate = if held { Fate::Delayed { by_ms: 0 } } else { Fate::Delivered };
        self.write(now, owner, to, bytes, fate);
        Vec::new()
    }

    fn record_and_drop(
        &mut self,
        now: Instant,
        from: Node,
        to: Node,
        bytes: &[u8],
        fate: Fate,
    ) -> Vec<Later> {
        let frame = FrameRecord::new(from, to, FrameFacts::of(bytes), fate);
        self.trace.push(now, TraceEvent::Frame(Box::new(frame)));
        Vec::new()
    }

    fn write(&mut self, now: Instant, from: Node, to: Node, bytes: Vec<u8>, fate: Fate) {
        let facts = FrameFacts::of(&bytes);
        let fate = match self.routes.get(&(from, to)) {
            Some(sender) if sender.try_send(bytes).is_ok() => fate,
            _ => Fate::Lost,
        };
        self.trace.push(now, TraceEvent::Frame(Box::new(FrameRecord::new(from, to, facts, fate))));
    }

    /// Applies a line shim's verdict: records the fate and the faults, and
    /// sends each copy now or later.
    pub fn apply_line(
        &mut self,
        now: Instant,
        from: Node,
        to: Node,
        facts: FrameFacts,
        verdict: LineVerdict,
    ) -> Vec<Later> {
        for fault in verdict.faults {
            self.fault(now, fault);
        }
        for request in verdict.requests {
            match request {
                Request::SettlementDisagree { terminal, stan } => {
                    let quirk = SwitchQuirk {
                        terminal,
                        stan,
                        answer: None,
                        sign_in_again_header: false,
                        bad_key_check: false,
                        not_balanced: true,
                    };
                    self.command(Node::Switch, Command::Switch(SwitchCommand::Quirk(quirk)));
                }
                Request::PowerCut(cut) => self.event(WorldEvent::PowerCut(cut)),
                Request::Tamper(tamper) => self.event(WorldEvent::Tamper(tamper)),
                Request::HostAnswers { terminal, stan, code, why } => {
                    let quirk = SwitchQuirk {
                        terminal,
                        stan,
                        answer: Some(code),
                        sign_in_again_header: false,
                        bad_key_check: false,
                        not_balanced: false,
                    };
                    self.command(Node::Switch, Command::Switch(SwitchCommand::Quirk(quirk)));
                    let record = FaultRecord {
                        kind: FaultKind::HostAnswerCode,
                        target: terminal.trimmed().to_string(),
                        cause: FaultCause::Protocol(why),
                        frame: None,
                    };
                    self.fault(now, record);
                }
                Request::Cutoff { for_ms, why } => self.event(WorldEvent::Cutoff { for_ms, why }),
            }
        }
        let mut verdict_fate = verdict.fate;
        let mut copies = verdict.copies;
        if let Node::Terminal(_) = from {
            // Nothing to carry it: the switch is down or the line not connected.
            if !copies.is_empty() && (!self.is_up(to) || !self.routes.contains_key(&(from, to))) {
                verdict_fate = Fate::Lost;
                copies.clear();
            } else if !copies.is_empty() && self.partitioned(from, to) {
                verdict_fate = Fate::Dropped;
                copies.clear();
            }
        }
        let verdict =
            LineVerdict { copies, fate: verdict_fate, faults: Vec::new(), requests: Vec::new() };
        let frame = FrameRecord::new(from, to, facts, verdict.fate);
        self.trace.push(now, TraceEvent::Frame(Box::new(frame)));
        let mut later = Vec::new();
        for (delay_ms, bytes) in verdict.copies {
            later.push(Later { delay_ms, owner: from, to, bytes });
        }
        later
    }

    /// Sends a frame whose delay has passed: outbound to the wire, or inbound
    /// into the terminal.
    pub fn send_now(&mut self, now: Instant, later: Later) -> Vec<Later> {
        if let Node::Terminal(id) = later.to {
            if later.owner != Node::Terminal(id) {
                return self.deliver(now, later.to, later.owner, &later.bytes);
            }
        }
        let blocked = if !self.is_up(later.to) {
            Some(Fate::Lost)
        } else if self.partitioned(later.owner, later.to) {
            Some(Fate::Dropped)
        } else {
            None
        };
        let sent = blocked.is_none()
            && self
                .routes
                .get(&(later.owner, later.to))
                .is_some_and(|sender| sender.try_send(later.bytes.clone()).is_ok());
        if !sent {
            // A copy the terminal's line held back (a late duplicate, a
            // delayed frame) was recorded as it left the terminal; recorded
            // again here it would read as a second send of the terminal's,
            // at a moment it sent nothing (hosts.yaml, swarm seed 245: a
            // late copy of an answered sale, lost to the crashed switch,
            // read as a new trade sent before a pending reversal). It is
            // simply lost, as the record of its leaving says it might be.
            if let Node::Terminal(_) = later.owner {
                return Vec::new();
            }
            let fate = blocked.unwrap_or(Fate::Lost);
            return self.record_and_drop(now, later.owner, later.to, &later.bytes, fate);
        }
        Vec::new()
    }

    /// A frame for terminal `id` arrived in its farm: through the shim.
    pub fn arrive_at_terminal(
        &mut self,
        now: Instant,
        id: TerminalId,
        bytes: Vec<u8>,
    ) -> Vec<Later> {
        self.in_span(Node::Terminal(id), |world| world.arrive(now, id, bytes))
    }

    fn arrive(&mut self, now: Instant, id: TerminalId, bytes: Vec<u8>) -> Vec<Later> {
        let (facts, header) = decode_once(&bytes);
        let verdict = match self.terminals.get_mut(&id) {
            Some(slot) => slot.line.inbound(now, header, bytes),
            None => return Vec::new(),
        };
        self.apply_line(now, Node::Switch, Node::Terminal(id), facts, verdict)
    }
}

/// One decode of a terminal's frame, for both the trace and the line shim.
fn decode_once(bytes: &[u8]) -> (FrameFacts, FrameHeader) {
    let frame = Frame::decode(bytes).ok();
    let message = frame.as_ref().map(|frame| &frame.message);
    (FrameFacts::of_decoded(message, bytes.len()), FrameHeader::of(message))
}
