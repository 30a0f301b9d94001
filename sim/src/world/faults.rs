//! The world's faults: starting each one (a partition, a crash, a power
//! cut, a printer jam, ...), recording it, and putting its undoing on the
//! day's clock; the faults a line profile or swarm mode draws; and the
//! placed faults the world hands over as it sees them land (a power cut
//! after an approval, a cutoff during a settlement, a switch crash with a
//! reversal queued).

use std::time::Duration;

use possim_models::actor::Node;
use possim_models::iso8583::values::TerminalId;
use possim_models::network::NetworkCommand;
use possim_models::switch::{Switch, SwitchCommand};
use possim_models::terminal::printer::PrinterHardware;
use possim_models::terminal::TerminalCommand;
use possim_models::time::Instant;

use super::runner::{RunError, Runner};
use super::state::{pair, Command, PlacedTamper, PowerCut};
use crate::day::{cashier, GlueItem};
use crate::rng::{Rng, Streams};
use crate::scenario::compile::CompiledTerminal;
use crate::scenario::model::{Fault, PrinterFault};
use crate::trace::{FaultCause, FaultKind, FaultRecord, Phase};

/// How soon a technician tries again to unlock a terminal found off.
const UNLOCK_RETRY_MS: u64 = 1_000;

/// The world's own items on the day's clock.
#[derive(Debug, Clone)]
pub(super) enum Chore {
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
pub(super) enum Undo {
    Repair([String; 2]),
    Release([String; 2]),
    Restart,
    IssuerUp(u16),
    IssuerHeard(u16),
    CutoffEnd,
    PowerOn(TerminalId),
    PrinterFixed(TerminalId),
    /// The technician unlocks; `sign_in`: and signs the terminal in at once
    /// (a scheduled tamper), else the cashier does what the terminal asks
    /// (a placed one).
    Unlock {
        terminal: TerminalId,
        sign_in: bool,
    },
    BlackholeEnd(TerminalId),
}

impl Runner<'_> {
    fn fault_record(&mut self, now: Instant, kind: FaultKind, target: &str, cause: &FaultCause) {
        let record =
            FaultRecord { kind, target: target.to_string(), cause: cause.clone(), frame: None };
        self.world.borrow_mut().fault(now, record);
    }

    pub(super) fn apply_fault(
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
                let unlock = Undo::Unlock { terminal, sign_in: true };
                self.at(later(unlock_after_ms), Chore::Undo(unlock, cause));
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

    pub(super) fn undo(
        &mut self,
        now: Instant,
        undo: Undo,
        cause: FaultCause,
        sim: &mut turmoil::Sim<'_>,
    ) {
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
            Undo::Unlock { terminal, sign_in } => {
                // The technician unlocks with a password keyed in: a terminal
                // that is off (a power cut, a flat battery) is unlocked once
                // it is back on, not never.
                let powered = self.world.borrow().terminals[&terminal].terminal.is_powered();
                if !powered && now < self.day.healing_end() {
                    let retry = now + Duration::from_millis(UNLOCK_RETRY_MS);
                    return self.at(retry, Chore::Undo(Undo::Unlock { terminal, sign_in }, cause));
                }
                let password = self.world.borrow().terminals[&terminal]
                    .terminal
                    .config()
                    .unlock_password
                    .clone();
                self.command(terminal, TerminalCommand::Unlock { password });
                self.operator_sign_in(terminal);
                if sign_in {
                    self.command(terminal, TerminalCommand::SignIn);
                }
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
            world.switch = Switch::restart(self.scenario.switch.clone(), persistent, now)
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
        let command = cashier::operator_sign_in(&self.world.borrow().terminals[&terminal].terminal);
        self.command(terminal, command);
    }

    /// Makes the power cuts the line shims asked for; whether there were any.
    pub(super) fn power_cuts(&mut self, now: Instant, cuts: Vec<PowerCut>) -> bool {
        let any = !cuts.is_empty();
        for PowerCut { terminal, off_ms, why } in cuts {
            if self.day.phase() == Phase::Safety {
                self.power_cut(now, terminal, off_ms, FaultCause::Protocol(why));
            }
        }
        any
    }

    /// Makes the tamper locks the line shims asked for as a trade's request
    /// left; whether there were any. A terminal that is off or already
    /// locked is left alone: the knock finds nothing more to lock.
    pub(super) fn placed_tampers(&mut self, now: Instant, tampers: Vec<PlacedTamper>) -> bool {
        let any = !tampers.is_empty();
        for PlacedTamper { terminal, unlock_after_ms, why } in tampers {
            let lockable = self.world.borrow().terminals.get(&terminal).is_some_and(|slot| {
                slot.terminal.is_powered() && !slot.terminal.persistent().tamper_locked()
            });
            if self.day.phase() != Phase::Safety || !lockable {
                continue;
            }
            let cause = FaultCause::Protocol(why);
            self.command(terminal, TerminalCommand::Tamper);
            self.fault_record(now, FaultKind::TamperLock, terminal.trimmed(), &cause);
            let unlock = Undo::Unlock { terminal, sign_in: false };
            self.at(now + Duration::from_millis(unlock_after_ms), Chore::Undo(unlock, cause));
        }
        any
    }

    /// Makes the placed faults that land on a host at a terminal's moment:
    /// the cutoff windows the line shims asked for as a 0500 left, and a
    /// switch crash once the switch's store-and-forward holds a reversal of
    /// its terminal. Whether there were any.
    pub(super) fn placed_host_faults(
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
}

/// The line profile's episodes on terminal `compiled`, from their own
/// stream: blackholes, then resets, within the safety phase.
pub(super) fn plan_episodes(
    runner: &mut Runner<'_>,
    streams: &Streams,
    compiled: &CompiledTerminal,
    swarm: bool,
    start: Instant,
    safety_end: Instant,
) {
    let id = compiled.config.terminal_id;
    let world = runner.world.clone();
    // The line profile's episodes, from their own stream.
    let mut episodes = streams.stream(&format!("episodes {}", id.trimmed()));
    let profile = world.borrow().terminals[&id].line.profile().clone();
    let cause = FaultCause::Profile(if swarm { "swarm".into() } else { compiled.link.clone() });
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

/// Swarm mode: faults nobody wrote down, drawn within the scenario's bounds.
pub(super) fn schedule_swarm(
    runner: &mut Runner<'_>,
    rng: &mut Rng,
    start: Instant,
    safety_end: Instant,
) {
    let bounds = runner.scenario.faults.swarm.clone();
    let terminals: Vec<TerminalId> =
        runner.scenario.terminals.iter().map(|t| t.config.terminal_id).collect();
    let per_terminal = [
        (rng.within(bounds.power_cuts_per_hour), 0u8),
        (rng.within(bounds.printer_faults_per_hour), 1u8),
    ];
    for id in &terminals {
        for (rate, kind) in per_terminal {
            swarm_episodes(runner, rng, rate, start, safety_end, |rng| {
                if kind == 0 {
                    Fault::PowerCut { terminal: *id, off_ms: rng.between(1_000, 120_000) }
                } else {
                    Fault::Printer {
                        terminal: *id,
                        state: PrinterFault::OutOfPaper,
                        fixed_after_ms: rng.between(10_000, 300_000),
                    }
                }
            });
        }
    }
    let partitions = rng.within(bounds.partitions_per_hour);
    swarm_episodes(runner, rng, partitions, start, safety_end, |rng| Fault::Partition {
        between: ["switch".into(), "network".into()],
        for_ms: rng.between(1_000, 90_000),
    });
    let crashes = rng.within(bounds.switch_crashes_per_hour);
    swarm_episodes(runner, rng, crashes, start, safety_end, |rng| Fault::Crash {
        host: "switch".into(),
        restart_after_ms: rng.between(5_000, 60_000),
    });
}

/// Episodes at `per_hour` from `start` until `safety_end`, each drawn by
/// `fault` right after its gap (the order the swarm's stream is read in).
fn swarm_episodes(
    runner: &mut Runner<'_>,
    rng: &mut Rng,
    per_hour: f64,
    start: Instant,
    safety_end: Instant,
    mut fault: impl FnMut(&mut Rng) -> Fault,
) {
    let mut when = start;
    while let Some(gap) = rng.exponential_ms(per_hour) {
        when = when + Duration::from_millis(gap);
        if when >= safety_end {
            break;
        }
        let fault = fault(rng);
        runner.at(when, Chore::Fault(fault, FaultCause::Swarm));
    }
}
