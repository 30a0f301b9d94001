//! One run: build the turmoil world from a compiled scenario, then step it,
//! applying between steps whatever is due — cardholders arriving, faults
//! starting and ending, the cashier's habits — through the safety phase, the
//! healing phase (faults stopped, the system must converge within the
//! bound), and the end of the day's clearing.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use possim_models::actor::{Node, TradeKey};
use possim_models::iso8583::values::TerminalId;
use possim_models::issuer::{Issuer, IssuerCommand};
use possim_models::network::{Network, NetworkCommand};
use possim_models::switch::{Switch, SwitchCommand};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::printer::PrinterHardware;
use possim_models::terminal::{Terminal, TerminalCommand};
use possim_models::time::Instant;

use super::line::Line;
use super::quiet::{self, Quiet};
use super::shells;
use super::simulation::simulation;
use super::state::{pair, Command, PowerCut, Shared, TerminalSlot, World, WorldEvent};
use crate::day::{DayAction, DayDriver, GlueItem};
use crate::rng::{Rng, Streams};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{Fault, PrinterFault, ProtocolFault};
use crate::trace::{
    CardSetup, FaultCause, FaultKind, FaultRecord, Phase, Setup, TerminalSetup, Trace, TraceEvent,
    TRACE_RECORDS_MAX, TRACE_SCHEMA_VERSION,
};

/// How a run is asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Each seed draws its own fault rates within the scenario's bounds.
    pub swarm: bool,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub trace: Trace,
    /// Whether healing converged within its bound.
    pub converged: bool,
    /// When it did not: what the last healing round still found pending
    /// (at most [`PENDING_REASONS_MAX`] lines), so a report can say why.
    pub healing_pending: Vec<String>,
    /// Simulated milliseconds from opening to the end of the run.
    pub simulated_ms: u64,
    /// Turmoil steps taken.
    pub steps: u64,
    /// The faults swarm mode placed on drawn trades ([`crate::swarm_placed`]).
    pub drawn: Vec<ProtocolFault>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the simulation failed: {0}")]
    Simulation(String),
    #[error("scenario cannot run: {0}")]
    Unsupported(String),
}

/// How soon a technician tries again to unlock a terminal found off.
const UNLOCK_RETRY_MS: u64 = 1_000;

pub use crate::day::rounds::PENDING_REASONS_MAX;

/// The longest idle skip, in ticks; a bound, not a tuning knob (a longer
/// quiet stretch takes two skips).
const TICKS_PER_STEP_MAX: u32 = 1 << 20;
/// Lines take a moment to dial before the day opens.
const OPENING_MS: u64 = 2_000;

/// The world's own items on the day's clock.
#[derive(Debug, Clone)]
enum Chore {
    Fault(Fault, FaultCause),
    Undo(Undo, FaultCause),
    FileClearing,
    Reconcile,
}

impl GlueItem for Chore {
    fn stops_at_healing(&self) -> bool {
        matches!(self, Chore::Fault(..) | Chore::Undo(..))
    }
}

#[derive(Debug, Clone)]
enum Undo {
    Repair([String; 2]),
    Release([String; 2]),
    Restart,
    IssuerUp(u16),
    IssuerHeard(u16),
    CutoffEnd,
    PowerOn(TerminalId),
    PrinterFixed(TerminalId),
    Unlock(TerminalId),
    BlackholeEnd(TerminalId),
}

struct Runner<'a> {
    scenario: &'a CompiledScenario,
    world: Shared,
    day: DayDriver<Chore>,
    /// The switch's latest clearing file, and what the network cleared for
    /// each issuer, as the world handed them over.
    clearing_file: Option<Vec<TradeKey>>,
    clearing_lists: Vec<(u16, Vec<TradeKey>)>,
    crashed_switch: bool,
    /// Placed `switch_crash_with_reversals_queued` not landed yet: the
    /// terminal whose reversal the switch must hold, the time down, the
    /// placement's words.
    switch_crashes: Vec<(TerminalId, u64, String)>,
}

/// One drain of the world's events, by who reacts to them.
#[derive(Default)]
struct Drained {
    power_cuts: Vec<PowerCut>,
    cutoffs: Vec<(u64, String)>,
    terminal_events: Vec<(TerminalId, TerminalEventKind)>,
}

fn cause_label(cause: &FaultCause) -> FaultCause {
    cause.clone()
}

impl<'a> Runner<'a> {
    fn at(&mut self, when: Instant, chore: Chore) {
        self.day.at_glue(when, chore);
    }

    /// Keys `command` in at terminal `id`: it waits for the terminal's host.
    fn command(&mut self, id: TerminalId, command: TerminalCommand) {
        self.world.borrow_mut().command(Node::Terminal(id), Command::Terminal(command));
    }

    fn fault_record(&mut self, now: Instant, kind: FaultKind, target: &str, cause: &FaultCause) {
        let record = FaultRecord {
            kind,
            target: target.to_string(),
            cause: cause_label(cause),
            frame: None,
        };
        self.world.borrow_mut().fault(now, record);
    }

    fn apply_fault(
        &mut self,
        now: Instant,
        fault: Fault,
        cause: FaultCause,
        sim: &mut turmoil::Sim<'_>,
    ) -> Result<(), RunError> {
        if self.day.phase() != Phase::Safety {
            return Ok(());
        }
        let later = |ms: u64| now + Duration::from_millis(ms);
        match fault {
            Fault::Partition { between, for_ms } => {
                sim.partition(between[0].as_str(), between[1].as_str());
                self.world.borrow_mut().partitioned.insert(pair(&between[0], &between[1]));
                self.fault_record(
                    now,
                    FaultKind::Partition,
                    &format!("{}-{}", between[0], between[1]),
                    &cause,
                );
                self.at(later(for_ms), Chore::Undo(Undo::Repair(between), cause));
            }
            Fault::Hold { between, for_ms } => {
                sim.hold(between[0].as_str(), between[1].as_str());
                self.world.borrow_mut().held.insert(pair(&between[0], &between[1]));
                self.fault_record(
                    now,
                    FaultKind::Hold,
                    &format!("{}-{}", between[0], between[1]),
                    &cause,
                );
                self.at(later(for_ms), Chore::Undo(Undo::Release(between), cause));
            }
            Fault::Crash { host, restart_after_ms } => {
                if host != "switch" {
                    return Err(RunError::Unsupported(format!(
                        "only the switch can crash and restart, not {host}"
                    )));
                }
                if !self.crashed_switch {
                    self.crashed_switch = true;
                    self.world.borrow_mut().switch_up = false;
                    sim.crash("switch");
                    self.fault_record(now, FaultKind::HostCrash, "switch", &cause);
                    self.at(later(restart_after_ms), Chore::Undo(Undo::Restart, cause));
                }
            }
            Fault::IssuerDown { issuer, for_ms } => {
                self.world
                    .borrow_mut()
                    .command(Node::Network, Command::Network(NetworkCommand::IssuerDown(issuer)));
                self.fault_record(now, FaultKind::IssuerDown, &format!("issuer-{issuer}"), &cause);
                self.at(later(for_ms), Chore::Undo(Undo::IssuerUp(issuer), cause));
            }
            Fault::IssuerSilent { issuer, for_ms } => {
                if let Some(silent) = self.world.borrow_mut().issuer_silent.get_mut(&issuer) {
                    *silent = true;
                }
                self.fault_record(
                    now,
                    FaultKind::IssuerDown,
                    &format!("issuer-{issuer} silent"),
                    &cause,
                );
                self.at(later(for_ms), Chore::Undo(Undo::IssuerHeard(issuer), cause));
            }
            Fault::Cutoff { for_ms } => {
                self.world
                    .borrow_mut()
                    .command(Node::Network, Command::Network(NetworkCommand::CutoffStart));
                self.fault_record(now, FaultKind::CutoffStart, "network", &cause);
                self.at(later(for_ms), Chore::Undo(Undo::CutoffEnd, cause));
            }
            Fault::PowerCut { terminal, off_ms } => self.power_cut(now, terminal, off_ms, cause),
            Fault::Printer { terminal, state, fixed_after_ms } => {
                let hardware = match state {
                    PrinterFault::OutOfPaper => PrinterHardware::OutOfPaper,
                    PrinterFault::Jam => PrinterHardware::Jam,
                    PrinterFault::CoverOpen => PrinterHardware::CoverOpen,
                };
                self.command(terminal, TerminalCommand::SetPrinter(hardware));
                self.fault_record(now, FaultKind::PrinterFault, terminal.trimmed(), &cause);
                self.at(later(fixed_after_ms), Chore::Undo(Undo::PrinterFixed(terminal), cause));
            }
            Fault::Tamper { terminal, unlock_after_ms } => {
                self.command(terminal, TerminalCommand::Tamper);
                self.fault_record(now, FaultKind::TamperLock, terminal.trimmed(), &cause);
                self.at(later(unlock_after_ms), Chore::Undo(Undo::Unlock(terminal), cause));
            }
            Fault::Replace { terminal } => {
                // Operations close the old device's batch on the switch's
                // totals; the replacement then signs in to the next one.
                let close = SwitchCommand::CloseBatch { terminal };
                self.world.borrow_mut().command(Node::Switch, Command::Switch(close));
                self.command(terminal, TerminalCommand::Replace);
                self.fault_record(now, FaultKind::TerminalReplaced, terminal.trimmed(), &cause);
            }
            Fault::Battery { terminal, percent } => {
                self.command(terminal, TerminalCommand::DrainBattery { percent });
                self.fault_record(now, FaultKind::BatteryDrain, terminal.trimmed(), &cause);
            }
            Fault::Blackhole { terminal, for_ms } => {
                if let Some(slot) = self.world.borrow_mut().terminals.get_mut(&terminal) {
                    slot.line.blackhole(later(for_ms));
                }
                self.fault_record(now, FaultKind::LineBlackholeStart, terminal.trimmed(), &cause);
                self.at(later(for_ms), Chore::Undo(Undo::BlackholeEnd(terminal), cause));
            }
            Fault::Reset { terminal } => {
                if let Some(reset) = self.world.borrow().resets.get(&terminal) {
                    reset.notify_one();
                }
                self.fault_record(now, FaultKind::LineReset, terminal.trimmed(), &cause);
            }
        }
        Ok(())
    }

    fn power_cut(&mut self, now: Instant, terminal: TerminalId, off_ms: u64, cause: FaultCause) {
        let powered =
            self.world.borrow().terminals.get(&terminal).is_some_and(|s| s.terminal.is_powered());
        if !powered {
            return;
        }
        self.command(terminal, TerminalCommand::PowerOff);
        self.fault_record(now, FaultKind::PowerCut, terminal.trimmed(), &cause);
        self.at(now + Duration::from_millis(off_ms), Chore::Undo(Undo::PowerOn(terminal), cause));
    }

    fn undo(&mut self, now: Instant, undo: Undo, cause: FaultCause, sim: &mut turmoil::Sim<'_>) {
        match undo {
            Undo::Repair(between) => {
                sim.repair(between[0].as_str(), between[1].as_str());
                let mut world = self.world.borrow_mut();
                world.partitioned.remove(&pair(&between[0], &between[1]));
                world.redial_across(&between[0], &between[1]);
                drop(world);
                self.fault_record(
                    now,
                    FaultKind::Repair,
                    &format!("{}-{}", between[0], between[1]),
                    &cause,
                );
            }
            Undo::Release(between) => {
                sim.release(between[0].as_str(), between[1].as_str());
                self.world.borrow_mut().held.remove(&pair(&between[0], &between[1]));
                self.fault_record(
                    now,
                    FaultKind::Release,
                    &format!("{}-{}", between[0], between[1]),
                    &cause,
                );
            }
            Undo::Restart => self.restart_switch(now, sim, &cause),
            Undo::IssuerUp(issuer) => {
                self.world
                    .borrow_mut()
                    .command(Node::Network, Command::Network(NetworkCommand::IssuerUp(issuer)));
                self.fault_record(now, FaultKind::IssuerUp, &format!("issuer-{issuer}"), &cause);
            }
            Undo::IssuerHeard(issuer) => {
                if let Some(silent) = self.world.borrow_mut().issuer_silent.get_mut(&issuer) {
                    *silent = false;
                }
                self.fault_record(
                    now,
                    FaultKind::IssuerUp,
                    &format!("issuer-{issuer} silent"),
                    &cause,
                );
            }
            Undo::CutoffEnd => {
                self.world
                    .borrow_mut()
                    .command(Node::Network, Command::Network(NetworkCommand::CutoffEnd));
                self.fault_record(now, FaultKind::CutoffEnd, "network", &cause);
            }
            Undo::PowerOn(terminal) => {
                let off = self
                    .world
                    .borrow()
                    .terminals
                    .get(&terminal)
                    .is_some_and(|s| !s.terminal.is_powered());
                if off {
                    self.command(terminal, TerminalCommand::PowerOn);
                    self.operator_sign_in(terminal);
                    self.fault_record(now, FaultKind::PowerOn, terminal.trimmed(), &cause);
                }
            }
            Undo::PrinterFixed(terminal) => {
                self.command(terminal, TerminalCommand::SetPrinter(PrinterHardware::Ok));
                if self.scenario.workload.cashier.reprint_after_printer_fault {
                    self.command(terminal, TerminalCommand::ReprintLast);
                }
                self.fault_record(now, FaultKind::PrinterFixed, terminal.trimmed(), &cause);
            }
            Undo::Unlock(terminal) => {
                // The technician unlocks with a password keyed in: a terminal
                // that is off (a power cut, a flat battery) is unlocked once
                // it is back on, not never.
                let powered = self.world.borrow().terminals[&terminal].terminal.is_powered();
                if !powered && now < self.day.healing_end() {
                    let retry = now + Duration::from_millis(UNLOCK_RETRY_MS);
                    return self.at(retry, Chore::Undo(Undo::Unlock(terminal), cause));
                }
                let password = self.world.borrow().terminals[&terminal]
                    .terminal
                    .config()
                    .unlock_password
                    .clone();
                self.command(terminal, TerminalCommand::Unlock { password });
                self.operator_sign_in(terminal);
                self.command(terminal, TerminalCommand::SignIn);
                self.fault_record(now, FaultKind::TamperUnlock, terminal.trimmed(), &cause);
            }
            Undo::BlackholeEnd(terminal) => {
                self.fault_record(now, FaultKind::LineBlackholeEnd, terminal.trimmed(), &cause);
            }
        }
    }

    fn restart_switch(&mut self, now: Instant, sim: &mut turmoil::Sim<'_>, cause: &FaultCause) {
        if !self.crashed_switch {
            return;
        }
        self.crashed_switch = false;
        {
            let mut world = self.world.borrow_mut();
            let persistent = world.switch.persistent();
            world.switch = Switch::recover(self.scenario.switch.clone(), persistent, now)
                .expect("a configuration that loaded once loads again");
            world.switch_up = true;
            for reset in world.resets.values() {
                reset.notify_one();
            }
            world.wake(Node::Switch);
        }
        sim.bounce("switch");
        self.fault_record(now, FaultKind::HostRestart, "switch", cause);
    }

    fn operator_sign_in(&mut self, terminal: TerminalId) {
        let (operator, password) = {
            let world = self.world.borrow();
            let config = world.terminals[&terminal].terminal.config();
            (config.operator.clone(), config.operator_password.clone())
        };
        self.command(terminal, TerminalCommand::OperatorSignIn { operator, password });
    }

    /// Takes what the world handed over since the last step, in order,
    /// and sorts it by who reacts: power cuts, placed cutoffs, the cashier,
    /// the end of day's clearing.
    fn drain_events(&mut self) -> Drained {
        let events: Vec<WorldEvent> = self.world.borrow_mut().events.drain(..).collect();
        let mut drained = Drained::default();
        for event in events {
            match event {
                WorldEvent::Terminal { terminal, kind } => {
                    drained.terminal_events.push((terminal, kind))
                }
                WorldEvent::ClearingSubmitted { keys } => self.clearing_file = Some(keys),
                WorldEvent::ClearingList { issuer, keys } => {
                    self.clearing_lists.push((issuer, keys))
                }
                WorldEvent::PowerCut(cut) => drained.power_cuts.push(cut),
                WorldEvent::Cutoff { for_ms, why } => drained.cutoffs.push((for_ms, why)),
            }
        }
        drained
    }

    /// Hands what the terminals reported since the last step to the day.
    fn cashier(&mut self, now: Instant, events: Vec<(TerminalId, TerminalEventKind)>) {
        let world = self.world.borrow();
        for (terminal, kind) in events {
            self.day.on_terminal_event(now, terminal, &kind, &*world);
        }
    }

    /// Makes the power cuts the line shims asked for; whether there were any.
    fn power_cuts(&mut self, now: Instant, cuts: Vec<PowerCut>) -> bool {
        let any = !cuts.is_empty();
        for PowerCut { terminal, off_ms, why } in cuts {
            if self.day.phase() == Phase::Safety {
                self.power_cut(now, terminal, off_ms, FaultCause::Protocol(why));
            }
        }
        any
    }

    /// Makes the placed faults that land on a host at a terminal's moment:
    /// the cutoff windows the line shims asked for as a 0500 left, and a
    /// switch crash once the switch's store-and-forward holds a reversal of
    /// its terminal. Whether there were any.
    fn placed_host_faults(
        &mut self,
        now: Instant,
        cutoffs: Vec<(u64, String)>,
        sim: &mut turmoil::Sim<'_>,
    ) -> Result<bool, RunError> {
        let mut any = !cutoffs.is_empty();
        for (for_ms, why) in cutoffs {
            if self.day.phase() == Phase::Safety {
                self.apply_fault(now, Fault::Cutoff { for_ms }, FaultCause::Protocol(why), sim)?;
            }
        }
        if self.day.phase() != Phase::Safety
            || self.crashed_switch
            || self.switch_crashes.is_empty()
        {
            return Ok(any);
        }
        let holds = {
            let world = self.world.borrow();
            let queued = world.switch.store_forward();
            let up = world.switch_up;
            self.switch_crashes
                .iter()
                .position(|(terminal, ..)| up && queued.iter().any(|q| q.key.terminal == *terminal))
        };
        if let Some(index) = holds {
            let (_, restart_after_ms, why) = self.switch_crashes.remove(index);
            let crash = Fault::Crash { host: "switch".into(), restart_after_ms };
            self.apply_fault(now, crash, FaultCause::Protocol(why), sim)?;
            any = true;
        }
        Ok(any)
    }

    /// The safety phase is over: every fault stops (what the day took off
    /// its clock to undo one happens now) and every line heals.
    fn start_healing(&mut self, now: Instant, stopped: Vec<Chore>, sim: &mut turmoil::Sim<'_>) {
        self.world.borrow_mut().trace.push(now, TraceEvent::Phase { phase: Phase::Healing });
        for chore in stopped {
            if let Chore::Undo(undo, cause) = chore {
                self.undo(now, undo, cause, sim);
            }
        }
        for slot in self.world.borrow_mut().terminals.values_mut() {
            slot.line.heal();
        }
    }

    /// End of day: the acquirer's switch hands over its clearing file (what
    /// its terminals settled); half a second later the network clears
    /// against it, and a second after the file the issuers reconcile.
    fn clearing(&mut self, now: Instant) {
        self.world
            .borrow_mut()
            .command(Node::Switch, Command::Switch(SwitchCommand::SubmitClearing));
        self.at(now + Duration::from_millis(500), Chore::FileClearing);
    }

    fn file_clearing(&mut self, now: Instant) {
        let file = self.clearing_file.clone();
        let mut world = self.world.borrow_mut();
        // No file (the switch never answered the command): the network
        // clears on its own records, as before acquirers filed.
        if let Some(keys) = file {
            world.command(Node::Network, Command::Network(NetworkCommand::FileClearing { keys }));
        }
        world.command(Node::Network, Command::Network(NetworkCommand::Clear));
        drop(world);
        self.at(now + Duration::from_millis(500), Chore::Reconcile);
    }

    fn reconcile(&mut self, now: Instant) {
        let lists = self.clearing_lists.clone();
        for (issuer, complete) in lists {
            self.world.borrow_mut().command(
                Node::Issuer(issuer),
                Command::Issuer(IssuerCommand::Reconcile { complete }),
            );
        }
        self.day.plan_end(now + Duration::from_millis(1_000));
    }
}

fn setup_record(scenario: &CompiledScenario, seed: u64) -> Setup {
    Setup {
        schema_version: TRACE_SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        seed,
        cards: scenario
            .cards
            .iter()
            .map(|card| CardSetup {
                pan: card.pan,
                issuer: card.issuer,
                balance_fen: card.balance_fen,
                offline_balance_fen: card.offline_balance_fen,
                ecash_load_max_fen: scenario
                    .issuers
                    .iter()
                    .find(|issuer| issuer.index == card.issuer)
                    .map_or(0, |issuer| issuer.limits.ecash_load_max_fen),
            })
            .collect(),
        terminals: scenario
            .terminals
            .iter()
            .map(|t| TerminalSetup { id: t.config.terminal_id, merchant: t.config.merchant_id })
            .collect(),
    }
}

/// Runs `scenario` with `options.seed`.
pub fn run(scenario: &CompiledScenario, options: &RunOptions) -> Result<RunOutcome, RunError> {
    if let Err(error) = crate::scenario::validate::check_simulable(&scenario.faults) {
        return Err(RunError::Unsupported(format!("{}: {}", error.path, error.message)));
    }
    let streams = Streams::new(options.seed);
    let offset_ms = u64::from(scenario.run.open_hour) * 3_600_000;
    let start = Instant::from_millis(offset_ms);
    let mut trace = Trace::new();
    trace.push(start, TraceEvent::Setup(setup_record(scenario, options.seed)));
    trace.push(start, TraceEvent::Phase { phase: Phase::Safety });

    let mut swarm = streams.stream("swarm");
    let drawn =
        if options.swarm { crate::swarm_placed::draw(scenario, options.seed) } else { Vec::new() };
    let mut terminals = BTreeMap::new();
    for compiled in &scenario.terminals {
        let id = compiled.config.terminal_id;
        let mut profile = scenario.links.get(&compiled.link).cloned().unwrap_or_default();
        if options.swarm {
            let bounds = &scenario.faults.swarm;
            profile.blackholes_per_hour = swarm.within(bounds.blackholes_per_hour);
            profile.resets_per_hour = swarm.within(bounds.resets_per_hour);
            profile.drop_per_frame = swarm.within(bounds.drop_per_frame);
            profile.duplicate_per_frame = swarm.within(bounds.duplicate_per_frame);
            profile.corrupt_per_frame = swarm.within(bounds.corrupt_per_frame);
        }
        let protocol: Vec<ProtocolFault> = scenario
            .faults
            .protocol
            .iter()
            .chain(&drawn)
            .filter(|fault| protocol_terminal(fault) == id)
            .cloned()
            .collect();
        let line = Line::new(
            id,
            if options.swarm { "swarm" } else { &compiled.link },
            profile,
            streams.stream(&format!("line {}", id.trimmed())),
            protocol,
            compiled.config.response_timeout_ms,
        );
        let terminal = Terminal::new(compiled.config.clone(), start)
            .map_err(|error| RunError::Unsupported(format!("terminal {id}: {error}")))?;
        terminals.insert(id, TerminalSlot { terminal, farm: compiled.farm.clone(), line });
    }
    let switch = Switch::new(scenario.switch.clone())
        .map_err(|e| RunError::Unsupported(format!("switch: {e}")))?;
    let network = Network::new(scenario.network.clone())
        .map_err(|e| RunError::Unsupported(format!("network: {e}")))?;
    let issuers = scenario
        .issuers
        .iter()
        .map(|config| Issuer::new(config.clone()).map(|issuer| (config.index, issuer)))
        .collect::<Result<BTreeMap<u16, Issuer>, _>>()
        .map_err(|e| RunError::Unsupported(format!("issuer: {e}")))?;
    let issuer_silent = issuers.keys().map(|&index| (index, false)).collect();
    let quiet = Rc::new(Quiet::default());
    let world: Shared = Rc::new(RefCell::new(World {
        offset_ms,
        trace,
        switch,
        switch_up: true,
        network,
        issuers,
        issuer_silent,
        terminals,
        routes: BTreeMap::new(),
        resets: BTreeMap::new(),
        link_resets: BTreeMap::new(),
        wakers: BTreeMap::new(),
        commands: BTreeMap::new(),
        partitioned: Default::default(),
        held: Default::default(),
        events: Default::default(),
        quiet: quiet.clone(),
    }));

    let tick = Duration::from_millis(scenario.run.tick_ms.max(1));
    let mut sim = simulation(tick, streams.seed_for("turmoil"));
    {
        let (world, quiet) = (world.clone(), quiet.clone());
        let host = quiet.host("switch");
        sim.host("switch", move || quiet.counted_on(host, shells::switch_host(world.clone())));
    }
    {
        let (world, quiet) = (world.clone(), quiet.clone());
        let indexes: Vec<u16> = scenario.issuers.iter().map(|i| i.index).collect();
        let host = quiet.host("network");
        sim.host("network", move || {
            quiet.counted_on(host, shells::network_host(world.clone(), indexes.clone()))
        });
    }
    for issuer in &scenario.issuers {
        let (world, quiet) = (world.clone(), quiet.clone());
        let index = issuer.index;
        let name = format!("issuer-{index}");
        let host = quiet.host(&name);
        sim.host(name, move || quiet.counted_on(host, shells::issuer_host(world.clone(), index)));
    }
    for farm in &scenario.farms {
        let (world, quiet) = (world.clone(), quiet.clone());
        let members: Vec<TerminalId> = scenario
            .terminals
            .iter()
            .filter(|t| &t.farm == farm)
            .map(|t| t.config.terminal_id)
            .collect();
        let host = quiet.host(farm);
        sim.host(farm.as_str(), move || {
            quiet.counted_on(host, shells::farm_host(world.clone(), members.clone()))
        });
    }
    sim.set_link_latency(
        "switch",
        "network",
        Duration::from_millis(scenario.backbone.switch_network_ms.max(1)),
    );
    for issuer in &scenario.issuers {
        sim.set_link_latency(
            "network",
            format!("issuer-{}", issuer.index).as_str(),
            Duration::from_millis(scenario.backbone.network_issuer_ms.max(1)),
        );
    }

    if scenario.cards.is_empty() {
        return Err(RunError::Unsupported("a scenario needs at least one card".into()));
    }
    let safety_end = start + Duration::from_millis(scenario.run.safety_ms);
    let mut runner = Runner {
        scenario,
        world: world.clone(),
        day: DayDriver::new(scenario, &streams, start),
        clearing_file: None,
        clearing_lists: Vec::new(),
        crashed_switch: false,
        switch_crashes: scenario
            .faults
            .protocol
            .iter()
            .chain(&drawn)
            .filter_map(|fault| match fault {
                ProtocolFault::SwitchCrashWithReversalsQueued { terminal, restart_after_ms } => {
                    Some((*terminal, *restart_after_ms, fault.placement()))
                }
                _ => None,
            })
            .collect(),
    };

    // Opening: every terminal signs in, a little apart.
    for (index, compiled) in scenario.terminals.iter().enumerate() {
        let id = compiled.config.terminal_id;
        let opening = start + Duration::from_millis(OPENING_MS + index as u64 * 50);
        runner.day.plan_opening(opening, id);
        // The line profile's episodes, from their own stream.
        let mut episodes = streams.stream(&format!("episodes {}", id.trimmed()));
        let profile = world.borrow().terminals[&id].line.profile().clone();
        let cause =
            FaultCause::Profile(if options.swarm { "swarm".into() } else { compiled.link.clone() });
        let mut when = start;
        while let Some(gap) = episodes.exponential_ms(profile.blackholes_per_hour) {
            when = when + Duration::from_millis(gap);
            if when >= safety_end {
                break;
            }
            let for_ms = episodes.between(profile.blackhole_ms.min, profile.blackhole_ms.max);
            runner.at(when, Chore::Fault(Fault::Blackhole { terminal: id, for_ms }, cause.clone()));
        }
        let mut when = start;
        while let Some(gap) = episodes.exponential_ms(profile.resets_per_hour) {
            when = when + Duration::from_millis(gap);
            if when >= safety_end {
                break;
            }
            runner.at(when, Chore::Fault(Fault::Reset { terminal: id }, cause.clone()));
        }
    }
    runner.day.plan_script();
    for scheduled in &scenario.faults.scheduled {
        runner.at(
            start + Duration::from_millis(scheduled.at_ms),
            Chore::Fault(scheduled.fault.clone(), FaultCause::Scheduled),
        );
    }
    if options.swarm {
        schedule_swarm(&mut runner, &mut swarm, start, safety_end);
    }
    runner.day.plan_settlements();
    runner.day.plan_healing();

    let mut steps = 0u64;
    // Ticks the next step covers: one, or a stretch known to do nothing.
    let mut ticks: u32 = 1;
    loop {
        let polls_before = quiet.polls();
        let step_end = sim.elapsed() + tick * ticks;
        sim.step_by_hosts(tick * ticks, |host| quiet.has_work(host, step_end))
            .map_err(|error| RunError::Simulation(error.to_string()))?;
        steps += 1;
        // Nothing was due within a skipped stretch, so nothing may have run.
        if ticks > 1 && quiet.polls() != polls_before {
            return Err(RunError::Simulation(format!(
                "an idle skip of {ticks} ticks at {} ms ran a task: something was due that \
                 the skip did not know of",
                sim.elapsed().as_millis()
            )));
        }
        if world.borrow().trace.is_full() {
            return Err(RunError::Simulation(format!(
                "the trace reached its bound of {TRACE_RECORDS_MAX} records at {} simulated s: \
                 a shorter run, fewer terminals or a lower arrival rate fits",
                sim.elapsed().as_secs()
            )));
        }
        let now = start + sim.elapsed();
        let drained = runner.drain_events();
        let mut acted = runner.power_cuts(now, drained.power_cuts);
        acted |= runner.placed_host_faults(now, drained.cutoffs, &mut sim)?;
        runner.cashier(now, drained.terminal_events);
        let taken_before = runner.day.dues_taken();
        let mut ended = false;
        loop {
            let action = {
                let world = runner.world.borrow();
                runner.day.poll_action(now, &*world)
            };
            let Some(action) = action else { break };
            match action {
                DayAction::Command { terminal, command } => runner.command(terminal, command),
                DayAction::Glue(Chore::Fault(fault, cause)) => {
                    runner.apply_fault(now, fault, cause, &mut sim)?
                }
                DayAction::Glue(Chore::Undo(undo, cause)) => {
                    runner.undo(now, undo, cause, &mut sim)
                }
                DayAction::Glue(Chore::FileClearing) => runner.file_clearing(now),
                DayAction::Glue(Chore::Reconcile) => runner.reconcile(now),
                DayAction::Healing { stopped } => runner.start_healing(now, stopped, &mut sim),
                DayAction::Converged => runner.clearing(now),
                DayAction::End => {
                    ended = true;
                    break;
                }
            }
        }
        acted |= runner.day.dues_taken() != taken_before;
        if ended {
            let mut world = world.borrow_mut();
            world.trace.push(now, TraceEvent::Phase { phase: Phase::End });
            break;
        }
        ticks = if acted || quiet.any_ready() {
            1
        } else {
            next_ticks(&sim, &quiet, &runner, start, tick)
        };
    }
    let simulated_ms = sim.elapsed().as_millis() as u64;
    drop(sim);
    // Whatever the last step handed over still counts.
    runner.drain_events();
    let healing_pending = runner.day.take_healing_pending();
    // Converged means the day was cleared: the network listed what it
    // cleared for the issuers.
    let converged_flag = !runner.clearing_lists.is_empty();
    drop(runner);
    let world = Rc::try_unwrap(world)
        .map_err(|_| RunError::Simulation("world still shared after the run".into()))?;
    let trace = world.into_inner().trace;
    let healing_pending = if converged_flag { Vec::new() } else { healing_pending };
    Ok(RunOutcome { trace, converged: converged_flag, healing_pending, simulated_ms, steps, drawn })
}

/// How many ticks the next step may cover when no task is ready and the
/// runner did nothing after the last step: up to the earliest of a host's
/// timers, a message's delivery and the runner's next action (see
/// [`super::quiet`]).
fn next_ticks(
    sim: &turmoil::Sim<'_>,
    quiet: &Quiet,
    runner: &Runner<'_>,
    start: Instant,
    tick: Duration,
) -> u32 {
    let now = sim.elapsed();
    let scheduled = runner
        .day
        .poll_timeout()
        .map(|when| Duration::from_millis(when.as_millis() - start.as_millis()));
    let delivery = sim.next_delivery().map(|after| now + after);
    let next = [quiet.next_timer(), delivery, scheduled].into_iter().flatten().min();
    // Nothing due at all cannot happen while the run's end is scheduled.
    let next = next.expect("the run's end is always scheduled");
    quiet::ticks_to_skip(now, next, tick).clamp(1, TICKS_PER_STEP_MAX)
}

fn protocol_terminal(fault: &ProtocolFault) -> TerminalId {
    fault.terminal()
}

/// Swarm mode: faults nobody wrote down, drawn within the scenario's bounds.
fn schedule_swarm(runner: &mut Runner<'_>, rng: &mut Rng, start: Instant, safety_end: Instant) {
    let bounds = runner.scenario.faults.swarm.clone();
    let terminals: Vec<TerminalId> =
        runner.scenario.terminals.iter().map(|t| t.config.terminal_id).collect();
    let per_terminal = [
        (rng.within(bounds.power_cuts_per_hour), 0u8),
        (rng.within(bounds.printer_faults_per_hour), 1u8),
    ];
    for id in &terminals {
        for (rate, kind) in per_terminal {
            let mut when = start;
            while let Some(gap) = rng.exponential_ms(rate) {
                when = when + Duration::from_millis(gap);
                if when >= safety_end {
                    break;
                }
                let fault = if kind == 0 {
                    Fault::PowerCut { terminal: *id, off_ms: rng.between(1_000, 120_000) }
                } else {
                    Fault::Printer {
                        terminal: *id,
                        state: PrinterFault::OutOfPaper,
                        fixed_after_ms: rng.between(10_000, 300_000),
                    }
                };
                runner.at(when, Chore::Fault(fault, FaultCause::Swarm));
            }
        }
    }
    let partitions = rng.within(bounds.partitions_per_hour);
    let mut when = start;
    while let Some(gap) = rng.exponential_ms(partitions) {
        when = when + Duration::from_millis(gap);
        if when >= safety_end {
            break;
        }
        let fault = Fault::Partition {
            between: ["switch".into(), "network".into()],
            for_ms: rng.between(1_000, 90_000),
        };
        runner.at(when, Chore::Fault(fault, FaultCause::Swarm));
    }
    let crashes = rng.within(bounds.switch_crashes_per_hour);
    let mut when = start;
    while let Some(gap) = rng.exponential_ms(crashes) {
        when = when + Duration::from_millis(gap);
        if when >= safety_end {
            break;
        }
        let fault =
            Fault::Crash { host: "switch".into(), restart_after_ms: rng.between(5_000, 60_000) };
        runner.at(when, Chore::Fault(fault, FaultCause::Swarm));
    }
}
