//! The terminal side of `possim drive`: the scenario's terminals (the
//! possim-models [`Terminal`]), their cardholders and cashiers, and the
//! terminal-side faults, against an external acquirer host; every request
//! and answer goes through the [`HostWatch`]. Sans-IO: terminals are
//! named by id, time is passed in (wall time since start mapped to the
//! models' `Instant` from the scenario's opening hour), and the shell polls
//! [`FleetOutput`]s.
//!
//! Two phases: the *workload* (scripted trades at their time, drawn
//! cardholders at the scenario's rate, both `speed` times faster, until
//! `workload_ms` or `max_trades`), then *closing* (no more cardholders;
//! each terminal signs in, sends what is pending and settles, until all
//! have or `closing_ms` passed). The terminals' own timers (response
//! timeout) are never sped up: the host sees real protocol timing.
//!
//! ```
//! use possim_sim::live::fleet::{Fleet, FleetOptions, FleetOutput};
//! use possim_sim::scenario::parse_and_compile;
//! let text = "name: t\nmerchants: [{id: '898100000000001'}]\n\
//!             issuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!             card_groups: [{bin: '622202', count: 2, balance_fen: 100000}]\n";
//! let scenario = parse_and_compile(text, "t.yaml").unwrap();
//! let mut fleet = Fleet::new(&scenario, FleetOptions::default()).unwrap();
//! let start = fleet.start();
//! fleet.on_timeout(start + std::time::Duration::from_millis(200));
//! let sends = std::iter::from_fn(|| fleet.poll_output())
//!     .filter(|output| matches!(output, FleetOutput::Send { .. }))
//!     .count();
//! assert_eq!(sends, 2, "the terminal and the unregistered probe sign in");
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use possim_models::actor::{Actor, Node};
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::trade::{CardRead, EntryMode, ReversalRequest};
use possim_models::iso8583::values::{Stan, TerminalId};
use possim_models::iso8583::{Frame, ResponseCode};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::{Terminal, TerminalCommand, TerminalConfig};
use possim_models::time::Instant;
use possim_models::wire::seal_with_header;

use super::host_checks::{HostCheckResult, HostWatch, Sent};
use crate::day::cashier::{
    self, Reaction, SigningIn, BUSY_WAITS_MAX, BUSY_WAIT_MS, FIRST_ARRIVAL_MS, SIGN_IN_AGAIN_MS,
};
use crate::day::workload::Cardholders;
use crate::order::Order;
use crate::rng::Streams;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{Fault, PowerPhase, ProtocolFault};

/// Scheduled actions waiting at once.
pub const SCHEDULE_MAX: usize = 1_000_000;
/// Outputs waiting for the shell.
pub const OUTPUTS_MAX: usize = 100_000;
/// Passes of a terminal's output loop per input.
const PUMP_PASSES_MAX: usize = 1_000;
/// Closing: how often each idle terminal is looked at (wall time, not sped up).
const CLOSING_ROUND_MS: u64 = 500;
/// The STAN of a reversal of a trade never sent: far above any the
/// terminal reaches within a batch.
const GHOST_STAN_BASE: u32 = 900_000;
/// The id an unregistered probe signs in with (the first not in the scenario).
const STRANGER_IDS: [&str; 3] = ["UNREG001", "UNREG002", "UNREG003"];

/// How a drive runs.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Workload times (script, arrivals, cashier delays, power-off
    /// durations) are divided by this.
    pub speed: f64,
    /// The workload phase ends once this many online trades left.
    pub max_trades: Option<u64>,
    /// The workload phase lasts at most this long (wall).
    pub workload_ms: u64,
    /// The closing phase lasts at most this long (wall).
    pub closing_ms: u64,
    /// Seeds the drawn cardholders.
    pub seed: u64,
}

impl Default for FleetOptions {
    fn default() -> FleetOptions {
        FleetOptions {
            speed: 1.0,
            max_trades: None,
            workload_ms: 60_000,
            closing_ms: 60_000,
            seed: 0,
        }
    }
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetOutput {
    /// Write this frame on the terminal's connection (dial it if closed).
    Send {
        terminal: TerminalId,
        bytes: Vec<u8>,
    },
    /// Close the terminal's connection.
    Close {
        terminal: TerminalId,
        reason: String,
    },
    Log {
        event: &'static str,
        fields: Vec<(&'static str, serde_json::Value)>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("terminal {terminal} does not build: {why}")]
    Terminal { terminal: TerminalId, why: String },
    #[error("a scenario needs at least one card")]
    NoCards,
}

#[derive(Debug, Clone)]
enum Action {
    Open(TerminalId),
    Stranger,
    Arrival {
        terminal: TerminalId,
        waits: u32,
    },
    Scripted {
        index: usize,
        waits: u32,
    },
    Command(TerminalId, TerminalCommand),
    SignIn(TerminalId),
    PowerOn(TerminalId),
    Fault(Fault),
    /// A reversal of a trade never sent, in the terminal's name.
    Ghost {
        terminal: TerminalId,
        bytes: Vec<u8>,
    },
    Closing,
    ClosingRound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Workload,
    Closing,
    Done,
}

#[derive(Debug)]
struct Slot {
    terminal: Terminal,
    faults: Vec<ProtocolFault>,
    /// Online trade requests sent (the Nth trade of the fault plan).
    trades_sent: u32,
    /// STAN -> power off for this long when its answer approves it.
    power_on_approval: BTreeMap<u32, u64>,
    /// STAN -> the trade whose answer triggers a reversal of a trade never sent.
    ghost_after: BTreeMap<u32, u32>,
    /// STANs of ghost reversals sent: their answers are the watcher's only.
    ghosts: BTreeSet<u32>,
    /// STANs sent twice: the answers after the first are the watcher's only.
    repeated: BTreeMap<u32, u32>,
    batch_upload_power_done: bool,
}

/// The fleet of terminals, their workload and their faults.
#[derive(Debug)]
pub struct Fleet {
    slots: BTreeMap<TerminalId, Slot>,
    stranger: Option<Terminal>,
    schedule: BTreeMap<(Instant, u64), Action>,
    sequence: u64,
    /// The cardholders, drawn as in the simulated day.
    cardholders: Cardholders,
    /// Terminals the cashier is signing in again.
    signing_in: SigningIn,
    options: FleetOptions,
    start: Instant,
    workload_end: Instant,
    closing_end: Instant,
    phase: Phase,
    watch: HostWatch,
    outputs: VecDeque<FleetOutput>,
    /// Online trade requests sent, all terminals.
    pub trades_sent: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
}

fn json(text: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(text.into())
}

fn parse(bytes: &[u8]) -> Option<(Frame, CupMessage)> {
    let frame = Frame::decode(bytes).ok()?;
    let message = CupMessage::parse(&frame.message).ok()?;
    Some((frame, message))
}

fn is_online_trade(message: &CupMessage) -> bool {
    matches!(message, CupMessage::Trade(request) if !request.kind().is_offline_upload())
}

impl Fleet {
    pub fn new(scenario: &CompiledScenario, options: FleetOptions) -> Result<Fleet, FleetError> {
        assert!(options.speed > 0.0 && options.speed.is_finite(), "speed checked by the caller");
        let start = Instant::from_millis(u64::from(scenario.run.open_hour) * 3_600_000);
        let streams = Streams::new(options.seed);
        let mut slots = BTreeMap::new();
        for compiled in &scenario.terminals {
            let id = compiled.config.terminal_id;
            let terminal = Terminal::new(compiled.config.clone(), start)
                .map_err(|e| FleetError::Terminal { terminal: id, why: e.to_string() })?;
            let faults = scenario.faults.protocol.iter().filter(|f| f.terminal() == id).cloned();
            slots.insert(
                id,
                Slot {
                    terminal,
                    faults: faults.collect(),
                    trades_sent: 0,
                    power_on_approval: BTreeMap::new(),
                    ghost_after: BTreeMap::new(),
                    ghosts: BTreeSet::new(),
                    repeated: BTreeMap::new(),
                    batch_upload_power_done: false,
                },
            );
        }
        if scenario.cards.is_empty() {
            return Err(FleetError::NoCards);
        }
        let stranger = STRANGER_IDS
            .iter()
            .filter_map(|id| TerminalId::new(id))
            .find(|id| !slots.contains_key(id))
            .and_then(|id| {
                let template = scenario.terminals.first()?;
                let config = TerminalConfig { terminal_id: id, ..template.config.clone() };
                Terminal::new(config, start).ok()
            });
        let workload_end = start + Duration::from_millis(options.workload_ms);
        let mut fleet = Fleet {
            slots,
            stranger,
            schedule: BTreeMap::new(),
            sequence: 0,
            cardholders: Cardholders::new(scenario, &streams),
            signing_in: SigningIn::default(),
            start,
            workload_end,
            closing_end: workload_end + Duration::from_millis(options.closing_ms),
            options,
            phase: Phase::Workload,
            watch: HostWatch::new(),
            outputs: VecDeque::new(),
            trades_sent: 0,
            frames_sent: 0,
            frames_received: 0,
        };
        fleet.plan(scenario);
        Ok(fleet)
    }

    fn plan(&mut self, scenario: &CompiledScenario) {
        let start = self.start;
        let ids: Vec<TerminalId> = self.slots.keys().copied().collect();
        for (index, id) in ids.iter().enumerate() {
            self.at(start + Duration::from_millis(index as u64 * 50), Action::Open(*id));
            let first = start + self.scaled(FIRST_ARRIVAL_MS);
            self.next_arrival(first, *id);
        }
        self.at(start + Duration::from_millis(100), Action::Stranger);
        for (index, trade) in scenario.workload.script.iter().enumerate() {
            self.at(start + self.scaled(trade.at_ms), Action::Scripted { index, waits: 0 });
        }
        for scheduled in &scenario.faults.scheduled {
            self.at(start + self.scaled(scheduled.at_ms), Action::Fault(scheduled.fault.clone()));
        }
        let every = scenario.workload.cashier.settle_every_ms;
        if every > 0 {
            for (index, id) in ids.iter().enumerate() {
                let mut when =
                    start + self.scaled(every) + Duration::from_millis(index as u64 * 20);
                while when < self.workload_end {
                    self.at(when, Action::Command(*id, TerminalCommand::Settle));
                    when = when + self.scaled(every).max(Duration::from_millis(1));
                }
            }
        }
        self.at(self.workload_end, Action::Closing);
        for fault in &scenario.faults.protocol {
            if !drive_applies(fault) {
                self.log(
                    "fault-skipped",
                    vec![
                        ("kind", json(fault.kind_name())),
                        ("reason", json("a host-side fault: the host under test is not possim's")),
                    ],
                );
            }
        }
    }

    /// The models' time at wall-clock zero: the scenario's opening hour.
    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The ids of the terminals (the unregistered probe's included).
    pub fn terminal_ids(&self) -> Vec<TerminalId> {
        let mut ids: Vec<TerminalId> = self.slots.keys().copied().collect();
        ids.extend(self.stranger.as_ref().map(|t| t.config().terminal_id));
        ids
    }

    // The speed is the user's factor; scaled durations round to whole ms.
    #[allow(clippy::float_arithmetic)]
    fn scaled(&self, ms: u64) -> Duration {
        Duration::from_millis((ms as f64 / self.options.speed).round() as u64)
    }

    fn at(&mut self, when: Instant, action: Action) {
        self.sequence += 1;
        self.schedule.insert((when, self.sequence), action);
        assert!(self.schedule.len() <= SCHEDULE_MAX, "schedule over {SCHEDULE_MAX}");
    }

    fn output(&mut self, output: FleetOutput) {
        if self.outputs.len() < OUTPUTS_MAX {
            self.outputs.push_back(output);
        }
    }

    fn log(&mut self, event: &'static str, fields: Vec<(&'static str, serde_json::Value)>) {
        self.output(FleetOutput::Log { event, fields });
    }

    fn fault_log(&mut self, terminal: TerminalId, what: String) {
        self.log("fault", vec![("terminal", json(terminal.trimmed())), ("what", json(what))]);
    }

    pub fn poll_output(&mut self) -> Option<FleetOutput> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Done {
            return None;
        }
        let mut earliest = self.schedule.keys().next().map(|(at, _)| *at);
        let terminals = self.slots.values().map(|s| &s.terminal).chain(self.stranger.as_ref());
        for deadline in terminals.filter_map(|t| t.poll_timeout()) {
            earliest = Some(earliest.map_or(deadline, |e: Instant| e.min(deadline)));
        }
        earliest
    }

    /// Time passed: due actions, then due terminal timers.
    pub fn on_timeout(&mut self, now: Instant) {
        // Each pass takes one due action; actions schedule only later ones
        // or ones at `now`, and the schedule is bounded.
        for _ in 0..SCHEDULE_MAX {
            let Some(entry) = self.schedule.first_entry() else { break };
            if entry.key().0 > now || self.phase == Phase::Done {
                break;
            }
            let action = entry.remove();
            self.act(now, action);
        }
        let ids: Vec<TerminalId> = self.slots.keys().copied().collect();
        for id in ids {
            let due = self.slots[&id].terminal.poll_timeout().is_some_and(|t| t <= now);
            if due {
                self.slots.get_mut(&id).expect("listed").terminal.handle_timeout(now);
                self.pump(now, id);
            }
        }
        if let Some(stranger) = &mut self.stranger {
            if stranger.poll_timeout().is_some_and(|t| t <= now) {
                stranger.handle_timeout(now);
                while stranger.poll_event().is_some() {}
                while stranger.poll_transmit().is_some() {}
            }
        }
    }

    /// A whole frame arrived on `terminal`'s connection.
    pub fn on_frame(&mut self, now: Instant, terminal: TerminalId, bytes: &[u8]) {
        self.frames_received += 1;
        let Some((_, message)) = parse(bytes) else {
            self.log(
                "reject",
                vec![
                    ("terminal", json(terminal.trimmed())),
                    (
                        "reason",
                        json("an answer that is not a CUP message: given to the terminal as is"),
                    ),
                ],
            );
            if let Some(slot) = self.slots.get_mut(&terminal) {
                slot.terminal.handle_message(now, Node::Switch, bytes);
                self.pump(now, terminal);
            }
            return;
        };
        self.watch.on_answer(now, terminal, &message);
        if self.stranger.as_ref().is_some_and(|s| s.config().terminal_id == terminal) {
            let code = match &message {
                CupMessage::NetworkAnswer(answer) => answer.response_code.to_string(),
                _ => "-".into(),
            };
            self.log("probe", vec![("terminal", json(terminal.trimmed())), ("answer", json(code))]);
            return;
        }
        let Some(slot) = self.slots.get_mut(&terminal) else { return };
        let mut power_off_ms = None;
        let mut ghost = None;
        if let CupMessage::TradeAnswer(answer) = &message {
            let stan = answer.stan.value();
            if answer.reversal && slot.ghosts.contains(&stan) {
                return;
            }
            if !answer.reversal {
                if let Some(count) = slot.repeated.get_mut(&stan) {
                    *count += 1;
                    if *count > 1 {
                        // A repeat's answer: the terminal already has the original's.
                        return;
                    }
                }
                if answer.response_code.is_approved() {
                    power_off_ms = slot.power_on_approval.remove(&stan);
                }
                if let Some(trade) = slot.ghost_after.remove(&stan) {
                    ghost = Some(trade);
                }
            }
        }
        if let Some(off_ms) = power_off_ms {
            self.fault_log(
                terminal,
                format!(
                    "power_off: the approval of stan {} never reached the terminal",
                    message.stan().value()
                ),
            );
            self.power_off(now, terminal, off_ms);
            return;
        }
        let slot = self.slots.get_mut(&terminal).expect("looked up above");
        slot.terminal.handle_message(now, Node::Switch, bytes);
        self.pump(now, terminal);
        if let (Some(trade), CupMessage::TradeAnswer(answer)) = (ghost, &message) {
            self.plan_ghost(now, terminal, trade, answer.stan.value());
        }
    }

    /// The terminal's connection closed (by either side).
    pub fn on_closed(&mut self, now: Instant, terminal: TerminalId) {
        let _ = now;
        let _ = terminal;
    }

    fn act(&mut self, now: Instant, action: Action) {
        match action {
            Action::Open(id) => {
                self.operator_sign_in(now, id);
                self.command(now, id, TerminalCommand::SignIn);
            }
            Action::Stranger => {
                if let Some(mut stranger) = self.stranger.take() {
                    let config = stranger.config().clone();
                    stranger.handle_command(
                        now,
                        TerminalCommand::OperatorSignIn {
                            operator: config.operator.clone(),
                            password: config.operator_password.clone(),
                        },
                    );
                    stranger.handle_command(now, TerminalCommand::SignIn);
                    while stranger.poll_event().is_some() {}
                    while let Some(transmit) = stranger.poll_transmit() {
                        if let Some((_, message)) = parse(&transmit.bytes) {
                            self.watch.on_request(
                                now,
                                config.terminal_id,
                                &message,
                                Sent::Unregistered,
                            );
                        }
                        self.send(config.terminal_id, transmit.bytes);
                    }
                    self.stranger = Some(stranger);
                }
            }
            Action::Arrival { terminal, waits } => self.arrival(now, terminal, waits),
            Action::Scripted { index, waits } => self.scripted(now, index, waits),
            Action::Command(id, command) => self.command(now, id, command),
            Action::SignIn(id) => {
                self.signing_in.done(id);
                self.command(now, id, TerminalCommand::SignIn);
            }
            Action::PowerOn(id) => {
                if self.slots.get(&id).is_some_and(|s| !s.terminal.is_powered()) {
                    self.fault_log(id, "power on".into());
                    self.command(now, id, TerminalCommand::PowerOn);
                    self.operator_sign_in(now, id);
                }
            }
            Action::Fault(fault) => self.scheduled_fault(now, fault),
            Action::Ghost { terminal, bytes } => {
                if let Some((_, message)) = parse(&bytes) {
                    self.watch.on_request(now, terminal, &message, Sent::UnknownReversal);
                }
                self.send(terminal, bytes);
            }
            Action::Closing => self.start_closing(now),
            Action::ClosingRound => self.closing_round(now),
        }
    }

    fn command(&mut self, now: Instant, id: TerminalId, command: TerminalCommand) {
        let Some(slot) = self.slots.get_mut(&id) else { return };
        if matches!(command, TerminalCommand::Settle) {
            self.cardholders.remember_refundable(&slot.terminal);
        }
        slot.terminal.handle_command(now, command);
        self.pump(now, id);
    }

    fn operator_sign_in(&mut self, now: Instant, id: TerminalId) {
        let Some(slot) = self.slots.get(&id) else { return };
        let config = slot.terminal.config();
        let command = TerminalCommand::OperatorSignIn {
            operator: config.operator.clone(),
            password: config.operator_password.clone(),
        };
        self.command(now, id, command);
    }

    fn send(&mut self, terminal: TerminalId, bytes: Vec<u8>) {
        self.frames_sent += 1;
        self.output(FleetOutput::Send { terminal, bytes });
    }

    /// Moves the terminal's frames out (through the fault plan) and its
    /// events to the cashier.
    fn pump(&mut self, now: Instant, id: TerminalId) {
        for _ in 0..PUMP_PASSES_MAX {
            let Some(slot) = self.slots.get_mut(&id) else { return };
            let transmit = slot.terminal.poll_transmit();
            let event = slot.terminal.poll_event();
            if transmit.is_none() && event.is_none() {
                return;
            }
            if let Some(transmit) = transmit {
                self.outgoing(now, id, transmit.bytes);
            }
            if let Some(event) = event {
                self.cashier(now, id, event.kind);
            }
        }
        panic!("terminal {id} kept producing output for {PUMP_PASSES_MAX} passes");
    }

    /// A frame the terminal sends, through its fault plan.
    fn outgoing(&mut self, now: Instant, id: TerminalId, mut bytes: Vec<u8>) {
        let Some((_, message)) = parse(&bytes) else {
            return self.send(id, bytes);
        };
        self.log(
            "request",
            vec![
                ("terminal", json(id.trimmed())),
                ("mti", json(message.to_message().mti().to_string())),
                ("stan", message.stan().value().into()),
            ],
        );
        let slot = self.slots.get_mut(&id).expect("a terminal of the fleet");
        let stan = message.stan().value();
        let mut sent = Sent::Normal;
        let mut twice = false;
        let mut reset = false;
        let mut power_off_ms = None;
        let mut fired = Vec::new();
        if is_online_trade(&message) {
            self.trades_sent += 1;
            slot.trades_sent += 1;
            let trade = slot.trades_sent;
            for fault in &slot.faults {
                if fault.trade() != Some(trade) {
                    continue;
                }
                match fault {
                    ProtocolFault::CorruptRequest { .. } => {
                        let last = bytes.len() - 1;
                        bytes[last] ^= 0x01;
                        sent = Sent::BadMac;
                    }
                    ProtocolFault::DuplicateRequest { .. } => twice = true,
                    ProtocolFault::ResetAfterRequest { .. } => reset = true,
                    ProtocolFault::PowerOff { phase, off_ms, .. } => match phase {
                        PowerPhase::AfterRequestLeft => power_off_ms = Some(*off_ms),
                        PowerPhase::AfterIssuerApproved => {
                            slot.power_on_approval.insert(stan, *off_ms);
                        }
                        // Simulated only (refused as the scenario loads).
                        PowerPhase::MidBatchUpload
                        | PowerPhase::WhileReversalInFlight
                        | PowerPhase::WhileSettlementInFlight
                        | PowerPhase::DuringOfflineUpload
                        | PowerPhase::DuringSignIn => continue,
                    },
                    ProtocolFault::ReverseUnknown { .. } => {
                        slot.ghost_after.insert(stan, trade);
                    }
                    _ => continue,
                }
                fired.push(format!("{} on trade {trade} (stan {stan})", fault.kind_name()));
            }
        }
        if let CupMessage::Trade(request) = &message {
            let uploads_twice =
                slot.faults.iter().any(|f| matches!(f, ProtocolFault::DuplicateUploads { .. }));
            if request.kind().is_offline_upload()
                && uploads_twice
                && !slot.repeated.contains_key(&stan)
            {
                twice = true;
                fired.push(format!("duplicate_uploads: stan {stan} sent twice"));
            }
        }
        let batch_upload = matches!(&message, CupMessage::BatchUpload(_));
        if batch_upload && !slot.batch_upload_power_done {
            let mid = slot.faults.iter().find_map(|f| match f {
                ProtocolFault::PowerOff { phase: PowerPhase::MidBatchUpload, off_ms, .. } => {
                    Some(*off_ms)
                }
                _ => None,
            });
            if let Some(off_ms) = mid {
                slot.batch_upload_power_done = true;
                power_off_ms = Some(off_ms);
                fired.push("power_off in the middle of the batch upload".into());
            }
        }
        if twice {
            slot.repeated.insert(stan, 0);
        }
        for what in fired {
            self.fault_log(id, what);
        }
        self.watch.on_request(now, id, &message, sent);
        self.send(id, bytes.clone());
        if twice {
            self.watch.on_request(now, id, &message, Sent::Repeat);
            self.send(id, bytes);
        }
        if reset {
            self.output(FleetOutput::Close {
                terminal: id,
                reason: "reset_after_request fault".into(),
            });
        }
        if let Some(off_ms) = power_off_ms {
            self.power_off(now, id, off_ms);
        }
    }

    fn power_off(&mut self, now: Instant, id: TerminalId, off_ms: u64) {
        let Some(slot) = self.slots.get_mut(&id) else { return };
        if !slot.terminal.is_powered() {
            return;
        }
        slot.terminal.handle_command(now, TerminalCommand::PowerOff);
        self.fault_log(id, format!("power off for {off_ms} ms (scenario time)"));
        self.output(FleetOutput::Close { terminal: id, reason: "power off".into() });
        self.pump(now, id);
        let when = now + self.scaled(off_ms);
        self.at(when, Action::PowerOn(id));
    }

    /// After `trade` was answered: a reversal of a trade never sent, sealed
    /// under the terminal's session key.
    fn plan_ghost(&mut self, now: Instant, id: TerminalId, trade: u32, stan: u32) {
        let _ = stan;
        let Some(slot) = self.slots.get_mut(&id) else { return };
        let Some(key) = slot.terminal.session_mac_key() else { return };
        let original =
            slot.terminal.persistent().journal().last().map(|e| (e.pan, e.amount, e.batch));
        let Some((pan, amount, batch)) = original else { return };
        let ghost_stan = GHOST_STAN_BASE + trade;
        let Some(ghost_stan_value) = Stan::new(ghost_stan) else { return };
        let request = possim_models::iso8583::trade::FinancialRequest {
            trade: possim_models::iso8583::trade::Trade::Sale { amount },
            card: CardRead {
                expiry: None,
                entry_mode: EntryMode::CHIP_PIN,
                ..CardRead::swiped(pan)
            },
            pin_block: None,
            stan: ghost_stan_value,
            batch,
            terminal: id,
            merchant: slot.terminal.config().merchant_id,
        };
        let reversal =
            CupMessage::Reversal(ReversalRequest::new(&request, ResponseCode::new(*b"98")));
        let bytes = seal_with_header(
            &reversal,
            possim_models::iso8583::Tpdu::new(0x0003, 0x0000),
            possim_models::iso8583::Header::new(possim_models::wire::SOFTWARE_VERSION),
            Some(&key),
        );
        slot.ghosts.insert(ghost_stan);
        self.fault_log(
            id,
            format!(
                "reverse_unknown after trade {trade}: reversal of stan {ghost_stan}, never sent"
            ),
        );
        self.at(now + Duration::from_millis(10), Action::Ghost { terminal: id, bytes });
    }

    /// The cashier's habits, as in the simulated workload.
    fn cashier(&mut self, now: Instant, id: TerminalId, kind: TerminalEventKind) {
        // What the terminal did, for the log; frames are logged as they leave.
        if !matches!(kind, TerminalEventKind::RequestSent { .. }) {
            let text = serde_json::to_value(&kind).unwrap_or_default();
            self.log("terminal", vec![("terminal", json(id.trimmed())), ("what", text)]);
        }
        match cashier::react(&kind, self.phase == Phase::Workload) {
            Some(Reaction::SendPending) => {
                let after_ms = self.cardholders.workload.cashier.send_pending_after_ms;
                let when = now + self.scaled(after_ms);
                self.at(when, Action::Command(id, TerminalCommand::SendPending));
            }
            Some(Reaction::SignInAgain) => self.sign_in_again(now, id),
            Some(Reaction::SignedIn) => self.signing_in.done(id),
            None => {}
        }
    }

    fn sign_in_again(&mut self, now: Instant, id: TerminalId) {
        let Some(slot) = self.slots.get(&id) else { return };
        if self.phase == Phase::Done || !self.signing_in.start(id) {
            return;
        }
        let command = cashier::operator_sign_in(&slot.terminal);
        let when = now + self.scaled(SIGN_IN_AGAIN_MS);
        self.at(when, Action::Command(id, command));
        self.at(when, Action::SignIn(id));
    }

    fn is_busy(&self, id: TerminalId) -> bool {
        cashier::is_busy(&self.slots[&id].terminal)
    }

    #[allow(clippy::float_arithmetic)]
    fn next_arrival(&mut self, now: Instant, id: TerminalId) {
        let rate = self.cardholders.workload.arrivals_per_terminal_per_hour * self.options.speed;
        if let Some(gap) = self.cardholders.next_gap_ms(id, rate) {
            let when = now + Duration::from_millis(gap);
            if when < self.workload_end {
                self.at(when, Action::Arrival { terminal: id, waits: 0 });
            }
        }
    }

    fn arrival(&mut self, now: Instant, id: TerminalId, waits: u32) {
        if self.phase != Phase::Workload {
            return;
        }
        if self.is_busy(id) {
            if waits < BUSY_WAITS_MAX {
                let when = now + self.scaled(BUSY_WAIT_MS);
                self.at(when, Action::Arrival { terminal: id, waits: waits + 1 });
            } else {
                self.next_arrival(now, id);
            }
            return;
        }
        let order = self.cardholders.draw(id);
        self.place(now, id, order);
        self.next_arrival(now, id);
    }

    fn scripted(&mut self, now: Instant, index: usize, waits: u32) {
        if self.phase != Phase::Workload {
            return;
        }
        let (terminal, order) = self.cardholders.scripted(index);
        if !self.slots.contains_key(&terminal) {
            return;
        }
        if self.is_busy(terminal) {
            if waits < BUSY_WAITS_MAX {
                let when = now + self.scaled(BUSY_WAIT_MS);
                self.at(when, Action::Scripted { index, waits: waits + 1 });
            }
            return;
        }
        self.place(now, terminal, order);
    }

    /// A cardholder's order as the cashier's command, as in the simulated
    /// day ([`Cardholders::place`]); none once the trade bound is reached.
    fn place(&mut self, now: Instant, id: TerminalId, order: Order) {
        if self.options.max_trades.is_some_and(|max| self.trades_sent >= max) {
            return;
        }
        let Some(slot) = self.slots.get(&id) else { return };
        if let Some(command) = self.cardholders.place(now, &slot.terminal, order) {
            self.command(now, id, command);
        }
    }

    fn scheduled_fault(&mut self, now: Instant, fault: Fault) {
        if self.phase != Phase::Workload {
            return;
        }
        match fault {
            Fault::Reset { terminal } => {
                self.fault_log(terminal, "reset: the connection is closed".into());
                self.output(FleetOutput::Close { terminal, reason: "reset fault".into() });
            }
            Fault::PowerCut { terminal, off_ms } => self.power_off(now, terminal, off_ms),
            other => {
                let kind = format!("{other:?}");
                let kind = kind.split([' ', '{']).next().unwrap_or("fault").to_string();
                self.log(
                    "fault-skipped",
                    vec![("kind", json(kind)), ("reason", json("not a terminal-side fault"))],
                );
            }
        }
    }

    /// Stops if the workload bound is reached.
    pub fn check_bounds(&mut self, now: Instant) {
        let trades_done = self.options.max_trades.is_some_and(|max| self.trades_sent >= max);
        if self.phase == Phase::Workload && trades_done {
            self.start_closing(now);
        }
    }

    fn start_closing(&mut self, now: Instant) {
        if self.phase != Phase::Workload {
            return;
        }
        self.phase = Phase::Closing;
        self.closing_end = now + Duration::from_millis(self.options.closing_ms);
        self.schedule.retain(|_, action| {
            !matches!(action, Action::Arrival { .. } | Action::Scripted { .. } | Action::Fault(_))
        });
        self.log("phase", vec![("phase", json("closing")), ("trades", self.trades_sent.into())]);
        self.at(now, Action::ClosingRound);
    }

    /// Each idle terminal: power, sign-in, pending messages, settlement —
    /// one step per round, since a terminal runs one operation at a time.
    fn closing_round(&mut self, now: Instant) {
        let ids: Vec<TerminalId> = self.slots.keys().copied().collect();
        let mut settled = true;
        for id in ids {
            let signing_in = self.signing_in.is_signing_in(id);
            let (powered, signed_in, pending, settling, journal, busy) = {
                let slot = &self.slots[&id];
                let persistent = slot.terminal.persistent();
                (
                    slot.terminal.is_powered(),
                    persistent.signed_in(),
                    persistent.reversal().is_some() || !persistent.offline().is_empty(),
                    persistent.settlement().is_some(),
                    !persistent.journal().is_empty(),
                    slot.terminal.is_busy(),
                )
            };
            if powered && signed_in && !pending && !settling && !journal {
                continue;
            }
            settled = false;
            if !powered {
                self.command(now, id, TerminalCommand::PowerOn);
                self.operator_sign_in(now, id);
                continue;
            }
            if busy || signing_in {
                continue;
            }
            self.operator_sign_in(now, id);
            if !signed_in {
                self.command(now, id, TerminalCommand::SignIn);
            } else if pending {
                self.command(now, id, TerminalCommand::SendPending);
            } else {
                self.command(now, id, TerminalCommand::Settle);
            }
        }
        if settled {
            self.phase = Phase::Done;
            self.log(
                "phase",
                vec![("phase", json("done")), ("why", json("every terminal settled"))],
            );
        } else if now >= self.closing_end {
            self.phase = Phase::Done;
            self.log(
                "phase",
                vec![("phase", json("done")), ("why", json("closing bound reached"))],
            );
        } else {
            self.at(now + Duration::from_millis(CLOSING_ROUND_MS), Action::ClosingRound);
        }
    }

    /// The host checks' verdicts; what is still owed counts.
    pub fn finish(&mut self, now: Instant) -> Vec<HostCheckResult> {
        self.watch.finish(now)
    }
}

/// Whether `possim drive` applies a fault kind (the others are the host's:
/// an external host under test is not possim's to fault).
pub fn drive_applies(fault: &ProtocolFault) -> bool {
    matches!(
        fault,
        ProtocolFault::PowerOff { .. }
            | ProtocolFault::CorruptRequest { .. }
            | ProtocolFault::ReverseUnknown { .. }
            | ProtocolFault::DuplicateUploads { .. }
            | ProtocolFault::DuplicateRequest { .. }
            | ProtocolFault::ResetAfterRequest { .. }
    )
}
