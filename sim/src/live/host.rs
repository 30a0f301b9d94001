//! The acquirer side of `possim serve`: switch, network and issuers wired as
//! in the in-memory harness, with the scenario's backbone latency between
//! them, the fault plan on each terminal's answers, and the terminal watcher
//! fed with every request and every answer's fate. Sans-IO: connections are
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

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use possim_models::actor::{Actor, Node};
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::subfields::SettlementResult;
use possim_models::iso8583::trade::TradeResponse;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::{Frame, Header};
use possim_models::issuer::Issuer;
use possim_models::network::Network;
use possim_models::switch::{Switch, SwitchEventKind};
use possim_models::time::{Calendar, Instant};
use possim_models::wire::{seal_with_header, SOFTWARE_VERSION};

use super::faults::{AnswerVerdict, RequestVerdict, ServeFaults};
use super::terminal_checks::{AnswerFate, TerminalWatch};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::Backbone;

/// A connection, numbered by the listener.
pub type ConnId = u64;

/// Frames in flight between elements or held for a terminal at once.
pub const FLIGHTS_MAX: usize = 100_000;
/// Outputs waiting for the shell.
pub const OUTPUTS_MAX: usize = 100_000;
/// Request arrival times remembered (for delayed answers).
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
    /// A decision to log: event name and fields.
    Log {
        event: &'static str,
        fields: Vec<(&'static str, serde_json::Value)>,
    },
}

#[derive(Debug)]
enum Flight {
    Hop {
        from: Node,
        to: Node,
        bytes: Vec<u8>,
    },
    /// A delayed answer to a terminal.
    Answer {
        terminal: TerminalId,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("the scenario's {what} does not build: {why}")]
    Config { what: &'static str, why: String },
}

/// Switch, network and issuers on real time.
#[derive(Debug)]
pub struct LiveHost {
    switch: Switch,
    network: Network,
    issuers: Vec<Issuer>,
    backbone: Backbone,
    calendar: Calendar,
    start: Instant,
    flights: BTreeMap<(Instant, u64), Flight>,
    sequence: u64,
    faults: ServeFaults,
    watch: TerminalWatch,
    routes: BTreeMap<TerminalId, ConnId>,
    timeouts_ms: BTreeMap<TerminalId, u64>,
    arrivals: BTreeMap<(TerminalId, u32), Instant>,
    outputs: VecDeque<HostOutput>,
    /// Online trade requests received.
    pub trades_received: u64,
    pub frames_received: u64,
    pub frames_rejected: u64,
}

fn placeholder() -> TerminalId {
    TerminalId::new("????????").expect("eight printable characters")
}

fn json(text: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(text.into())
}

impl LiveHost {
    pub fn new(scenario: &CompiledScenario) -> Result<LiveHost, HostError> {
        let config = |what, why: String| HostError::Config { what, why };
        let switch =
            Switch::new(scenario.switch.clone()).map_err(|e| config("switch", e.to_string()))?;
        let network =
            Network::new(scenario.network.clone()).map_err(|e| config("network", e.to_string()))?;
        let issuers = scenario
            .issuers
            .iter()
            .map(|issuer| Issuer::new(issuer.clone()).map_err(|e| config("issuer", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let timeouts_ms = scenario
            .terminals
            .iter()
            .map(|t| (t.config.terminal_id, t.config.response_timeout_ms))
            .collect();
        Ok(LiveHost {
            switch,
            network,
            issuers,
            backbone: scenario.backbone.clone(),
            calendar: scenario.calendar,
            start: Instant::from_millis(u64::from(scenario.run.open_hour) * 3_600_000),
            flights: BTreeMap::new(),
            sequence: 0,
            faults: ServeFaults::new(&scenario.faults.protocol),
            watch: TerminalWatch::new(),
            routes: BTreeMap::new(),
            timeouts_ms,
            arrivals: BTreeMap::new(),
            outputs: VecDeque::new(),
            trades_received: 0,
            frames_received: 0,
            frames_rejected: 0,
        })
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
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                // Not CUP far enough to name a terminal: nothing to answer.
                return self.reject(conn, format!("undecodable frame: {error}"), true);
            }
        };
        let terminal =
            frame.message.get(41).and_then(TerminalId::from_wire).unwrap_or_else(placeholder);
        self.routes.insert(terminal, conn);
        let message = match CupMessage::parse(&frame.message) {
            Ok(message) => message,
            Err(error) => {
                // The switch answers 30 when it can tell who sent it;
                // otherwise nothing after this frame can be trusted.
                let named = frame.message.get(41).is_some() && !frame.message.mti().is_response();
                self.reject(conn, format!("format error: {error}"), !named);
                if !named {
                    return;
                }
                self.switch.handle_message(now, Node::Terminal(terminal), bytes);
                return self.drain(now);
            }
        };
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
        self.watch.on_request(now, terminal, &message);
        let (verdict, why) = self.faults.on_request(terminal, &message);
        if let Some(why) = why {
            self.log("fault", vec![("terminal", json(terminal.trimmed())), ("what", json(why))]);
        }
        if self.arrivals.len() >= ARRIVALS_MAX {
            self.arrivals.pop_first();
        }
        self.arrivals.insert((terminal, message.stan().value()), now);
        let from = Node::Terminal(terminal);
        match verdict {
            RequestVerdict::Forward => self.switch.handle_message(now, from, bytes),
            RequestVerdict::ForwardTwice => {
                self.switch.handle_message(now, from, bytes);
                self.drain(now);
                self.switch.handle_message(now, from, bytes);
            }
            RequestVerdict::ForwardThenReset => {
                self.switch.handle_message(now, from, bytes);
                self.output(HostOutput::Close { conn, reason: "reset_after_request fault".into() });
            }
            RequestVerdict::Discard => self.watch.on_request_discarded(now, terminal, &message),
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
                    self.watch.on_answer(now, terminal, &answer, AnswerFate::Delivered);
                    self.output(HostOutput::Send { conn, bytes });
                }
            }
        }
        self.drain(now);
    }

    /// The connection closed; answers for its terminals are lost until they dial again.
    pub fn on_closed(&mut self, conn: ConnId) {
        self.routes.retain(|_, c| *c != conn);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest = self.flights.keys().next().map(|(at, _)| *at);
        let mut consider = |deadline: Option<Instant>| {
            if let Some(deadline) = deadline {
                earliest = Some(earliest.map_or(deadline, |e: Instant| e.min(deadline)));
            }
        };
        consider(self.switch.poll_timeout());
        consider(self.network.poll_timeout());
        for issuer in &self.issuers {
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
                Flight::Hop { from, to, bytes } => match to {
                    Node::Switch => self.switch.handle_message(now, from, &bytes),
                    Node::Network => self.network.handle_message(now, from, &bytes),
                    Node::Issuer(index) => {
                        if let Some(issuer) = self.issuers.get_mut(usize::from(index)) {
                            issuer.handle_message(now, from, &bytes);
                        }
                    }
                    Node::Terminal(_) => {}
                },
                Flight::Answer { terminal, bytes } => self.write_to(terminal, bytes),
            }
        }
        if self.switch.poll_timeout().is_some_and(|t| t <= now) {
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
        self.drain(now);
    }

    fn write_to(&mut self, terminal: TerminalId, bytes: Vec<u8>) {
        match self.routes.get(&terminal) {
            Some(&conn) => self.output(HostOutput::Send { conn, bytes }),
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
                    self.frames_rejected += 1;
                    self.log(
                        "reject",
                        vec![
                            ("from", json(from.to_string())),
                            ("reason", json(format!("{reason:?}"))),
                        ],
                    );
                } else if let SwitchEventKind::Rejected { terminal, stan, code } = &event.kind {
                    self.log(
                        "refused",
                        vec![
                            ("terminal", json(terminal.trimmed())),
                            ("stan", stan.map(|s| s.value()).into()),
                            ("code", json(code.as_str())),
                        ],
                    );
                }
            }
            while let Some(transmit) = self.switch.poll_transmit() {
                outbound.push((Node::Switch, transmit));
            }
            while self.network.poll_event().is_some() {}
            while let Some(transmit) = self.network.poll_transmit() {
                outbound.push((Node::Network, transmit));
            }
            for (index, issuer) in self.issuers.iter_mut().enumerate() {
                while issuer.poll_event().is_some() {}
                while let Some(transmit) = issuer.poll_transmit() {
                    outbound.push((Node::Issuer(index as u16), transmit));
                }
            }
            if outbound.is_empty() {
                return;
            }
            for (from, transmit) in outbound {
                match transmit.to {
                    Node::Terminal(terminal) => self.answer(now, terminal, transmit.bytes),
                    to => {
                        let at = now + self.latency(from, to);
                        self.schedule(at, Flight::Hop { from, to, bytes: transmit.bytes });
                    }
                }
            }
        }
        panic!("the host's elements kept answering each other for {DRAIN_PASSES_MAX} passes");
    }

    /// An answer from the switch to a terminal, through the fault plan.
    fn answer(&mut self, now: Instant, terminal: TerminalId, mut bytes: Vec<u8>) {
        let Ok(frame) = Frame::decode(&bytes) else { return self.write_to(terminal, bytes) };
        let Ok(message) = CupMessage::parse(&frame.message) else {
            return self.write_to(terminal, bytes);
        };
        let timeout_ms = self.timeouts_ms.get(&terminal).copied().unwrap_or(60_000);
        let (verdict, why) = self.faults.on_answer(terminal, &message, timeout_ms);
        if let Some(why) = why {
            self.log("fault", vec![("terminal", json(terminal.trimmed())), ("what", json(why))]);
        }
        let fate = match verdict {
            // No connection for the terminal (it hung up, or lost power):
            // the answer is lost with it, as if cut off.
            AnswerVerdict::Deliver if !self.routes.contains_key(&terminal) => {
                self.write_to(terminal, bytes);
                AnswerFate::Reset
            }
            AnswerVerdict::Deliver => {
                self.write_to(terminal, bytes);
                AnswerFate::Delivered
            }
            AnswerVerdict::Withhold => AnswerFate::Withheld,
            AnswerVerdict::Lost => AnswerFate::Reset,
            AnswerVerdict::CorruptMac => {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
                self.write_to(terminal, bytes);
                AnswerFate::Corrupted
            }
            AnswerVerdict::DelayFromRequestMs { delay_ms, judged } => {
                let arrived =
                    self.arrivals.get(&(terminal, message.stan().value())).copied().unwrap_or(now);
                let at = (arrived + Duration::from_millis(delay_ms)).max(now);
                self.schedule(at, Flight::Answer { terminal, bytes });
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
                self.write_to(terminal, bytes);
                self.watch.on_answer(now, terminal, &message, AnswerFate::Delivered);
                return;
            }
        };
        self.watch.on_answer(now, terminal, &message, fate);
    }
}
