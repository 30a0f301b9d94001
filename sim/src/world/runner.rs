//! One run: build the turmoil world from a compiled scenario, then step it,
//! applying between steps whatever is due — cardholders arriving, faults
//! starting and ending, the cashier's habits — through the safety phase, the
//! healing phase (faults stopped, the system must converge within the
//! bound), and the end of the day's clearing.

use std::rc::Rc;
use std::time::Duration;

use possim_models::actor::{Node, TradeKey};
use possim_models::iso8583::values::TerminalId;
use possim_models::issuer::IssuerCommand;
use possim_models::network::NetworkCommand;
use possim_models::switch::SwitchCommand;
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::TerminalCommand;
use possim_models::time::Instant;

use super::build::{build, Built};
use super::faults::{plan_episodes, schedule_swarm, Chore};
use super::quiet::{self, Quiet};
use super::state::{Command, PlacedTamper, PowerCut, Shared, WorldEvent};
use crate::day::{DayAction, DayDriver};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::ProtocolFault;
use crate::trace::{FaultCause, Phase, Trace, TraceEvent, TRACE_RECORDS_MAX};

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

pub use crate::day::rounds::PENDING_REASONS_MAX;

/// The longest idle skip, in ticks; a bound, not a tuning knob (a longer
/// quiet stretch takes two skips).
const TICKS_PER_STEP_MAX: u32 = 1 << 20;
/// Lines take a moment to dial before the day opens.
const OPENING_MS: u64 = 2_000;

/// The glue between the day and the turmoil world: it applies the day's
/// actions to the world and hands the world's events back.
pub(super) struct Runner<'a> {
    pub scenario: &'a CompiledScenario,
    pub world: Shared,
    pub day: DayDriver<Chore>,
    /// The switch's latest clearing file, and what the network cleared for
    /// each issuer, as the world handed them over.
    clearing_file: Option<Vec<TradeKey>>,
    clearing_lists: Vec<(u16, Vec<TradeKey>)>,
    pub crashed_switch: bool,
    /// Placed `switch_crash_with_reversals_queued` not landed yet: the
    /// terminal whose reversal the switch must hold, the time down, the
    /// placement's words.
    pub switch_crashes: Vec<(TerminalId, u64, String)>,
}

/// One drain of the world's events, by who reacts to them.
#[derive(Default)]
struct Drained {
    power_cuts: Vec<PowerCut>,
    cutoffs: Vec<(u64, String)>,
    tampers: Vec<PlacedTamper>,
    terminal_events: Vec<(TerminalId, TerminalEventKind)>,
}

impl<'a> Runner<'a> {
    pub(super) fn at(&mut self, when: Instant, chore: Chore) {
        self.day.at_glue(when, chore);
    }

    /// Keys `command` in at terminal `id`: it waits for the terminal's host.
    pub(super) fn command(&mut self, id: TerminalId, command: TerminalCommand) {
        self.world.borrow_mut().command(Node::Terminal(id), Command::Terminal(command));
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
                WorldEvent::Tamper(tamper) => drained.tampers.push(tamper),
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

/// Runs `scenario` with `options.seed`.
pub fn run(scenario: &CompiledScenario, options: &RunOptions) -> Result<RunOutcome, RunError> {
    run_into(scenario, options, Trace::new())
}

/// Runs `scenario` with `options.seed`, writing into `trace` (a streamed
/// one keeps only what its keep rule says; the run reads nothing back).
pub fn run_into(
    scenario: &CompiledScenario,
    options: &RunOptions,
    trace: Trace,
) -> Result<RunOutcome, RunError> {
    if let Err(error) = crate::scenario::validate::check_simulable(&scenario.faults) {
        return Err(RunError::Unsupported(format!("{}: {}", error.path, error.message)));
    }
    let Built { world, quiet, mut sim, tick, start, streams, drawn, mut swarm } =
        build(scenario, options, trace)?;
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
        plan_episodes(&mut runner, &streams, compiled, options.swarm, start, safety_end);
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
        acted |= runner.placed_tampers(now, drained.tampers);
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
