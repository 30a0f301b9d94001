//! The acquirer side of `possim serve`: switch, network and issuers wired as
//! in the in-memory harness, with the scenario's backbone latency between
//! them, the fault plan on each terminal's answers, and the terminal watcher
//! fed with every request and every answer's fate. Each frame is judged for
//! the listener ([`FrameVerdict`]) and a terminal id is bound to the
//! connection that proved its keys ([`bindings`](super::bindings)).
//! Answers go back to the connection their request came on; an answer
//! whose connection is gone goes to the connection now bound to its
//! terminal, or is lost. An unauthenticated connection therefore only ever
//! reads answers to frames it sent itself. For `certify --serve` it also
//! crashes and restarts its switch as the simulator does, hands the switch
//! late copies of a request, cuts a terminal's power at a message the
//! switch would answer at once, and records a line fault on an arriving
//! frame. Sans-IO: connections are
//! numbers, time is passed in (wall time since start mapped to the models'
//! `Instant` from the scenario's opening hour), and the shell polls
//! [`HostOutput`]s.
//!
//! ```
//! use possim_sim::live::host::LiveHost;
//! use possim_sim::scenario::parse_and_compile;
//! let text = "name: t\nmerchants: [{id: '898100000000001'}]\n\
//!             issuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!             card_groups: [{bin: '622202', count: 2, balance_fen: 100000}]\n";
//! let scenario = parse_and_compile(text, "t.yaml").unwrap();
//! let mut host = LiveHost::new(&scenario).unwrap();
//! let start = host.start();
//! host.on_frame(start, 1, &[0x00, 0x03, 1, 2, 3]); // not CUP: the connection is closed
//! assert!(matches!(host.poll_output(), Some(possim_sim::live::host::HostOutput::Log { .. })));
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use possim_models::actor::{Actor, Node};
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::subfields::SettlementResult;
use possim_models::iso8583::trade::TradeResponse;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::{Frame, Header, ResponseCode};
use possim_models::issuer::Issuer;
use possim_models::network::{Network, NetworkCommand};
use possim_models::switch::{Authentication, Switch, SwitchConfig, SwitchEventKind};
use possim_models::time::{Calendar, Instant};
use possim_models::wire::{seal_with_header, SOFTWARE_VERSION};

use super::bindings::{Bindings, Claim};
use super::faults::{AnswerVerdict, RequestVerdict, ServeFaults};
use super::terminal_checks::{AnswerFate, TerminalWatch};
use crate::frame_facts::FrameFacts;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::Backbone;
use crate::scenario::model::ProtocolFault;
use crate::trace::{Fate, FaultCause, FaultKind, FaultRecord, FrameRecord, Trace, TraceEvent};

/// A connection, numbered by the listener.
pub type ConnId = u64;

/// Frames in flight between elements or held for a terminal at once.
pub const FLIGHTS_MAX: usize = 100_000;
/// Outputs waiting for the shell.
pub const OUTPUTS_MAX: usize = 100_000;
/// Requests remembered: when each arrived (for delayed answers) and, if
/// it was authenticated, the connection its answer goes back to.
const ARRIVALS_MAX: usize = 10_000;
/// Passes of the drain loop per input: each pass moves frames one hop.
const DRAIN_PASSES_MAX: usize = 10_000;

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum HostOutput {
    Send {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Close {
        conn: ConnId,
        reason: String,
    },
    /// What the host made of a frame of `conn`, for the connection table.
    Judged {
        conn: ConnId,
        verdict: FrameVerdict,
    },
    /// A decision to log: event name and fields.
    Log {
        event: &'static str,
        fields: Vec<(&'static str, serde_json::Value)>,
    },
}

/// What a frame earned its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Served (answered, forwarded, or dropped by the fault plan).
    Accepted,
    /// Served, and its MAC passed the switch's gate: the connection speaks
    /// for that terminal.
    Authenticated,
    /// Answered A0: a MAC that is not the terminal's.
    BadMac,
    /// Garbage, a refusal (97, 77, 30, ...), or a claim on a terminal bound
    /// to another connection.
    Refused,
}

/// A request as remembered for its answer.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Instant,
    /// The connection that sent it, if the frame was authenticated: only
    /// then may an answer that comes later follow it there.
    origin: Option<ConnId>,
}

#[derive(Debug)]
enum Flight {
    Hop {
        from: Node,
        to: Node,
        bytes: Vec<u8>,
    },
    /// A delayed answer to a terminal, and the connection it was meant for.
    Answer {
        terminal: TerminalId,
        conn: Option<ConnId>,
        bytes: Vec<u8>,
    },
    /// A late copy of a terminal's request reaching the switch again.
    Copy {
        terminal: TerminalId,
        bytes: Vec<u8>,
    },
}

/// The moment of a power cut the host makes itself, as a terminal's
/// message arrives: one the switch would answer before anyone outside the
/// host could act on it (a batch upload is answered at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutAt {
    /// The terminal's first batch upload (0320).
    BatchUpload,
    /// The terminal's `nth` message (from 1), whatever it is: a battery
    /// that runs out as it sends it.
    Message { nth: u32 },
}

/// A power cut armed on a terminal's message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArmedCut {
    terminal: TerminalId,
    at: CutAt,
    /// The fault record's cause; `None`: none is recorded (a flat
    /// battery is the terminal's own doing, which the simulator does not
    /// record as a fault either).
    words: Option<String>,
    /// The caller's number for it, handed back when it lands.
    id: usize,
}

/// Power cuts armed at once; a live case has a handful.
const CUTS_MAX: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("the scenario's {what} does not build: {why}")]
    Config { what: &'static str, why: String },
}

/// Switch, network and issuers on real time.
#[derive(Debug)]
pub struct LiveHost {
    switch: Switch,
    switch_config: SwitchConfig,
    /// False between a scheduled crash and its restart: nothing reaches the
    /// switch and it keeps no time.
    switch_up: bool,
    armed_cuts: Vec<ArmedCut>,
    /// The armed cuts that landed, by the caller's number, not yet taken.
    cuts_landed: Vec<usize>,
    /// Messages each terminal with an armed cut sent (at most the armed
    /// cuts' terminals).
    messages_from: BTreeMap<TerminalId, u32>,
    /// The fate a line fault gave the frame now arriving (a flipped bit).
    line_fate: Option<Fate>,
    network: Network,
    /// By their index in the scenario, which need not run 0, 1, 2, ...
    issuers: BTreeMap<u16, Issuer>,
    backbone: Backbone,
    calendar: Calendar,
    start: Instant,
    flights: BTreeMap<(Instant, u64), Flight>,
    sequence: u64,
    faults: ServeFaults,
    watch: TerminalWatch,
    bindings: Bindings,
    /// Each scenario terminal that spoke, and the connection its latest
    /// message came on: whether a terminal ever connected, and whether one
    /// that disconnected came back. At most the scenario's terminals.
    last_conn: BTreeMap<TerminalId, ConnId>,
    /// Connections that sent a frame and have not closed; bounded by the
    /// listener's connection table.
    live: BTreeSet<ConnId>,
    /// The frame being handled, and its terminal: every answer the switch
    /// gives while handling it is that frame's.
    current: Option<(ConnId, TerminalId)>,
    /// The switch refused or dropped the frame being handled.
    current_refused: bool,
    timeouts_ms: BTreeMap<TerminalId, u64>,
    arrivals: BTreeMap<(TerminalId, u32), Arrival>,
    outputs: VecDeque<HostOutput>,
    /// What the host saw, as the simulator records it (frames on every
    /// hop, its elements' events, the faults it applied); `None`: not
    /// recorded (`serve` judges with its watcher alone).
    trace: Option<Trace>,
    /// Issuers made silent (a scheduled `issuer_silent`): what they send is
    /// dropped, as the simulator's world drops it.
    silent: BTreeSet<u16>,
    /// Terminals whose power is cut (`certify --serve` tells the host at
    /// the moment it tells the operator): an answer meant for one is lost,
    /// as the simulated terminal that is off loses it, however fast the
    /// person at the real one is.
    off: BTreeSet<TerminalId>,
    /// Online trade requests received.
    pub trades_received: u64,
    pub frames_received: u64,
    pub frames_rejected: u64,
}

fn placeholder() -> TerminalId {
    TerminalId::new("????????").expect("eight printable characters")
}

/// An element's event as a log line (`crate::logs`); nothing is built
/// when logs are off.
fn log_event(node: Node, event: TraceEvent) {
    if crate::logs::actor_events_on() {
        crate::logs::in_actor(node, || "possim".into(), || crate::trace::log::live_event(event));
    }
}

fn json(text: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(text.into())
}

impl LiveHost {
    pub fn new(scenario: &CompiledScenario) -> Result<LiveHost, HostError> {
        let config = |what, why: String| HostError::Config { what, why };
        let start = Instant::from_millis(u64::from(scenario.run.open_hour) * 3_600_000);
        let switch = Switch::new(scenario.switch.clone(), start)
            .map_err(|e| config("switch", e.to_string()))?;
        let network = Network::new(scenario.network.clone(), start)
            .map_err(|e| config("network", e.to_string()))?;
        let issuers = scenario
            .issuers
            .iter()
            .map(|issuer| {
                let built =
                    Issuer::new(issuer.clone(), start).map_err(|e| config("issuer", e.to_string()));
                built.map(|built| (issuer.index, built))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let timeouts_ms = scenario
            .terminals
            .iter()
            .map(|t| (t.config.terminal_id, t.config.response_timeout_ms))
            .collect();
        Ok(LiveHost {
            switch,
            switch_config: scenario.switch.clone(),
            switch_up: true,
            armed_cuts: Vec::new(),
            cuts_landed: Vec::new(),
            messages_from: BTreeMap::new(),
            line_fate: None,
            network,
            issuers,
            backbone: scenario.backbone.clone(),
            calendar: scenario.calendar,
            start,
            flights: BTreeMap::new(),
            sequence: 0,
            faults: ServeFaults::new(&scenario.faults.protocol),
            watch: TerminalWatch::new(),
            bindings: Bindings::new(scenario.terminals.len()),
            last_conn: BTreeMap::new(),
            live: BTreeSet::new(),
            current: None,
            current_refused: false,
            timeouts_ms,
            arrivals: BTreeMap::new(),
            outputs: VecDeque::new(),
            trace: None,
            silent: BTreeSet::new(),
            off: BTreeSet::new(),
            trades_received: 0,
            frames_received: 0,
            frames_rejected: 0,
        })
    }

    /// Records from now on into `trace` (bounded by the trace's own bound;
    /// [`Trace::is_full`] says when it refused a record).
    pub fn record_into(&mut self, trace: Trace) {
        self.trace = Some(trace);
    }

    /// The records so far, when recording.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// Adds a record the shell knows of (a phase, a fault it had a real
    /// device suffer); nothing when not recording.
    pub fn note(&mut self, now: Instant, event: TraceEvent) {
        if let Some(trace) = &mut self.trace {
            trace.push(now, event);
        }
    }

    fn note_frame(&mut self, now: Instant, from: Node, to: Node, bytes: &[u8], fate: Fate) {
        if self.trace.is_some() {
            let record = FrameRecord::new(from, to, FrameFacts::of(bytes), fate);
            self.note(now, TraceEvent::Frame(Box::new(record)));
        }
    }

    /// The faults the plan just applied, in the simulator's words.
    fn note_fault(&mut self, now: Instant) {
        for fault in self.faults.take_fired() {
            let Some(kind) = recorded_kind(&fault) else { continue };
            let record = FaultRecord {
                kind,
                target: fault.terminal().trimmed().to_string(),
                cause: FaultCause::Protocol(fault.placement()),
                frame: None,
            };
            self.note(now, TraceEvent::Fault(record));
        }
    }

    /// A scheduled host fault on the network (a cutoff, an issuer down or
    /// up), applied now.
    pub fn network_command(&mut self, now: Instant, command: NetworkCommand) {
        self.network.handle_command(now, command);
        self.drain(now);
    }

    /// Issuer `issuer` stops answering (its answers are dropped), or
    /// answers again.
    pub fn set_issuer_silent(&mut self, issuer: u16, silent: bool) {
        if silent {
            self.silent.insert(issuer);
        } else {
            self.silent.remove(&issuer);
        }
    }

    /// `terminal`'s power is cut (`true`) or back: while it is off, answers
    /// meant for it are lost.
    pub fn set_terminal_off(&mut self, terminal: TerminalId, off: bool) {
        if off {
            self.off.insert(terminal);
        } else {
            self.off.remove(&terminal);
        }
    }

    /// Arms a power cut of `terminal` at its message `at`, handed back as
    /// `id` by [`take_cuts_landed`](Self::take_cuts_landed) when it lands;
    /// with `words`, a power cut fault record with those words is kept.
    /// The host cuts the power before the switch reads the message, so
    /// its answer is lost as it is to a simulated terminal that is off.
    pub fn arm_power_cut(
        &mut self,
        terminal: TerminalId,
        at: CutAt,
        words: Option<String>,
        id: usize,
    ) {
        assert!(self.armed_cuts.len() < CUTS_MAX, "power cuts armed over {CUTS_MAX}");
        self.armed_cuts.push(ArmedCut { terminal, at, words, id });
    }

    /// The armed power cuts that landed since the last call.
    pub fn take_cuts_landed(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.cuts_landed)
    }

    /// The armed cuts a message of `terminal` lands, each once.
    fn cut_on_message(&mut self, now: Instant, terminal: TerminalId, message: &CupMessage) {
        if !self.armed_cuts.iter().any(|cut| cut.terminal == terminal) {
            return;
        }
        let count = self.messages_from.entry(terminal).or_default();
        *count = count.saturating_add(1);
        let nth = *count;
        let upload = matches!(message, CupMessage::BatchUpload(_) | CupMessage::BatchUploadEnd(_));
        let (landed, armed): (Vec<ArmedCut>, Vec<ArmedCut>) =
            std::mem::take(&mut self.armed_cuts).into_iter().partition(|cut| {
                cut.terminal == terminal
                    && match cut.at {
                        CutAt::BatchUpload => upload,
                        CutAt::Message { nth: at } => at == nth,
                    }
            });
        self.armed_cuts = armed;
        for cut in landed {
            self.off.insert(terminal);
            if let Some(words) = cut.words {
                let record = FaultRecord {
                    kind: FaultKind::PowerCut,
                    target: terminal.trimmed().to_string(),
                    cause: FaultCause::Protocol(words),
                    frame: None,
                };
                self.note(now, TraceEvent::Fault(record));
            }
            self.cuts_landed.push(cut.id);
        }
    }

    /// A line fault on the frame from `terminal` about to be handed to
    /// [`on_frame`](Self::on_frame) (`bytes` as it arrives, already
    /// garbled): its record, then the frame's own with `fate`. A dropped
    /// frame is recorded here and must not be handed on.
    pub fn line_fault(
        &mut self,
        now: Instant,
        terminal: TerminalId,
        bytes: &[u8],
        record: FaultRecord,
        fate: Fate,
    ) {
        self.note(now, TraceEvent::Fault(record));
        if fate == Fate::Dropped {
            self.note_frame(now, Node::Terminal(terminal), Node::Switch, bytes, fate);
        } else {
            self.line_fate = Some(fate);
        }
    }

    /// The switch crashes: every terminal's connection is closed and
    /// nothing reaches it until [`restart_switch`](Self::restart_switch).
    pub fn crash_switch(&mut self) {
        if !self.switch_up {
            return;
        }
        self.switch_up = false;
        for conn in self.live.clone() {
            self.output(HostOutput::Close { conn, reason: "the switch crashed".into() });
        }
    }

    /// The switch comes back with what it kept in persistent storage, as
    /// the simulator restarts it.
    pub fn restart_switch(&mut self, now: Instant) {
        if self.switch_up {
            return;
        }
        let persistent = self.switch.persistent();
        self.switch = Switch::restart(self.switch_config.clone(), persistent, now)
            .expect("a configuration that loaded once loads again");
        self.switch_up = true;
        self.drain(now);
    }

    /// Whether the switch is up (not between a crash and its restart).
    pub fn switch_up(&self) -> bool {
        self.switch_up
    }

    /// The models' time at wall-clock zero: the scenario's opening hour.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The longest response timeout of the scenario's terminals.
    pub fn timeout_max_ms(&self) -> u64 {
        self.timeouts_ms.values().copied().max().unwrap_or(60_000)
    }

    pub fn faults(&self) -> &ServeFaults {
        &self.faults
    }

    pub fn faults_mut(&mut self) -> &mut ServeFaults {
        &mut self.faults
    }

    pub fn watch_mut(&mut self) -> &mut TerminalWatch {
        &mut self.watch
    }

    pub fn poll_output(&mut self) -> Option<HostOutput> {
        self.outputs.pop_front()
    }

    fn output(&mut self, output: HostOutput) {
        if self.outputs.len() < OUTPUTS_MAX {
            self.outputs.push_back(output);
        }
    }

    fn log(&mut self, event: &'static str, fields: Vec<(&'static str, serde_json::Value)>) {
        self.output(HostOutput::Log { event, fields });
    }

    fn reject(&mut self, conn: ConnId, reason: String, close: bool) {
        self.frames_rejected += 1;
        self.log("reject", vec![("conn", conn.into()), ("reason", json(reason.clone()))]);
        if close {
            self.output(HostOutput::Close { conn, reason });
        }
    }

    /// A whole frame (length prefix included) arrived on `conn`.
    pub fn on_frame(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.frames_received += 1;
        if !self.switch_up {
            self.line_fate = None;
            return self.reject(conn, "the switch is down".into(), true);
        }
        self.live.insert(conn);
        let verdict = self.judge(now, conn, bytes);
        self.line_fate = None;
        self.output(HostOutput::Judged { conn, verdict });
    }

    fn judge(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) -> FrameVerdict {
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                // Not CUP far enough to name a terminal: nothing to answer.
                self.reject(conn, format!("undecodable frame: {error}"), true);
                return FrameVerdict::Refused;
            }
        };
        let terminal =
            frame.message.get(41).and_then(TerminalId::from_wire).unwrap_or_else(placeholder);
        if let Claim::Foreign { owner } = self.bindings.claim(terminal, conn) {
            // Nothing on a connection that claims another's terminal can be
            // trusted, and answering would tell it the id is live: a front
            // end hangs up, which also frees the slot. The terminal itself
            // never needs two connections at once; after a re-dial the old
            // one's close frees the id.
            self.reject(
                conn,
                format!(
                    "terminal {} is bound to connection {owner}, which proved its keys; \
                     this connection has not",
                    terminal.trimmed()
                ),
                true,
            );
            return FrameVerdict::Refused;
        }
        let authentication = self.switch.authenticate(bytes);
        if let Authentication::Authentic(proven) = authentication {
            assert_eq!(proven, terminal, "the gate judges the terminal in field 41");
            if self.bindings.claim(terminal, conn) == Claim::Unbound {
                self.bindings.bind(terminal, conn);
                self.log(
                    "bound",
                    vec![("conn", conn.into()), ("terminal", json(terminal.trimmed()))],
                );
            }
        }
        self.current = Some((conn, terminal));
        self.current_refused = false;
        let authentic = matches!(authentication, Authentication::Authentic(_));
        let handled = self.handle(now, conn, terminal, &frame, bytes, authentic);
        self.current = None;
        match authentication {
            _ if !handled => FrameVerdict::Refused,
            Authentication::Authentic(_) => FrameVerdict::Authenticated,
            Authentication::Refused(_, code) if code == ResponseCode::MAC_ERROR => {
                FrameVerdict::BadMac
            }
            _ if self.current_refused => FrameVerdict::Refused,
            _ => FrameVerdict::Accepted,
        }
    }

    /// The frame through the fault plan to the switch. Whether it got that
    /// far (a message, or a format error the switch answers).
    fn handle(
        &mut self,
        now: Instant,
        conn: ConnId,
        terminal: TerminalId,
        frame: &Frame,
        bytes: &[u8],
        authentic: bool,
    ) -> bool {
        let message = match CupMessage::parse(&frame.message) {
            Ok(message) => message,
            Err(error) => {
                // The switch answers 30 when it can tell who sent it;
                // otherwise nothing after this frame can be trusted.
                let named = frame.message.get(41).is_some() && !frame.message.mti().is_response();
                self.reject(conn, format!("format error: {error}"), !named);
                if !named {
                    return false;
                }
                self.switch.handle_message(now, Node::Terminal(terminal), bytes);
                self.drain(now);
                return true;
            }
        };
        let watched = self.timeouts_ms.contains_key(&terminal);
        if matches!(&message, CupMessage::Trade(r) if !r.kind().is_offline_upload()) {
            self.trades_received += 1;
        }
        self.log(
            "request",
            vec![
                ("conn", conn.into()),
                ("terminal", json(terminal.trimmed())),
                ("mti", json(frame.message.mti().to_string())),
                ("stan", message.stan().value().into()),
            ],
        );
        // Only the scenario's terminals are judged: an invented id gets 97
        // and must not take a place in the watcher.
        if watched {
            self.last_conn.insert(terminal, conn);
            self.watch.on_request(now, terminal, &message);
        }
        let (verdict, why) = self.faults.on_request(terminal, &message);
        if let Some(why) = why {
            self.log("fault", vec![("terminal", json(terminal.trimmed())), ("what", json(why))]);
        }
        self.note_fault(now);
        let fate = match verdict {
            RequestVerdict::Discard => Fate::Dropped,
            RequestVerdict::ForwardTwice | RequestVerdict::ForwardThenCopy { .. } => {
                Fate::Duplicated
            }
            _ => Fate::Delivered,
        };
        let fate = self.line_fate.take().unwrap_or(fate);
        self.note_frame(now, Node::Terminal(terminal), Node::Switch, bytes, fate);
        self.cut_on_message(now, terminal, &message);
        if self.arrivals.len() >= ARRIVALS_MAX {
            self.arrivals.pop_first();
        }
        let origin = authentic.then_some(conn);
        self.arrivals.insert((terminal, message.stan().value()), Arrival { at: now, origin });
        let from = Node::Terminal(terminal);
        match verdict {
            RequestVerdict::Forward => self.switch.handle_message(now, from, bytes),
            RequestVerdict::ForwardTwice => {
                self.switch.handle_message(now, from, bytes);
                self.drain(now);
                self.switch.handle_message(now, from, bytes);
            }
            RequestVerdict::ForwardThenCopy { after_ms } => {
                self.switch.handle_message(now, from, bytes);
                let at = now + Duration::from_millis(after_ms);
                self.schedule(at, Flight::Copy { terminal, bytes: bytes.to_vec() });
            }
            RequestVerdict::ForwardThenReset => {
                self.switch.handle_message(now, from, bytes);
                self.output(HostOutput::Close { conn, reason: "reset_after_request fault".into() });
            }
            RequestVerdict::Discard => {
                if watched {
                    self.watch.on_request_discarded(now, terminal, &message);
                }
            }
            RequestVerdict::Answer(code) => {
                if let CupMessage::Trade(request) = &message {
                    let answer = TradeResponse::answering(
                        request,
                        code,
                        self.calendar.time_of_day(now),
                        self.calendar.month_day(now),
                    );
                    let answer = CupMessage::TradeAnswer(answer);
                    let bytes = seal_with_header(
                        &answer,
                        frame.tpdu.reply(),
                        Header::new(SOFTWARE_VERSION),
                        None,
                    );
                    if watched {
                        self.watch.on_answer(now, terminal, &answer, AnswerFate::Delivered);
                    }
                    let to = Node::Terminal(terminal);
                    self.note_frame(now, Node::Switch, to, &bytes, Fate::Delivered);
                    self.output(HostOutput::Send { conn, bytes });
                }
            }
        }
        self.drain(now);
        true
    }

    /// The connection closed: the terminals it spoke for are free to bind
    /// again, and answers meant for it go to whoever binds them, or are lost.
    pub fn on_closed(&mut self, conn: ConnId) {
        self.bindings.release(conn);
        self.live.remove(&conn);
    }

    /// Scenario terminals that sent a message the host handled.
    pub fn terminals_seen(&self) -> usize {
        self.last_conn.len()
    }

    /// Scenario terminals whose latest message came on `conn`: when it
    /// closes, they are gone unless they speak again on another.
    pub fn terminals_last_on(&self, conn: ConnId) -> Vec<TerminalId> {
        self.last_conn.iter().filter(|(_, &last)| last == conn).map(|(&t, _)| t).collect()
    }

    /// Whether `terminal`'s latest message came on `conn`.
    pub fn last_spoke_on(&self, terminal: TerminalId, conn: ConnId) -> bool {
        self.last_conn.get(&terminal) == Some(&conn)
    }

    /// Terminals bound to a connection now.
    pub fn terminals_bound(&self) -> usize {
        self.bindings.len()
    }

    /// Frames and late copies still on their way (a case is not over while
    /// a fault it plays is yet to land).
    pub fn flights_pending(&self) -> usize {
        self.flights.len()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest = self.flights.keys().next().map(|(at, _)| *at);
        let mut consider = |deadline: Option<Instant>| {
            if let Some(deadline) = deadline {
                earliest = Some(earliest.map_or(deadline, |e: Instant| e.min(deadline)));
            }
        };
        if self.switch_up {
            consider(self.switch.poll_timeout());
        }
        consider(self.network.poll_timeout());
        for issuer in self.issuers.values() {
            consider(issuer.poll_timeout());
        }
        earliest
    }

    pub fn on_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.flights.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                // A crashed switch reads nothing: what was on its way is lost.
                Flight::Hop { to: Node::Switch, .. } | Flight::Copy { .. } if !self.switch_up => {}
                Flight::Copy { terminal, bytes } => {
                    // Not the frame being handled: its answer follows the
                    // original request's connection, or the terminal's now.
                    self.switch.handle_message(now, Node::Terminal(terminal), &bytes);
                }
                Flight::Hop { from, to, bytes } => match to {
                    Node::Switch => self.switch.handle_message(now, from, &bytes),
                    Node::Network => self.network.handle_message(now, from, &bytes),
                    Node::Issuer(index) => {
                        if let Some(issuer) = self.issuers.get_mut(&index) {
                            issuer.handle_message(now, from, &bytes);
                        }
                    }
                    Node::Terminal(_) => {}
                },
                Flight::Answer { terminal, conn, bytes } => {
                    let conn = conn.filter(|c| self.live.contains(c));
                    let route = conn.or_else(|| self.bindings.owner(terminal));
                    self.write_to(route, terminal, bytes);
                }
            }
        }
        if self.switch_up && self.switch.poll_timeout().is_some_and(|t| t <= now) {
            self.switch.handle_timeout(now);
        }
        if self.network.poll_timeout().is_some_and(|t| t <= now) {
            self.network.handle_timeout(now);
        }
        for issuer in self.issuers.values_mut() {
            if issuer.poll_timeout().is_some_and(|t| t <= now) {
                issuer.handle_timeout(now);
            }
        }
        self.drain(now);
    }

    /// Where an answer to `terminal`'s request `stan` goes: the frame being
    /// handled is answered on its own connection; a later answer follows
    /// its authenticated request's connection while it is open, then the
    /// connection bound to the terminal.
    fn route(&self, terminal: TerminalId, stan: Option<u32>) -> Option<ConnId> {
        if let Some((conn, sender)) = self.current {
            assert_eq!(sender, terminal, "the switch answers the frame it is handling");
            return Some(conn);
        }
        let origin = stan
            .and_then(|stan| self.arrivals.get(&(terminal, stan)))
            .and_then(|arrival| arrival.origin)
            .filter(|conn| self.live.contains(conn));
        origin.or_else(|| self.bindings.owner(terminal))
    }

    fn write_to(&mut self, route: Option<ConnId>, terminal: TerminalId, bytes: Vec<u8>) {
        match route {
            Some(conn) => self.output(HostOutput::Send { conn, bytes }),
            None => self.log(
                "lost",
                vec![
                    ("terminal", json(terminal.trimmed())),
                    ("reason", json("no connection for the terminal")),
                ],
            ),
        }
    }

    fn schedule(&mut self, at: Instant, flight: Flight) {
        assert!(self.flights.len() < FLIGHTS_MAX, "flights over {FLIGHTS_MAX}");
        self.sequence += 1;
        self.flights.insert((at, self.sequence), flight);
    }

    fn latency(&self, a: Node, b: Node) -> Duration {
        let ms = match (a, b) {
            (Node::Switch, _) | (_, Node::Switch) => self.backbone.switch_network_ms,
            _ => self.backbone.network_issuer_ms,
        };
        Duration::from_millis(ms)
    }

    fn drain(&mut self, now: Instant) {
        for _ in 0..DRAIN_PASSES_MAX {
            let mut outbound = Vec::new();
            while let Some(event) = self.switch.poll_event() {
                if let SwitchEventKind::Dropped { from, reason } = &event.kind {
                    self.current_refused = true;
                    self.frames_rejected += 1;
                    self.log(
                        "reject",
                        vec![
                            ("from", json(from.to_string())),
                            ("reason", json(format!("{reason:?}"))),
                        ],
                    );
                } else if let SwitchEventKind::Rejected { terminal, stan, code } = &event.kind {
                    self.current_refused = true;
                    self.log(
                        "refused",
                        vec![
                            ("terminal", json(terminal.trimmed())),
                            ("stan", stan.map(|s| s.value()).into()),
                            ("code", json(code.as_str())),
                        ],
                    );
                }
                let event = TraceEvent::Switch(event);
                if let Some(trace) = &mut self.trace {
                    trace.push(now, event.clone());
                }
                log_event(Node::Switch, event);
            }
            while let Some(transmit) = self.switch.poll_transmit() {
                outbound.push((Node::Switch, transmit));
            }
            while let Some(event) = self.network.poll_event() {
                let event = TraceEvent::Network(event);
                if let Some(trace) = &mut self.trace {
                    trace.push(now, event.clone());
                }
                log_event(Node::Network, event);
            }
            while let Some(transmit) = self.network.poll_transmit() {
                outbound.push((Node::Network, transmit));
            }
            for (index, issuer) in self.issuers.iter_mut() {
                while let Some(event) = issuer.poll_event() {
                    let event = TraceEvent::Issuer { issuer: *index, event };
                    if let Some(trace) = &mut self.trace {
                        trace.push(now, event.clone());
                    }
                    log_event(Node::Issuer(*index), event);
                }
                while let Some(transmit) = issuer.poll_transmit() {
                    outbound.push((Node::Issuer(*index), transmit));
                }
            }
            if outbound.is_empty() {
                return;
            }
            for (from, transmit) in outbound {
                match transmit.to {
                    Node::Terminal(terminal) => self.answer(now, terminal, transmit.bytes),
                    to if matches!(from, Node::Issuer(index) if self.silent.contains(&index)) => {
                        self.note_frame(now, from, to, &transmit.bytes, Fate::Dropped);
                    }
                    to => {
                        let at = now + self.latency(from, to);
                        self.note_frame(now, from, to, &transmit.bytes, Fate::Delivered);
                        self.schedule(at, Flight::Hop { from, to, bytes: transmit.bytes });
                    }
                }
            }
        }
        panic!("the host's elements kept answering each other for {DRAIN_PASSES_MAX} passes");
    }

    /// An answer from the switch to a terminal, through the fault plan.
    fn answer(&mut self, now: Instant, terminal: TerminalId, mut bytes: Vec<u8>) {
        let to = Node::Terminal(terminal);
        if self.off.contains(&terminal) {
            return self.note_frame(now, Node::Switch, to, &bytes, Fate::Lost);
        }
        let reached =
            |route: Option<ConnId>| if route.is_some() { Fate::Delivered } else { Fate::Lost };
        let Ok(frame) = Frame::decode(&bytes) else {
            let route = self.route(terminal, None);
            self.note_frame(now, Node::Switch, to, &bytes, reached(route));
            return self.write_to(route, terminal, bytes);
        };
        let stan = frame.message.get_number(11).map(|n| n as u32);
        let route = self.route(terminal, stan);
        let Ok(message) = CupMessage::parse(&frame.message) else {
            self.note_frame(now, Node::Switch, to, &bytes, reached(route));
            return self.write_to(route, terminal, bytes);
        };
        let timeout_ms = self.timeouts_ms.get(&terminal).copied().unwrap_or(60_000);
        let (verdict, why) = self.faults.on_answer(terminal, &message, timeout_ms);
        if let Some(why) = why {
            self.log("fault", vec![("terminal", json(terminal.trimmed())), ("what", json(why))]);
        }
        self.note_fault(now);
        let wire_fate = match verdict {
            AnswerVerdict::Deliver | AnswerVerdict::NotBalanced => reached(route),
            AnswerVerdict::Withhold => Fate::Dropped,
            AnswerVerdict::Lost => Fate::Lost,
            AnswerVerdict::CorruptMac => Fate::Corrupted,
            AnswerVerdict::DelayFromRequestMs { delay_ms, .. } => {
                let arrived = self
                    .arrivals
                    .get(&(terminal, message.stan().value()))
                    .map_or(now, |arrival| arrival.at);
                let waited_ms = now.as_millis().saturating_sub(arrived.as_millis());
                Fate::Delayed { by_ms: delay_ms.saturating_sub(waited_ms) }
            }
        };
        self.note_frame(now, Node::Switch, to, &bytes, wire_fate);
        let fate = match verdict {
            // No connection for the terminal (it hung up, or lost power):
            // the answer is lost with it, as if cut off.
            AnswerVerdict::Deliver if route.is_none() => {
                self.write_to(route, terminal, bytes);
                AnswerFate::Reset
            }
            AnswerVerdict::Deliver => {
                self.write_to(route, terminal, bytes);
                AnswerFate::Delivered
            }
            AnswerVerdict::Withhold => AnswerFate::Withheld,
            AnswerVerdict::Lost => AnswerFate::Reset,
            AnswerVerdict::CorruptMac => {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
                self.write_to(route, terminal, bytes);
                AnswerFate::Corrupted
            }
            AnswerVerdict::DelayFromRequestMs { delay_ms, judged } => {
                let arrived = self
                    .arrivals
                    .get(&(terminal, message.stan().value()))
                    .map_or(now, |arrival| arrival.at);
                let at = (arrived + Duration::from_millis(delay_ms)).max(now);
                self.schedule(at, Flight::Answer { terminal, conn: route, bytes });
                if judged {
                    AnswerFate::Late
                } else {
                    AnswerFate::Delivered
                }
            }
            AnswerVerdict::NotBalanced => {
                let mut message = message.clone();
                if let CupMessage::SettlementAnswer(answer) = &mut message {
                    answer.result = SettlementResult::NotBalanced;
                }
                let bytes = seal_with_header(&message, frame.tpdu, frame.header, None);
                self.write_to(route, terminal, bytes);
                if self.timeouts_ms.contains_key(&terminal) {
                    self.watch.on_answer(now, terminal, &message, AnswerFate::Delivered);
                }
                return;
            }
        };
        if self.timeouts_ms.contains_key(&terminal) {
            self.watch.on_answer(now, terminal, &message, fate);
        }
    }
}

/// The simulator's record of a fault serve applies, by kind; `None`: a
/// fault the simulator has no record kind for (an answer code the host
/// gives itself shows as its answer frame).
fn recorded_kind(fault: &ProtocolFault) -> Option<FaultKind> {
    Some(match fault {
        ProtocolFault::DropAnswer { .. }
        | ProtocolFault::DropRequest { .. }
        | ProtocolFault::DropReversals { .. }
        | ProtocolFault::DropSettlementAnswer { .. } => FaultKind::LineDropFrame,
        ProtocolFault::DelayAnswer { .. } => FaultKind::LineDelay,
        ProtocolFault::CorruptAnswer { .. } => FaultKind::LineCorrupt,
        ProtocolFault::DuplicateRequest { .. } => FaultKind::LineDuplicate,
        ProtocolFault::ResetAfterRequest { .. } => FaultKind::LineReset,
        ProtocolFault::SettlementUnbalanced { .. } => FaultKind::HostTotalsDisagree,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use possim_models::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
    use possim_models::iso8583::mac::MacKey;
    use possim_models::iso8583::network::{NetworkCode, NetworkRequest};
    use possim_models::iso8583::values::{BatchNo, MerchantId, Stan};
    use possim_models::iso8583::Tpdu;
    use possim_models::wire::{receive, seal};

    use super::*;
    use crate::live::fixtures::{sale, terminal};
    use crate::scenario::parse_and_compile;

    const TMK: &str = "0123456789ABCDEF";

    fn host() -> LiveHost {
        let text = "name: t\nmerchants: [{id: '898100000000001'}]\n\
                    issuers: [{index: 0, bins: ['622202']}]\n\
                    terminals: [{id: LV000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
                    card_groups: [{bin: '622202', count: 2, balance_fen: 100000}]\n";
        LiveHost::new(&parse_and_compile(text, "t.yaml").unwrap()).unwrap()
    }

    fn host_with(faults: &str) -> LiveHost {
        let text = format!(
            "name: t\nmerchants: [{{id: '898100000000001'}}]\n\
             issuers: [{{index: 0, bins: ['622202']}}]\n\
             terminals: [{{id: LV000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}}]\n\
             card_groups: [{{bin: '622202', count: 2, balance_fen: 100000}}]\n{faults}"
        );
        LiveHost::new(&parse_and_compile(&text, "t.yaml").unwrap()).unwrap()
    }

    /// Runs the host's time from `from` for `ms`, one millisecond a step;
    /// what it sent, to which connection.
    fn run_for(host: &mut LiveHost, from: Instant, ms: u64) -> Vec<ConnId> {
        let mut sent = Vec::new();
        for step in 1..=ms {
            let at = from + Duration::from_millis(step);
            if host.poll_timeout().is_some_and(|t| t <= at) {
                host.on_timeout(at);
            }
            sent.extend(sent_to(&outputs(host)));
        }
        sent
    }

    #[test]
    fn a_late_copy_reaches_the_switch_after_its_delay_and_is_answered_to_the_terminal() {
        let mut host = host_with(
            "faults:\n  protocol: [{kind: duplicate_request, terminal: LV000001, trade: 1, \
             after_ms: 3000}]\n",
        );
        let now = host.start();
        let mak = sign_in(&mut host, now, 1);
        outputs(&mut host);
        host.on_frame(now, 1, &sealed_sale(3, &mak));
        outputs(&mut host);
        assert_eq!(run_for(&mut host, now, 2_000), [1], "the sale's own answer");
        assert_eq!(
            run_for(&mut host, now + Duration::from_millis(2_000), 2_000),
            [1],
            "the copy's answer, once it reached the switch 3 s after the sale"
        );
        assert_eq!(host.trades_received, 1, "the copy is the line's, not another trade");
    }

    #[test]
    fn a_crashed_switch_closes_every_connection_reads_nothing_and_restarts_with_its_keys() {
        let mut host = host();
        let now = host.start();
        let mak = sign_in(&mut host, now, 1);
        outputs(&mut host);
        host.crash_switch();
        assert!(!host.switch_up());
        let out = outputs(&mut host);
        assert_eq!(
            out,
            [HostOutput::Close { conn: 1, reason: "the switch crashed".into() }],
            "{out:?}"
        );
        host.on_closed(1);
        host.on_frame(now, 2, &sealed_sale(3, &mak));
        let out = outputs(&mut host);
        assert!(sent_to(&out).is_empty(), "{out:?}");
        assert!(out.iter().any(|o| matches!(o, HostOutput::Close { conn: 2, .. })), "{out:?}");
        host.on_closed(2);
        assert_eq!(run_for(&mut host, now, 1_000), Vec::<ConnId>::new());
        // Back with its persistent store: the session keys signed in before
        // the crash still prove the terminal.
        let later = now + Duration::from_millis(1_000);
        host.restart_switch(later);
        assert!(host.switch_up());
        host.on_frame(later, 3, &sealed_sale(4, &mak));
        assert_eq!(verdict(&outputs(&mut host)), FrameVerdict::Authenticated);
        assert_eq!(run_for(&mut host, later, 2_000), [3]);
    }

    #[test]
    fn a_power_cut_armed_on_a_message_lands_before_the_switch_answers_it() {
        let mut host = host();
        let now = host.start();
        host.arm_power_cut(terminal(), CutAt::Message { nth: 2 }, None, 7);
        let mak = sign_in(&mut host, now, 1);
        outputs(&mut host);
        assert!(host.take_cuts_landed().is_empty(), "the sign-in is message 1");
        host.on_frame(now, 1, &sealed_sale(3, &mak));
        outputs(&mut host);
        assert_eq!(host.take_cuts_landed(), [7]);
        assert_eq!(run_for(&mut host, now, 2_000), Vec::<ConnId>::new(), "the answer finds it off");
        assert!(host.take_cuts_landed().is_empty(), "each cut lands once");
    }

    fn network(code: NetworkCode, stan: u32) -> Vec<u8> {
        let request = NetworkRequest {
            code,
            stan: Stan::new(stan).unwrap(),
            batch: BatchNo::new(1).unwrap(),
            terminal: terminal(),
            merchant: MerchantId::new("898100000000001").unwrap(),
            operator: Some(*b"01 "),
        };
        seal(&CupMessage::Network(request), Tpdu::new(3, 0), None)
    }

    fn outputs(host: &mut LiveHost) -> Vec<HostOutput> {
        std::iter::from_fn(|| host.poll_output()).collect()
    }

    fn sent_to(outputs: &[HostOutput]) -> Vec<ConnId> {
        outputs
            .iter()
            .filter_map(|o| match o {
                HostOutput::Send { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    fn verdict(outputs: &[HostOutput]) -> FrameVerdict {
        outputs
            .iter()
            .find_map(|o| match o {
                HostOutput::Judged { verdict, .. } => Some(*verdict),
                _ => None,
            })
            .expect("every frame is judged")
    }

    /// Signs LV000001 in on `conn`; its MAC key.
    fn sign_in(host: &mut LiveHost, now: Instant, conn: ConnId) -> MacKey {
        host.on_frame(now, conn, &network(NetworkCode::SignIn(KeyMode::Single), 1));
        let out = outputs(host);
        assert_eq!(
            verdict(&out),
            FrameVerdict::Accepted,
            "a sign-in carries no MAC: proves nothing"
        );
        let Some(HostOutput::Send { bytes, .. }) =
            out.iter().find(|o| matches!(o, HostOutput::Send { .. }))
        else {
            panic!("the sign-in is answered: {out:?}")
        };
        let CupMessage::NetworkAnswer(answer) = receive(bytes, None).unwrap().message else {
            panic!("an 0810")
        };
        let tmk = DesKey::from_hex(TMK).unwrap();
        let keys = WorkingKeys::unwrap(&tmk, KeyMode::Single, &answer.keys.unwrap()).unwrap();
        MacKey::new(keys.mak.first_half())
    }

    fn sealed_sale(stan: u32, mak: &MacKey) -> Vec<u8> {
        seal(&CupMessage::Trade(sale(stan, 1000)), Tpdu::new(3, 0), Some(mak))
    }

    #[test]
    fn an_id_binds_to_the_connection_that_proved_its_keys_and_impostors_are_cut_off() {
        let mut host = host();
        let now = host.start();
        let mak = sign_in(&mut host, now, 1);
        assert_eq!(sent_to(&outputs(&mut host)), Vec::<ConnId>::new());
        // Before any MAC the id is nobody's: each client reads only the
        // answers to its own frames.
        host.on_frame(now, 2, &network(NetworkCode::Echo, 2));
        let out = outputs(&mut host);
        assert_eq!(sent_to(&out), [2], "{out:?}");
        assert_eq!(host.terminals_bound(), 0);

        host.on_frame(now, 1, &sealed_sale(3, &mak));
        let out = outputs(&mut host);
        assert_eq!(verdict(&out), FrameVerdict::Authenticated);
        assert!(out.iter().any(|o| matches!(o, HostOutput::Log { event: "bound", .. })), "{out:?}");
        assert_eq!(host.terminals_bound(), 1);

        // The impostor, and a replay of the terminal's own sale, on other
        // connections: refused with the reason, hung up, nothing sent.
        for (conn, bytes) in [(2, network(NetworkCode::Echo, 4)), (3, sealed_sale(3, &mak))] {
            host.on_frame(now, conn, &bytes);
            let out = outputs(&mut host);
            assert_eq!(verdict(&out), FrameVerdict::Refused);
            assert!(sent_to(&out).is_empty(), "{out:?}");
            assert!(
                out.contains(&HostOutput::Close {
                    conn,
                    reason: "terminal LV000001 is bound to connection 1, which proved its keys; \
                         this connection has not"
                        .into()
                }),
                "{out:?}"
            );
            host.on_closed(conn);
        }

        // The sale's answer, however late, goes to the terminal.
        let mut answered = Vec::new();
        for ms in 1..=2_000u64 {
            let at = now + Duration::from_millis(ms);
            if host.poll_timeout().is_some_and(|t| t <= at) {
                host.on_timeout(at);
            }
            answered.extend(sent_to(&outputs(&mut host)));
        }
        assert_eq!(answered, [1]);

        // A bad MAC from the bound connection is answered A0 and judged so.
        let mut forged = sealed_sale(5, &mak);
        let last = forged.len() - 1;
        forged[last] ^= 0x01;
        host.on_frame(now, 1, &forged);
        let out = outputs(&mut host);
        assert_eq!(verdict(&out), FrameVerdict::BadMac);
        assert_eq!(sent_to(&out), [1]);

        // Closing frees the id for the terminal's next connection.
        host.on_closed(1);
        assert_eq!(host.terminals_bound(), 0);
        host.on_frame(now, 4, &sealed_sale(6, &mak));
        assert_eq!(verdict(&outputs(&mut host)), FrameVerdict::Authenticated);
    }

    /// Regression (the simulated world's twin was found by the
    /// hostile-input corpus): issuers were kept in a list addressed by their
    /// index, so a lone issuer with `index: 1` never got its requests and
    /// its answers left as issuer 0's.
    #[test]
    fn an_issuer_indexed_one_answers_a_sale() {
        let text = "name: t\nmerchants: [{id: '898100000000001'}]\n\
                    issuers: [{index: 1, bins: ['622202']}]\n\
                    terminals: [{id: LV000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
                    card_groups: [{bin: '622202', count: 2, balance_fen: 100000}]\n";
        let mut host = LiveHost::new(&parse_and_compile(text, "t.yaml").unwrap()).unwrap();
        let now = host.start();
        let mak = sign_in(&mut host, now, 1);
        outputs(&mut host);
        host.on_frame(now, 1, &sealed_sale(3, &mak));
        let mut answers = Vec::new();
        for ms in 1..=2_000u64 {
            let at = now + Duration::from_millis(ms);
            if host.poll_timeout().is_some_and(|t| t <= at) {
                host.on_timeout(at);
            }
            for output in outputs(&mut host) {
                if let HostOutput::Send { bytes, .. } = output {
                    answers.push(receive(&bytes, Some(&mak)).unwrap().message);
                }
            }
        }
        let [CupMessage::TradeAnswer(answer)] = answers.as_slice() else {
            panic!("one answer: {answers:?}")
        };
        assert_eq!(answer.response_code.to_string(), "00", "{answer:?}");
    }

    #[test]
    fn invented_ids_never_bind_and_refusals_are_judged_refused() {
        let mut host = host();
        let now = host.start();
        let mut message = CupMessage::parse(&sale(1, 1000).to_message()).unwrap();
        for index in 0..500u32 {
            if let CupMessage::Trade(request) = &mut message {
                request.terminal = TerminalId::new(&format!("X{index:07}")).unwrap();
            }
            let mak = MacKey::new([7; 8]);
            host.on_frame(now, ConnId::from(index), &seal(&message, Tpdu::new(3, 0), Some(&mak)));
            let out = outputs(&mut host);
            assert_eq!(verdict(&out), FrameVerdict::Refused, "97 is a refusal: {out:?}");
        }
        assert_eq!(host.terminals_bound(), 0);
    }
}
