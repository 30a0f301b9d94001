//! The terminal side of `possim drive`: the scenario's terminals (the
//! possim-models [`Terminal`]), their cardholders and cashiers, and the
//! terminal-side faults, against an external acquirer host; every request
//! and answer goes through the [`HostWatch`]. Sans-IO: terminals are
//! named by id, time is passed in (wall time since start mapped to the
//! models' `Instant` from the scenario's opening hour), and the shell polls
//! [`FleetOutput`]s.
//!
//! The day itself (drawn and scripted cardholders, scripted cashier
//! commands, the cashier's habits) is the simulator's
//! ([`crate::day::DayDriver`], paced by `speed`); the fleet is its glue:
//! it applies the day's actions to its terminals at once and hands their
//! events back, and keeps its own items (the probe, power cuts, ghost
//! reversals, closing) on the day's clock.
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

mod closing;
pub mod line;
mod options;
mod placed;
mod record;
mod terminals;

pub use options::FleetOptions;
pub use placed::drive_applies;
pub use record::Recorder;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use possim_models::actor::Actor;
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::Frame;
use possim_models::terminal::{Terminal, TerminalCommand, TerminalConfig};
use possim_models::time::Instant;

use super::host_checks::{HostCheckResult, HostWatch, Sent};
use crate::day::placed::Landed;
use crate::day::{DayAction, DayDriver, DayPace, GlueItem};
use crate::rng::Streams;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::Fault;
use terminals::{Slot, Slots};

/// Outputs waiting for the shell.
pub const OUTPUTS_MAX: usize = 100_000;
/// The STAN of a reversal of a trade never sent: far above any the
/// terminal reaches within a batch.
const GHOST_STAN_BASE: u32 = 900_000;
/// The id an unregistered probe signs in with (the first not in the scenario).
const STRANGER_IDS: [&str; 3] = ["UNREG001", "UNREG002", "UNREG003"];

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

/// The fleet's own items on the day's clock.
#[derive(Debug, Clone)]
enum Chore {
    /// The unregistered probe signs in.
    Stranger,
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

impl GlueItem for Chore {
    fn stops_at_healing(&self) -> bool {
        matches!(self, Chore::Fault(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Workload,
    Closing,
    Done,
}

/// The fleet of terminals, their workload and their faults.
#[derive(Debug)]
pub struct Fleet {
    slots: Slots,
    /// The scenario's terminals with `registered: false`.
    unregistered: BTreeSet<TerminalId>,
    stranger: Option<Terminal>,
    /// The day: cardholders and the cashier's habits, as in the simulator,
    /// on one clock with the fleet's own items.
    day: DayDriver<Chore>,
    options: FleetOptions,
    start: Instant,
    workload_end: Instant,
    closing_end: Instant,
    phase: Phase,
    watch: HostWatch,
    outputs: VecDeque<FleetOutput>,
    /// What happened, when asked for ([`FleetOptions::records_max`]).
    recorder: Option<Recorder>,
    /// The time of the input being handled, for the records.
    now_recorded: Instant,
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

impl Fleet {
    pub fn new(scenario: &CompiledScenario, options: FleetOptions) -> Result<Fleet, FleetError> {
        assert!(options.speed > 0.0 && options.speed.is_finite(), "speed checked by the caller");
        let start = Instant::from_millis(u64::from(scenario.run.open_hour) * 3_600_000);
        let streams = Streams::new(options.seed);
        let mut slots = Slots::default();
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
                    landed: Landed::default(),
                    frames_up: 0,
                    frames_down: 0,
                    drop_answers: BTreeSet::new(),
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
        let unregistered = scenario
            .terminals
            .iter()
            .filter(|t| !t.registered)
            .map(|t| t.config.terminal_id)
            .collect();
        let mut fleet = Fleet {
            slots,
            unregistered,
            stranger,
            day: DayDriver::paced(
                scenario,
                &streams,
                start,
                DayPace {
                    safety_ms: options.workload_ms,
                    healing_max_ms: options.closing_ms,
                    speed: options.speed,
                },
            ),
            start,
            workload_end,
            closing_end: workload_end + Duration::from_millis(options.closing_ms),
            options,
            phase: Phase::Workload,
            watch: HostWatch::new(),
            outputs: VecDeque::new(),
            recorder: None,
            now_recorded: start,
            trades_sent: 0,
            frames_sent: 0,
            frames_received: 0,
        };
        if fleet.options.records_max > 0 {
            let mut recorder = Recorder::new(fleet.options.records_max);
            recorder.push(
                start,
                crate::trace::TraceEvent::Phase { phase: crate::trace::Phase::Safety },
            );
            fleet.recorder = Some(recorder);
        }
        fleet.plan(scenario);
        Ok(fleet)
    }

    fn plan(&mut self, scenario: &CompiledScenario) {
        let start = self.start;
        let ids: Vec<TerminalId> = self.slots.keys().copied().collect();
        for (index, id) in ids.iter().enumerate() {
            self.day.plan_opening(start + Duration::from_millis(index as u64 * 50), *id);
        }
        self.at(start + Duration::from_millis(100), Chore::Stranger);
        self.day.plan_script();
        for scheduled in &scenario.faults.scheduled {
            self.at(start + self.scaled(scheduled.at_ms), Chore::Fault(scheduled.fault.clone()));
        }
        // Closing settles: no settlement a minute before it, as the
        // simulated day has.
        self.day.plan_settle_every();
        self.at(self.workload_end, Chore::Closing);
        for fault in &scenario.faults.protocol {
            let played =
                drive_applies(fault) || (self.options.line_faults && line::is_line_fault(fault));
            if !played {
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

    fn at(&mut self, when: Instant, chore: Chore) {
        self.day.at_glue(when, chore);
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
        let mut earliest = self.day.poll_timeout();
        let terminals = self.slots.values().map(|s| &s.terminal).chain(self.stranger.as_ref());
        for deadline in terminals.filter_map(|t| t.poll_timeout()) {
            earliest = Some(earliest.map_or(deadline, |e: Instant| e.min(deadline)));
        }
        earliest
    }

    /// Time passed: due actions, then due terminal timers.
    pub fn on_timeout(&mut self, now: Instant) {
        self.now_recorded = now;
        // Each pass applies one of the day's actions; its schedule is
        // bounded, and what a pass bound leaves waits for the next call.
        for _ in 0..=crate::day::SCHEDULE_MAX {
            if self.phase == Phase::Done {
                break;
            }
            let Some(action) = self.day.poll_action(now, &self.slots) else { break };
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

    /// The terminal's connection closed (by either side).
    pub fn on_closed(&mut self, now: Instant, terminal: TerminalId) {
        let _ = now;
        let _ = terminal;
    }

    fn act(&mut self, now: Instant, action: DayAction<Chore>) {
        let chore = match action {
            DayAction::Command { terminal, command } => {
                let bound = self.options.max_trades.is_some_and(|max| self.trades_sent >= max);
                // Past the trade bound the cardholders leave.
                if !(bound && command.is_trade()) {
                    self.command(now, terminal, command);
                }
                return;
            }
            DayAction::Glue(chore) => chore,
            // The fleet plans no healing: closing is its own (`Chore::Closing`).
            DayAction::Healing { .. } | DayAction::Converged | DayAction::End => return,
        };
        match chore {
            Chore::Stranger => self.probe(now),
            Chore::PowerOn(id) => {
                if self.slots.get(&id).is_some_and(|s| !s.terminal.is_powered()) {
                    self.fault_log(id, "power on".into());
                    self.command(now, id, TerminalCommand::PowerOn);
                    self.operator_sign_in(now, id);
                }
            }
            Chore::Fault(fault) => self.scheduled_fault(now, fault),
            Chore::Ghost { terminal, bytes } => {
                if let Some((_, message)) = parse(&bytes) {
                    self.watch.on_request(now, terminal, &message, Sent::UnknownReversal);
                }
                self.send(terminal, bytes);
            }
            Chore::Closing => self.start_closing(now),
            Chore::ClosingRound => self.closing_round(now),
        }
    }

    /// The records kept so far (`None`: not asked for); the recorder says
    /// whether its bound refused any.
    pub fn take_records(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    pub(super) fn record(&mut self, at: Instant, event: crate::trace::TraceEvent) {
        if let Some(recorder) = &mut self.recorder {
            recorder.push(at, event);
        }
    }

    pub(super) fn record_frame(
        &mut self,
        at: Instant,
        terminal: TerminalId,
        up: bool,
        bytes: &[u8],
        fate: crate::trace::Fate,
    ) {
        if let Some(recorder) = &mut self.recorder {
            recorder.frame(at, terminal, up, bytes, fate);
        }
    }

    pub(super) fn record_fault(
        &mut self,
        at: Instant,
        terminal: TerminalId,
        kind: crate::trace::FaultKind,
        words: String,
    ) {
        if let Some(recorder) = &mut self.recorder {
            recorder.fault(at, terminal, kind, words);
        }
    }

    /// The host checks' verdicts; what is still owed counts.
    pub fn finish(&mut self, now: Instant) -> Vec<HostCheckResult> {
        self.watch.finish(now)
    }
}
