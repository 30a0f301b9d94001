//! One run: build the turmoil world from a compiled scenario, then step it,
//! applying between steps whatever is due — cardholders arriving, faults
//! starting and ending, the cashier's habits — through the safety phase, the
//! healing phase (faults stopped, the system must converge within the
//! bound), and the end of the day's clearing.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use possim_models::actor::Node;
use possim_models::iso8583::trade::{CardRead, EntryMode};
use possim_models::iso8583::values::{AmountFen, Expiry, Pan, TerminalId};
use possim_models::issuer::{Issuer, IssuerCommand};
use possim_models::network::{Network, NetworkCommand, NetworkEventKind};
use possim_models::switch::{Switch, SwitchCommand, SwitchEventKind};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::printer::PrinterHardware;
use possim_models::terminal::{Terminal, TerminalCommand};
use possim_models::time::Instant;

use super::line::Line;
use super::quiet::{self, Quiet};
use super::shells;
use super::simulation::simulation;
use super::state::{pair, Command, PowerCut, Shared, TerminalSlot, World};
use crate::order::Order;
use crate::pre_auths::{FollowUp, PreAuthBook};
use crate::refunds::RefundHistory;
use crate::rng::{Rng, Streams};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{CashierCommand, Fault, PrinterFault, ProtocolFault, TradeChoice};
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

/// Lines kept of what healing still found pending.
pub const PENDING_REASONS_MAX: usize = 12;

/// Bound on scheduled actions waiting at once.
const SCHEDULE_MAX: usize = crate::scenario::bounds::SCHEDULE_ENTRIES_MAX;
/// How often the cashier looks at an unconverged terminal while healing.
const HEALING_ROUND_MS: u64 = 30_000;
/// A busy terminal makes the next cardholder wait this long, this many times.
const BUSY_WAIT_MS: u64 = 5_000;
const BUSY_WAITS_MAX: u32 = 12;
/// The cashier notices "not signed in" and signs in again after this.
const SIGN_IN_AGAIN_MS: u64 = 10_000;
/// The longest idle skip, in ticks; a bound, not a tuning knob (a longer
/// quiet stretch takes two skips).
const TICKS_PER_STEP_MAX: u32 = 1 << 20;
/// Lines take a moment to dial before the day opens.
const OPENING_MS: u64 = 2_000;

#[derive(Debug, Clone)]
enum Action {
    Open(TerminalId),
    Arrival {
        terminal: TerminalId,
        waits: u32,
    },
    /// The scenario's scripted trade at this index.
    Scripted {
        index: usize,
        waits: u32,
    },
    /// What follows a drawn pre-auth, chosen by `pick` ([`FollowUp::draw`]).
    PreAuthFollowUp {
        terminal: TerminalId,
        pick: u64,
        waits: u32,
    },
    Fault(Fault, FaultCause),
    Undo(Undo, FaultCause),
    Healing,
    HealingRound,
    Clearing,
    FileClearing,
    Reconcile,
    End,
    Command(TerminalId, TerminalCommand),
    /// A sign-in the cashier started; cleared when it answers or fails.
    SignIn(TerminalId),
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
    schedule: BTreeMap<(Instant, u64), Action>,
    sequence: u64,
    workload: BTreeMap<TerminalId, Rng>,
    cards: Vec<(Pan, String, i64)>,
    /// Indexes into `cards` of those the drawn workload picks.
    drawn_cards: Vec<usize>,
    phase: Phase,
    safety_end: Instant,
    healing_end: Instant,
    converged: bool,
    /// What the latest healing round found pending; see `RunOutcome`.
    healing_pending: Vec<String>,
    cursor: usize,
    /// Terminals whose last online trade failed: the cashier presses "send pending".
    crashed_switch: bool,
    /// Placed `switch_crash_with_reversals_queued` not landed yet: the
    /// terminal whose reversal the switch must hold, the time down, the
    /// placement's words.
    switch_crashes: Vec<(TerminalId, u64, String)>,
    refund_history: RefundHistory,
    pre_auth_book: PreAuthBook,
    signing_in: std::collections::BTreeSet<TerminalId>,
}

fn cause_label(cause: &FaultCause) -> FaultCause {
    cause.clone()
}

impl<'a> Runner<'a> {
    fn at(&mut self, when: Instant, action: Action) {
        self.sequence += 1;
        self.schedule.insert((when, self.sequence), action);
        assert!(self.schedule.len() <= SCHEDULE_MAX, "schedule over {SCHEDULE_MAX}");
    }

    fn command(&mut self, id: TerminalId, command: TerminalCommand) {
        if matches!(command, TerminalCommand::Settle) {
            self.remember_refundable(id);
        }
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

    fn card_read(&self, pan: Pan) -> CardRead {
        CardRead { expiry: None, entry_mode: EntryMode::CHIP_PIN, ..CardRead::swiped(pan) }
    }

    fn arrival(&mut self, now: Instant, id: TerminalId, waits: u32, sim: &mut turmoil::Sim<'_>) {
        let _ = sim;
        if self.phase != Phase::Safety {
            return;
        }
        let workload = &self.scenario.workload;
        if self.is_busy(id) {
            if waits < BUSY_WAITS_MAX {
                self.at(
                    now + Duration::from_millis(BUSY_WAIT_MS),
                    Action::Arrival { terminal: id, waits: waits + 1 },
                );
            } else {
                self.next_arrival(now, id);
            }
            return;
        }
        let rng = self.workload.get_mut(&id).expect("a stream per terminal");
        let drawn = &self.drawn_cards;
        // The scenario refuses arrivals with no drawn card.
        assert!(!drawn.is_empty(), "arrivals need a drawn card");
        let mut order = Order::draw(rng, workload, drawn.len());
        order.card_index = drawn[order.card_index];
        self.place(now, id, order);
        if order.choice == TradeChoice::PreAuth {
            let pick = order.refund_pick;
            let (_, after_ms) = FollowUp::draw(pick, &workload.pre_auth_follow_up);
            let when = now + Duration::from_millis(after_ms);
            if when < self.safety_end {
                self.at(when, Action::PreAuthFollowUp { terminal: id, pick, waits: 0 });
            }
        }
        self.next_arrival(now, id);
    }

    /// The merchant comes back to a drawn pre-auth: completes it, cancels
    /// it or leaves it to lapse ([`crate::pre_auths`]).
    fn pre_auth_follow_up(&mut self, now: Instant, id: TerminalId, pick: u64, waits: u32) {
        if self.phase != Phase::Safety {
            return;
        }
        if self.is_busy(id) {
            if waits < BUSY_WAITS_MAX {
                let when = now + Duration::from_millis(BUSY_WAIT_MS);
                self.at(when, Action::PreAuthFollowUp { terminal: id, pick, waits: waits + 1 });
            }
            return;
        }
        let (follow_up, _) = FollowUp::draw(pick, &self.scenario.workload.pre_auth_follow_up);
        self.remember_pre_auths(id);
        let Some(open) = self.pre_auth_book.take_oldest(id) else { return };
        let today = self.scenario.calendar.month_day(now);
        if let Some(command) = open.command(follow_up, self.card_read(open.pan), today) {
            self.command(id, command);
        }
    }

    fn remember_pre_auths(&mut self, id: TerminalId) {
        let world = self.world.borrow();
        self.pre_auth_book.remember(id, world.terminals[&id].terminal.persistent().journal());
    }

    /// A scripted follow-up of the terminal's oldest open pre-auth: a
    /// completion of `amount_fen`, or the cancel of the whole hold.
    fn scripted_follow_up(
        &mut self,
        now: Instant,
        id: TerminalId,
        choice: TradeChoice,
        amount_fen: u64,
    ) -> Option<TerminalCommand> {
        self.remember_pre_auths(id);
        let open = self.pre_auth_book.take_oldest(id)?;
        let card = self.card_read(open.pan);
        let original_date = self.scenario.calendar.month_day(now);
        let amount = AmountFen::new(amount_fen).expect("scenario amounts fit 12 digits");
        Some(match choice {
            TradeChoice::Completion => TerminalCommand::Completion {
                card,
                amount,
                original_auth: open.auth,
                original_date,
                pin: None,
            },
            TradeChoice::CompletionAdvice => TerminalCommand::CompletionAdvice {
                card,
                amount,
                original_auth: open.auth,
                original_date,
            },
            _ => open.command(FollowUp::Cancel, card, original_date)?,
        })
    }

    /// Whether the terminal cannot take a cardholder now.
    fn is_busy(&self, id: TerminalId) -> bool {
        let world = self.world.borrow();
        let slot = &world.terminals[&id];
        !slot.terminal.is_powered()
            || slot.terminal.is_busy()
            || slot.terminal.persistent().settlement().is_some()
    }

    /// A scripted cardholder: waits while the terminal is busy, like a drawn one.
    fn scripted(&mut self, now: Instant, index: usize, waits: u32) {
        if self.phase != Phase::Safety {
            return;
        }
        let trade = &self.scenario.workload.script[index];
        let id = trade.terminal;
        if self.is_busy(id) {
            if waits < BUSY_WAITS_MAX {
                let when = now + Duration::from_millis(BUSY_WAIT_MS);
                self.at(when, Action::Scripted { index, waits: waits + 1 });
            }
            return;
        }
        let card_index = self
            .cards
            .iter()
            .position(|(pan, _, _)| *pan == trade.card)
            .expect("the scenario checked every scripted card");
        self.place(now, id, Order::scripted(trade, card_index));
    }

    /// Turns a cardholder's order into the cashier's command at the terminal.
    fn place(&mut self, now: Instant, id: TerminalId, order: Order) {
        let Order { choice, card_index, amount_fen, wrong_pin, refund_pick } = order;
        let (pan, pin, _) = self.cards[card_index].clone();
        let pin = if wrong_pin { "000000".to_string() } else { pin };
        let amount = AmountFen::new(amount_fen).expect("scenario amounts fit 12 digits");
        let card = self.card_read(pan);
        let command = match choice {
            TradeChoice::Sale => Some(TerminalCommand::Sale { card, amount, pin: Some(pin) }),
            TradeChoice::Inquiry => Some(TerminalCommand::BalanceInquiry { card, pin: Some(pin) }),
            TradeChoice::Void => {
                let world = self.world.borrow();
                let persistent = world.terminals[&id].terminal.persistent();
                let batch = persistent.batch();
                persistent.journal().last_voidable(batch).map(TerminalCommand::void_of)
            }
            TradeChoice::Refund => self.refund_history.pick(id, refund_pick).map(|sale| {
                sale.command(
                    self.card_read(sale.pan),
                    amount_fen,
                    self.scenario.calendar.month_day(now),
                )
            }),
            TradeChoice::PreAuth => Some(TerminalCommand::PreAuth { card, amount, pin: Some(pin) }),
            TradeChoice::Completion
            | TradeChoice::CompletionAdvice
            | TradeChoice::PreAuthCancel => self.scripted_follow_up(now, id, choice, amount_fen),
            TradeChoice::OfflineSale => Some(TerminalCommand::OfflineSale { card, amount }),
            TradeChoice::Ecash => {
                let offline = AmountFen::new(self.cards[card_index].2.max(0) as u64).expect("fits");
                if amount <= offline {
                    self.cards[card_index].2 -= amount.fen() as i64;
                }
                Some(TerminalCommand::ECash {
                    card,
                    amount,
                    offline_balance: offline,
                    pin: Some(pin),
                })
            }
        };
        if let Some(command) = command {
            self.command(id, command);
        }
    }

    fn next_arrival(&mut self, now: Instant, id: TerminalId) {
        let rate = self.scenario.workload.arrivals_per_terminal_per_hour;
        let rng = self.workload.get_mut(&id).expect("a stream per terminal");
        if let Some(gap) = rng.exponential_ms(rate) {
            let when = now + Duration::from_millis(gap);
            if when < self.safety_end {
                self.at(when, Action::Arrival { terminal: id, waits: 0 });
            }
        }
    }

    fn apply_fault(
        &mut self,
        now: Instant,
        fault: Fault,
        cause: FaultCause,
        sim: &mut turmoil::Sim<'_>,
    ) -> Result<(), RunError> {
        if self.phase != Phase::Safety {
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
                self.at(later(for_ms), Action::Undo(Undo::Repair(between), cause));
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
                self.at(later(for_ms), Action::Undo(Undo::Release(between), cause));
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
                    self.at(later(restart_after_ms), Action::Undo(Undo::Restart, cause));
                }
            }
            Fault::IssuerDown { issuer, for_ms } => {
                self.world
                    .borrow_mut()
                    .command(Node::Network, Command::Network(NetworkCommand::IssuerDown(issuer)));
                self.fault_record(now, FaultKind::IssuerDown, &format!("issuer-{issuer}"), &cause);
                self.at(later(for_ms), Action::Undo(Undo::IssuerUp(issuer), cause));
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
                self.at(later(for_ms), Action::Undo(Undo::IssuerHeard(issuer), cause));
            }
            Fault::Cutoff { for_ms } => {
                self.world
                    .borrow_mut()
                    .command(Node::Network, Command::Network(NetworkCommand::CutoffStart));
                self.fault_record(now, FaultKind::CutoffStart, "network", &cause);
                self.at(later(for_ms), Action::Undo(Undo::CutoffEnd, cause));
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
                self.at(later(fixed_after_ms), Action::Undo(Undo::PrinterFixed(terminal), cause));
            }
            Fault::Tamper { terminal, unlock_after_ms } => {
                self.command(terminal, TerminalCommand::Tamper);
                self.fault_record(now, FaultKind::TamperLock, terminal.trimmed(), &cause);
                self.at(later(unlock_after_ms), Action::Undo(Undo::Unlock(terminal), cause));
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
                self.at(later(for_ms), Action::Undo(Undo::BlackholeEnd(terminal), cause));
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
        self.at(now + Duration::from_millis(off_ms), Action::Undo(Undo::PowerOn(terminal), cause));
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
                if !powered && now < self.healing_end {
                    let retry = now + Duration::from_millis(UNLOCK_RETRY_MS);
                    return self.at(retry, Action::Undo(Undo::Unlock(terminal), cause));
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

    /// Reacts to what the terminals reported since the last step.
    fn cashier(&mut self, now: Instant) {
        let records = {
            let world = self.world.borrow();
            let records = world.trace.records();
            let new: Vec<(TerminalId, TerminalEventKind)> = records[self.cursor..]
                .iter()
                .filter_map(|record| match &record.event {
                    // Only what the cashier reacts to (below) is copied out.
                    TraceEvent::Terminal(event)
                        if matches!(
                            event.kind,
                            TerminalEventKind::TradeTimedOut { .. }
                                | TerminalEventKind::TradeFailed { .. }
                                | TerminalEventKind::SignInRequired { .. }
                                | TerminalEventKind::SignInFailed { .. }
                                | TerminalEventKind::Refused { .. }
                                | TerminalEventKind::SignedIn { .. }
                        ) =>
                    {
                        Some((event.terminal, event.kind.clone()))
                    }
                    _ => None,
                })
                .collect();
            (new, records.len())
        };
        self.cursor = records.1;
        let send_pending_after_ms = self.scenario.workload.cashier.send_pending_after_ms;
        for (terminal, kind) in records.0 {
            match kind {
                TerminalEventKind::TradeTimedOut { .. } | TerminalEventKind::TradeFailed { .. }
                    if self.phase == Phase::Safety =>
                {
                    let when = now + Duration::from_millis(send_pending_after_ms);
                    self.at(when, Action::Command(terminal, TerminalCommand::SendPending));
                }
                TerminalEventKind::SignInRequired { .. }
                | TerminalEventKind::SignInFailed { .. }
                    if self.phase == Phase::Safety =>
                {
                    self.sign_in_again(now, terminal);
                }
                TerminalEventKind::Refused { why }
                    if self.phase == Phase::Safety && why.contains("signed in") =>
                {
                    self.sign_in_again(now, terminal);
                }
                TerminalEventKind::SignedIn { .. } => {
                    self.signing_in.remove(&terminal);
                }
                _ => {}
            }
        }
    }

    /// The cashier signs in again, once at a time per terminal.
    fn sign_in_again(&mut self, now: Instant, terminal: TerminalId) {
        if self.signing_in.insert(terminal) {
            let when = now + Duration::from_millis(SIGN_IN_AGAIN_MS);
            let (operator, password) = {
                let world = self.world.borrow();
                let config = world.terminals[&terminal].terminal.config();
                (config.operator.clone(), config.operator_password.clone())
            };
            self.at(
                when,
                Action::Command(terminal, TerminalCommand::OperatorSignIn { operator, password }),
            );
            self.at(when, Action::SignIn(terminal));
        }
    }

    /// Makes the power cuts the line shims asked for; whether there were any.
    fn power_cuts(&mut self, now: Instant) -> bool {
        let cuts: Vec<PowerCut> = self.world.borrow_mut().power_cuts.drain(..).collect();
        let any = !cuts.is_empty();
        for PowerCut { terminal, off_ms, why } in cuts {
            if self.phase == Phase::Safety {
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
        sim: &mut turmoil::Sim<'_>,
    ) -> Result<bool, RunError> {
        let cutoffs: Vec<(u64, String)> = self.world.borrow_mut().cutoffs.drain(..).collect();
        let mut any = !cutoffs.is_empty();
        for (for_ms, why) in cutoffs {
            if self.phase == Phase::Safety {
                self.apply_fault(now, Fault::Cutoff { for_ms }, FaultCause::Protocol(why), sim)?;
            }
        }
        if self.phase != Phase::Safety || self.crashed_switch || self.switch_crashes.is_empty() {
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

    fn start_healing(&mut self, now: Instant, sim: &mut turmoil::Sim<'_>) {
        self.phase = Phase::Healing;
        self.world.borrow_mut().trace.push(now, TraceEvent::Phase { phase: Phase::Healing });
        // Every fault stops: what is scheduled to undo one happens now.
        let undos: Vec<(Undo, FaultCause)> = self
            .schedule
            .values()
            .filter_map(|action| match action {
                Action::Undo(undo, cause) => Some((undo.clone(), cause.clone())),
                _ => None,
            })
            .collect();
        self.schedule.retain(|_, action| {
            !matches!(
                action,
                Action::Undo(..)
                    | Action::Fault(..)
                    | Action::Arrival { .. }
                    | Action::Scripted { .. }
                    | Action::PreAuthFollowUp { .. }
            )
        });
        for (undo, cause) in undos {
            self.undo(now, undo, cause, sim);
        }
        let ids: Vec<TerminalId> = self.world.borrow().terminals.keys().copied().collect();
        for id in &ids {
            self.world.borrow_mut().terminals.get_mut(id).expect("listed").line.heal();
            self.command(*id, TerminalCommand::Charge { percent: 100 });
        }
        self.at(now, Action::HealingRound);
    }

    fn healing_round(&mut self, now: Instant) {
        let ids: Vec<TerminalId> = self.world.borrow().terminals.keys().copied().collect();
        let mut settled = true;
        let mut pending: Vec<String> = Vec::new();
        for (index, id) in ids.iter().enumerate() {
            let (powered, signed_in, reversal, offline, settling, journal, busy) = {
                let world = self.world.borrow();
                let terminal = &world.terminals[id].terminal;
                let persistent = terminal.persistent();
                let queued = world.commands.get(&Node::Terminal(*id)).is_some_and(|queue| {
                    queue.iter().any(|c| matches!(c, Command::Terminal(c) if c.is_trade()))
                });
                (
                    terminal.is_powered(),
                    persistent.signed_in(),
                    persistent.reversal().is_some(),
                    !persistent.offline().is_empty(),
                    persistent.settlement().is_some(),
                    !persistent.journal().is_empty(),
                    terminal.is_busy() || queued,
                )
            };
            if !powered {
                self.command(*id, TerminalCommand::PowerOn);
            }
            // A trade in flight, or one the cashier has just keyed in (an
            // arrival in the very instant healing begins is still queued),
            // is not settled even when the journal is empty: clearing now
            // would release the issuer's hold on a debit the terminal is
            // about to print an approval slip for.
            if reversal || offline || settling || journal || busy || !signed_in || !powered {
                settled = false;
                if pending.len() < PENDING_REASONS_MAX {
                    let what = [
                        (!powered, "off"),
                        (!signed_in, "not signed in"),
                        (busy, "busy"),
                        (reversal, "a reversal unacknowledged"),
                        (offline, "offline trades not uploaded"),
                        (settling, "a settlement unfinished"),
                        (journal, "a batch not settled"),
                    ];
                    let what: Vec<&str> =
                        what.iter().filter(|(is, _)| *is).map(|(_, name)| *name).collect();
                    pending.push(format!("{}: {}", id.trimmed(), what.join(", ")));
                }
            } else {
                continue;
            }
            if busy {
                continue;
            }
            // Stagger the terminals so a fleet does not settle in one instant.
            let when = now + Duration::from_millis(index as u64 * 20);
            let (operator, password) = {
                let world = self.world.borrow();
                let config = world.terminals[id].terminal.config();
                (config.operator.clone(), config.operator_password.clone())
            };
            self.at(
                when,
                Action::Command(*id, TerminalCommand::OperatorSignIn { operator, password }),
            );
            if !signed_in {
                self.at(when, Action::Command(*id, TerminalCommand::SignIn));
            }
            if reversal || offline {
                self.at(
                    when + Duration::from_millis(5_000),
                    Action::Command(*id, TerminalCommand::SendPending),
                );
            }
            if journal || settling {
                self.at(
                    when + Duration::from_millis(10_000),
                    Action::Command(*id, TerminalCommand::Settle),
                );
            }
        }
        let hosts_pending: Vec<String> = {
            let world = self.world.borrow();
            let counts = [
                (usize::from(!world.switch_up), "switch down"),
                (world.switch.store_forward().len(), "reversals in the switch's store-and-forward"),
                (world.switch.pending_count(), "requests pending at the switch"),
                (world.network.pending_count(), "requests pending at the network"),
                (world.network.custody_count(), "reversals in the network's custody"),
            ];
            counts
                .iter()
                .filter(|(count, _)| *count > 0)
                .map(|(count, what)| format!("{count} {what}"))
                .collect()
        };
        let hosts_quiet = hosts_pending.is_empty();
        pending.extend(hosts_pending);
        pending.truncate(PENDING_REASONS_MAX);
        self.healing_pending = pending;
        if settled && hosts_quiet {
            self.converged = true;
            self.at(now, Action::Clearing);
        } else if now + Duration::from_millis(HEALING_ROUND_MS) < self.healing_end {
            self.at(now + Duration::from_millis(HEALING_ROUND_MS), Action::HealingRound);
        } else {
            self.at(self.healing_end, Action::End);
        }
    }

    /// End of day: the acquirer's switch hands over its clearing file (what
    /// its terminals settled); half a second later the network clears
    /// against it, and a second after the file the issuers reconcile.
    fn clearing(&mut self, now: Instant) {
        self.world
            .borrow_mut()
            .command(Node::Switch, Command::Switch(SwitchCommand::SubmitClearing));
        self.at(now + Duration::from_millis(500), Action::FileClearing);
    }

    fn file_clearing(&mut self, now: Instant) {
        let file: Option<Vec<possim_models::actor::TradeKey>> = {
            let world = self.world.borrow();
            world.trace.records().iter().rev().find_map(|record| match &record.event {
                TraceEvent::Switch(event) => match &event.kind {
                    SwitchEventKind::ClearingSubmitted { keys } => Some(keys.clone()),
                    _ => None,
                },
                _ => None,
            })
        };
        let mut world = self.world.borrow_mut();
        // No file (the switch never answered the command): the network
        // clears on its own records, as before acquirers filed.
        if let Some(keys) = file {
            world.command(Node::Network, Command::Network(NetworkCommand::FileClearing { keys }));
        }
        world.command(Node::Network, Command::Network(NetworkCommand::Clear));
        drop(world);
        self.at(now + Duration::from_millis(500), Action::Reconcile);
    }

    fn reconcile(&mut self, now: Instant) {
        let lists: Vec<(u16, Vec<possim_models::actor::TradeKey>)> = {
            let world = self.world.borrow();
            world
                .trace
                .records()
                .iter()
                .filter_map(|record| match &record.event {
                    TraceEvent::Network(event) => match &event.kind {
                        NetworkEventKind::ClearingList { issuer, keys } => {
                            Some((*issuer, keys.clone()))
                        }
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        };
        for (issuer, complete) in lists {
            self.world.borrow_mut().command(
                Node::Issuer(issuer),
                Command::Issuer(IssuerCommand::Reconcile { complete }),
            );
        }
        self.at(now + Duration::from_millis(1_000), Action::End);
    }

    /// The refundable sales of `id`'s batch, taken as it settles.
    fn remember_refundable(&mut self, id: TerminalId) {
        {
            let world = self.world.borrow();
            self.refund_history.remember(id, world.terminals[&id].terminal.persistent().journal());
        }
        // Pre-auths outlive the batch: taken before the journal is cleared.
        self.remember_pre_auths(id);
    }
}

/// Where in `cards` the drawn workload picks from: every card unless some
/// say `drawn: false`. With every card drawn it is the identity, so a
/// scenario without the setting draws as it always did.
pub(crate) fn drawn_cards(cards: &[crate::scenario::compile::CompiledCard]) -> Vec<usize> {
    cards.iter().enumerate().filter(|(_, card)| card.drawn).map(|(index, _)| index).collect()
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
    run_into(scenario, options, Trace::new())
}

/// Runs `scenario` with `options.seed`, writing into `trace` (a streamed
/// one must keep what this reads back: [`crate::execute::kept_while_streaming`]).
pub fn run_into(
    scenario: &CompiledScenario,
    options: &RunOptions,
    mut trace: Trace,
) -> Result<RunOutcome, RunError> {
    if let Err(error) = crate::scenario::validate::check_simulable(&scenario.faults) {
        return Err(RunError::Unsupported(format!("{}: {}", error.path, error.message)));
    }
    let streams = Streams::new(options.seed);
    let offset_ms = u64::from(scenario.run.open_hour) * 3_600_000;
    let start = Instant::from_millis(offset_ms);
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
        power_cuts: Vec::new(),
        cutoffs: Vec::new(),
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

    let safety_end = start + Duration::from_millis(scenario.run.safety_ms);
    let healing_end = safety_end + Duration::from_millis(scenario.run.healing_max_ms);
    let mut runner = Runner {
        scenario,
        world: world.clone(),
        schedule: BTreeMap::new(),
        sequence: 0,
        workload: BTreeMap::new(),
        cards: scenario
            .cards
            .iter()
            .map(|c| (c.pan, c.pin.clone(), c.offline_balance_fen))
            .collect(),
        drawn_cards: drawn_cards(&scenario.cards),
        phase: Phase::Safety,
        safety_end,
        healing_end,
        converged: false,
        healing_pending: Vec::new(),
        cursor: 0,
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
        refund_history: RefundHistory::default(),
        pre_auth_book: PreAuthBook::default(),
        signing_in: Default::default(),
    };
    if runner.cards.is_empty() {
        return Err(RunError::Unsupported("a scenario needs at least one card".into()));
    }
    let _ = Expiry::new(30, 12);

    // Opening: every terminal signs in, a little apart.
    for (index, compiled) in scenario.terminals.iter().enumerate() {
        let id = compiled.config.terminal_id;
        runner.workload.insert(id, streams.stream(&format!("workload {}", id.trimmed())));
        runner.at(start + Duration::from_millis(OPENING_MS + index as u64 * 50), Action::Open(id));
        runner.next_arrival(start + Duration::from_millis(5_000), id);
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
            runner
                .at(when, Action::Fault(Fault::Blackhole { terminal: id, for_ms }, cause.clone()));
        }
        let mut when = start;
        while let Some(gap) = episodes.exponential_ms(profile.resets_per_hour) {
            when = when + Duration::from_millis(gap);
            if when >= safety_end {
                break;
            }
            runner.at(when, Action::Fault(Fault::Reset { terminal: id }, cause.clone()));
        }
    }
    for (index, trade) in scenario.workload.script.iter().enumerate() {
        runner.at(start + Duration::from_millis(trade.at_ms), Action::Scripted { index, waits: 0 });
    }
    for scripted in &scenario.workload.commands {
        let when = start + Duration::from_millis(scripted.at_ms);
        runner.at(when, Action::Command(scripted.terminal, cashier_command(&scripted.command)));
    }
    for scheduled in &scenario.faults.scheduled {
        runner.at(
            start + Duration::from_millis(scheduled.at_ms),
            Action::Fault(scheduled.fault.clone(), FaultCause::Scheduled),
        );
    }
    if options.swarm {
        schedule_swarm(&mut runner, &mut swarm, start, safety_end);
    }
    let every = scenario.workload.cashier.settle_every_ms;
    if every > 0 {
        for (index, compiled) in scenario.terminals.iter().enumerate() {
            let mut when = start + Duration::from_millis(every + index as u64 * 20);
            while when < safety_end {
                runner.at(
                    when,
                    Action::Command(compiled.config.terminal_id, TerminalCommand::Settle),
                );
                when = when + Duration::from_millis(every);
            }
        }
    }
    if scenario.workload.cashier.settle_at_end {
        for (index, compiled) in scenario.terminals.iter().enumerate() {
            let when = Instant::from_millis(
                safety_end.as_millis().saturating_sub(60_000) + index as u64 * 20,
            );
            runner.at(
                when.max(start),
                Action::Command(compiled.config.terminal_id, TerminalCommand::Settle),
            );
        }
    }
    runner.at(safety_end, Action::Healing);

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
        let mut acted = runner.power_cuts(now);
        acted |= runner.placed_host_faults(now, &mut sim)?;
        runner.cashier(now);
        let mut ended = false;
        while let Some(entry) = runner.schedule.first_entry() {
            if entry.key().0 > now {
                break;
            }
            acted = true;
            let action = entry.remove();
            match action {
                Action::Open(id) => {
                    runner.operator_sign_in(id);
                    runner.command(id, TerminalCommand::SignIn);
                }
                Action::Arrival { terminal, waits } => {
                    runner.arrival(now, terminal, waits, &mut sim)
                }
                Action::Scripted { index, waits } => runner.scripted(now, index, waits),
                Action::PreAuthFollowUp { terminal, pick, waits } => {
                    runner.pre_auth_follow_up(now, terminal, pick, waits)
                }
                Action::Fault(fault, cause) => runner.apply_fault(now, fault, cause, &mut sim)?,
                Action::Undo(undo, cause) => runner.undo(now, undo, cause, &mut sim),
                Action::Command(id, command) => runner.command(id, command),
                Action::SignIn(id) => {
                    runner.signing_in.remove(&id);
                    runner.command(id, TerminalCommand::SignIn);
                }
                Action::Healing => runner.start_healing(now, &mut sim),
                Action::HealingRound => runner.healing_round(now),
                Action::Clearing => runner.clearing(now),
                Action::FileClearing => runner.file_clearing(now),
                Action::Reconcile => runner.reconcile(now),
                Action::End => {
                    ended = true;
                    break;
                }
            }
        }
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
    let healing_pending = std::mem::take(&mut runner.healing_pending);
    drop(runner);
    let converged_flag = {
        let world = world.borrow();
        world.trace.records().iter().any(|r| matches!(r.event, TraceEvent::Network(ref e) if matches!(e.kind, NetworkEventKind::ClearingList { .. })))
    };
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
        .schedule
        .first_key_value()
        .map(|((when, _), _)| Duration::from_millis(when.as_millis() - start.as_millis()));
    let delivery = sim.next_delivery().map(|after| now + after);
    let next = [quiet.next_timer(), delivery, scheduled].into_iter().flatten().min();
    // Nothing due at all cannot happen while the run's end is scheduled.
    let next = next.expect("the run's end is always scheduled");
    quiet::ticks_to_skip(now, next, tick).clamp(1, TICKS_PER_STEP_MAX)
}

/// The terminal command a scripted cashier command is (numbers checked by
/// the scenario's validation).
fn cashier_command(command: &CashierCommand) -> TerminalCommand {
    use possim_models::iso8583::values::{BatchNo, Stan};
    let stan = |value: u32| Stan::new(value).expect("a checked stan");
    match command {
        CashierCommand::Settle => TerminalCommand::Settle,
        CashierCommand::SendPending => TerminalCommand::SendPending,
        CashierCommand::ReprintLast => TerminalCommand::ReprintLast,
        CashierCommand::ReprintByStan { stan: value } => {
            TerminalCommand::ReprintByStan { stan: stan(*value) }
        }
        CashierCommand::DetailList => TerminalCommand::PrintDetailList,
        CashierCommand::Echo => TerminalCommand::Echo,
        CashierCommand::SignOff => TerminalCommand::SignOff,
        CashierCommand::Void { batch, stan: value, amount_fen } => TerminalCommand::Void {
            original_batch: BatchNo::new(*batch).expect("a checked batch"),
            original_stan: stan(*value),
            amount: AmountFen::new(*amount_fen).expect("a checked amount"),
            pin: None,
        },
    }
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
                runner.at(when, Action::Fault(fault, FaultCause::Swarm));
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
        runner.at(when, Action::Fault(fault, FaultCause::Swarm));
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
        runner.at(when, Action::Fault(fault, FaultCause::Swarm));
    }
}
