//! The day, sans-IO: who comes to which terminal when (drawn and scripted
//! cardholders, scripted cashier commands, the settlement habits), how the
//! cashier reacts to what the terminals report, and the healing rounds
//! after the faults stop. Time and terminal events go in; typed actions
//! ([`DayAction`]) come out, one at a time. The turmoil world
//! (`world::runner`) and the live fleet (`live::fleet`) are glue around
//! it: each applies the actions to its terminals and hands every terminal
//! event back directly. Nothing here reads a trace.
//!
//! The driver keeps one clock for the whole day, the glue's own items (its
//! faults and their undoing, the end of day's clearing) included, so that
//! two things due in the same instant happen in the order they were
//! planned, whoever planned them.
//!
//! Draining contract, in the style of quinn-proto's `Connection`: after
//! time passes, the glue calls [`DayDriver::poll_action`] until it returns
//! `None`, applying each action before asking for the next (the next one
//! may depend on what the last one did to a terminal). After
//! [`DayAction::End`] it stops. [`DayDriver::poll_timeout`] says when to
//! come back.
//!
//! - [`cashier`]: the cashier's habits and their constants.
//! - [`workload`]: the cardholders and their orders.
//! - [`rounds`]: the healing rounds.
//! - [`placed`]: which placed faults fire on a terminal's frame (both glues
//!   carry them out their own way).
//! - [`view`]: what the driver reads of the terminals and hosts.
//! - [`action`]: what it asks for.
//! - `tests`: the driver on the models' in-memory harness.

pub mod action;
pub mod cashier;
pub mod placed;
pub mod rounds;
pub mod view;
pub mod workload;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use possim_models::iso8583::values::{AmountFen, TerminalId};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::TerminalCommand;
use possim_models::time::Instant;

pub use action::DayAction;
pub use view::DayView;

use crate::rng::Streams;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::CashierCommand;
use crate::trace::Phase;
use cashier::{Reaction, SigningIn, BUSY_WAITS_MAX, BUSY_WAIT_MS, SIGN_IN_AGAIN_MS};
use workload::Cardholders;

/// Bound on items waiting on the day's clock at once.
pub const SCHEDULE_MAX: usize = crate::scenario::bounds::SCHEDULE_ENTRIES_MAX;
/// Actions waiting for the glue: one due item makes at most a round's
/// worth (a few per terminal).
const ACTIONS_MAX: usize = SCHEDULE_MAX;

/// What the glue schedules on the day's clock, and says of it.
pub trait GlueItem {
    /// Whether the item is taken off the clock when healing begins (a fault
    /// not started yet, or the undoing of one, which healing does at once).
    fn stops_at_healing(&self) -> bool;
}

#[derive(Debug, Clone)]
enum Due<G> {
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
    /// What follows a drawn pre-auth, chosen by `pick`.
    PreAuthFollowUp {
        terminal: TerminalId,
        pick: u64,
        waits: u32,
    },
    Command(TerminalId, TerminalCommand),
    /// A sign-in the cashier started again; done when it is keyed in.
    SignIn(TerminalId),
    Healing,
    HealingRound,
    Converged,
    End,
    Glue(G),
}

impl<G> Due<G> {
    /// The cardholders stop coming when healing begins.
    fn is_cardholder(&self) -> bool {
        matches!(self, Due::Arrival { .. } | Due::Scripted { .. } | Due::PreAuthFollowUp { .. })
    }
}

/// The day of one scenario's terminals.
#[derive(Debug)]
pub struct DayDriver<G> {
    schedule: BTreeMap<(Instant, u64), Due<G>>,
    sequence: u64,
    /// Items taken off the clock so far, due or dropped at healing.
    dues_taken: u64,
    actions: VecDeque<DayAction<G>>,
    phase: Phase,
    start: Instant,
    safety_end: Instant,
    healing_end: Instant,
    /// The day's terminals, in the order the scenario lists them, and
    /// sorted (the order healing looks at them).
    listed: Vec<TerminalId>,
    sorted: Vec<TerminalId>,
    /// The registered ones among `sorted`: healing waits for these only,
    /// since a terminal the host does not know can never sign in.
    registered: Vec<TerminalId>,
    cardholders: Cardholders,
    signing_in: SigningIn,
    healing_pending: Vec<String>,
    /// The day's pace: its durations are divided by this and its arrival
    /// rate multiplied (live mode's `--speed`; 1 in the simulator, where
    /// every duration stays exactly as written).
    speed: f64,
}

/// How long a day's phases last, and how fast it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayPace {
    /// Trading (under faults, in the simulator).
    pub safety_ms: u64,
    /// At most this long after it: healing, or live mode's closing.
    pub healing_max_ms: u64,
    /// See [`DayDriver`]'s `speed`; positive and finite.
    pub speed: f64,
}

impl DayPace {
    /// The scenario's own phases, at its own pace.
    pub fn of(scenario: &CompiledScenario) -> DayPace {
        DayPace {
            safety_ms: scenario.run.safety_ms,
            healing_max_ms: scenario.run.healing_max_ms,
            speed: 1.0,
        }
    }
}

impl<G: GlueItem> DayDriver<G> {
    /// The day of `scenario` opening at `start`, the cardholders drawn from
    /// `streams`. Nothing is planned yet: the glue calls the `plan_*`
    /// methods in the order it wants same-instant items to happen.
    pub fn new(scenario: &CompiledScenario, streams: &Streams, start: Instant) -> DayDriver<G> {
        DayDriver::paced(scenario, streams, start, DayPace::of(scenario))
    }

    /// The same day with its phases and pace set by the caller (live mode).
    pub fn paced(
        scenario: &CompiledScenario,
        streams: &Streams,
        start: Instant,
        pace: DayPace,
    ) -> DayDriver<G> {
        assert!(pace.speed > 0.0 && pace.speed.is_finite(), "a positive, finite speed");
        let safety_end = start + Duration::from_millis(pace.safety_ms);
        let healing_end = safety_end + Duration::from_millis(pace.healing_max_ms);
        let listed: Vec<TerminalId> =
            scenario.terminals.iter().map(|t| t.config.terminal_id).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        sorted.dedup();
        let mut registered: Vec<TerminalId> = scenario
            .terminals
            .iter()
            .filter(|t| t.registered)
            .map(|t| t.config.terminal_id)
            .collect();
        registered.sort();
        registered.dedup();
        DayDriver {
            schedule: BTreeMap::new(),
            sequence: 0,
            dues_taken: 0,
            actions: VecDeque::new(),
            phase: Phase::Safety,
            start,
            safety_end,
            healing_end,
            listed,
            sorted,
            registered,
            cardholders: Cardholders::new(scenario, streams),
            signing_in: SigningIn::default(),
            healing_pending: Vec::new(),
            speed: pace.speed,
        }
    }

    /// `ms` of the scenario's time at the day's pace, to the whole ms
    /// (exact at speed 1).
    #[allow(clippy::float_arithmetic)]
    fn scaled(&self, ms: u64) -> Duration {
        Duration::from_millis((ms as f64 / self.speed).round() as u64)
    }

    /// Whether the cashier is signing terminal `id` in again.
    pub fn is_signing_in(&self, id: TerminalId) -> bool {
        self.signing_in.is_signing_in(id)
    }

    /// Trading ends now, before its planned end (live mode's trade bound,
    /// or its closing): the cardholders stop coming and the glue's items
    /// that stop at healing are dropped. Unlike healing, nothing is
    /// undone and no round is planned: the glue closes the day its way.
    pub fn stop_trading(&mut self) {
        self.phase = Phase::Healing;
        let before = self.schedule.len();
        self.schedule.retain(|_, due| match due {
            Due::Glue(item) => !item.stops_at_healing(),
            due => !due.is_cardholder(),
        });
        self.dues_taken += (before - self.schedule.len()) as u64;
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn healing_end(&self) -> Instant {
        self.healing_end
    }

    /// How many items have come off the clock (due, or dropped as healing
    /// began): the glue tells from it whether anything happened.
    pub fn dues_taken(&self) -> u64 {
        self.dues_taken
    }

    /// What the latest healing round found pending, at most
    /// [`rounds::PENDING_REASONS_MAX`] lines.
    pub fn take_healing_pending(&mut self) -> Vec<String> {
        std::mem::take(&mut self.healing_pending)
    }

    fn at(&mut self, when: Instant, due: Due<G>) {
        self.sequence += 1;
        self.schedule.insert((when, self.sequence), due);
        assert!(self.schedule.len() <= SCHEDULE_MAX, "schedule over {SCHEDULE_MAX}");
    }

    /// Puts the glue's `item` on the day's clock at `when`.
    pub fn at_glue(&mut self, when: Instant, item: G) {
        self.at(when, Due::Glue(item));
    }

    fn act(&mut self, action: DayAction<G>) {
        assert!(self.actions.len() < ACTIONS_MAX, "day actions over {ACTIONS_MAX}");
        self.actions.push_back(action);
    }

    /// Terminal `id` signs in at `when`, and its first cardholder is drawn.
    pub fn plan_opening(&mut self, when: Instant, id: TerminalId) {
        self.at(when, Due::Open(id));
        self.next_arrival(self.start + self.scaled(cashier::FIRST_ARRIVAL_MS), id);
    }

    /// The scenario's scripted trades and cashier commands, at their times.
    pub fn plan_script(&mut self) {
        for index in 0..self.cardholders.workload.script.len() {
            let at_ms = self.cardholders.workload.script[index].at_ms;
            self.at(self.start + self.scaled(at_ms), Due::Scripted { index, waits: 0 });
        }
        let commands = self.cardholders.workload.commands.clone();
        for scripted in &commands {
            let when = self.start + self.scaled(scripted.at_ms);
            self.at(when, Due::Command(scripted.terminal, cashier_command(&scripted.command)));
        }
    }

    /// The cashier's settlement habits: every so often, and a minute
    /// before the safety phase ends.
    pub fn plan_settlements(&mut self) {
        self.plan_settle_every();
        self.plan_settle_at_end();
    }

    /// The cashier settles every `settle_every_ms` of the scenario's time,
    /// the terminals 20 ms apart.
    pub fn plan_settle_every(&mut self) {
        let (start, safety_end) = (self.start, self.safety_end);
        let every = self.cardholders.workload.cashier.settle_every_ms;
        if every == 0 {
            return;
        }
        let every = self.scaled(every).max(Duration::from_millis(1));
        for (index, id) in self.listed.clone().iter().enumerate() {
            let mut when = start + every + Duration::from_millis(index as u64 * 20);
            while when < safety_end {
                self.at(when, Due::Command(*id, TerminalCommand::Settle));
                when = when + every;
            }
        }
    }

    /// The cashier settles a minute before trading ends (live mode's
    /// closing settles instead).
    pub fn plan_settle_at_end(&mut self) {
        let (start, safety_end) = (self.start, self.safety_end);
        let listed = self.listed.clone();
        if self.cardholders.workload.cashier.settle_at_end {
            for (index, id) in listed.iter().enumerate() {
                let when = Instant::from_millis(
                    safety_end.as_millis().saturating_sub(60_000) + index as u64 * 20,
                );
                self.at(when.max(start), Due::Command(*id, TerminalCommand::Settle));
            }
        }
    }

    /// Healing begins as the safety phase ends.
    pub fn plan_healing(&mut self) {
        self.at(self.safety_end, Due::Healing);
    }

    /// The day ends at `when` (the glue's clearing is done).
    pub fn plan_end(&mut self, when: Instant) {
        self.at(when, Due::End);
    }

    /// When the driver next has something due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.first_key_value().map(|((when, _), _)| *when)
    }

    /// The next action due by `now`, if any; see the module's draining
    /// contract.
    #[must_use]
    pub fn poll_action(&mut self, now: Instant, view: &dyn DayView) -> Option<DayAction<G>> {
        // Each pass takes one item off a bounded schedule.
        for _ in 0..=SCHEDULE_MAX {
            if let Some(action) = self.actions.pop_front() {
                return Some(action);
            }
            let entry = self.schedule.first_entry()?;
            if entry.key().0 > now {
                return None;
            }
            let due = entry.remove();
            self.dues_taken += 1;
            self.handle(now, due, view);
        }
        unreachable!("the schedule is bounded by {SCHEDULE_MAX}")
    }

    /// Terminal `id` reported `kind`: the cashier's habits react.
    pub fn on_terminal_event(
        &mut self,
        now: Instant,
        id: TerminalId,
        kind: &TerminalEventKind,
        view: &dyn DayView,
    ) {
        match cashier::react(kind, self.phase == Phase::Safety) {
            Some(Reaction::SendPending) => {
                let after_ms = self.cardholders.workload.cashier.send_pending_after_ms;
                let when = now + self.scaled(after_ms);
                self.at(when, Due::Command(id, TerminalCommand::SendPending));
            }
            Some(Reaction::SignInAgain) => self.sign_in_again(now, id, view),
            Some(Reaction::SignedIn) => self.signing_in.done(id),
            None => {}
        }
    }

    /// The cashier signs in again, once at a time per terminal.
    fn sign_in_again(&mut self, now: Instant, id: TerminalId, view: &dyn DayView) {
        if !self.signing_in.start(id) {
            return;
        }
        let when = now + self.scaled(SIGN_IN_AGAIN_MS);
        let command = cashier::operator_sign_in(view.terminal(id));
        self.at(when, Due::Command(id, command));
        self.at(when, Due::SignIn(id));
    }

    fn handle(&mut self, now: Instant, due: Due<G>, view: &dyn DayView) {
        match due {
            Due::Open(id) => {
                let sign_in = cashier::operator_sign_in(view.terminal(id));
                self.command(id, sign_in, view);
                self.command(id, TerminalCommand::SignIn, view);
            }
            Due::Arrival { terminal, waits } => self.arrival(now, terminal, waits, view),
            Due::Scripted { index, waits } => self.scripted(now, index, waits, view),
            Due::PreAuthFollowUp { terminal, pick, waits } => {
                self.pre_auth_follow_up(now, terminal, pick, waits, view)
            }
            Due::Command(id, command) => self.command(id, command, view),
            Due::SignIn(id) => {
                self.signing_in.done(id);
                self.command(id, TerminalCommand::SignIn, view);
            }
            Due::Healing => self.start_healing(now),
            Due::HealingRound => self.healing_round(now, view),
            Due::Converged => self.act(DayAction::Converged),
            Due::End => self.act(DayAction::End),
            Due::Glue(item) => self.act(DayAction::Glue(item)),
        }
    }

    /// The cashier keys `command` in; a settlement first remembers what
    /// the batch held, for later refunds and pre-auth follow-ups.
    fn command(&mut self, id: TerminalId, command: TerminalCommand, view: &dyn DayView) {
        if matches!(command, TerminalCommand::Settle) {
            self.cardholders.remember_refundable(view.terminal(id));
        }
        self.act(DayAction::Command { terminal: id, command });
    }

    /// Whether the cardholder at `id` must wait rather than be served.
    fn wait_if_busy(&self, id: TerminalId, view: &dyn DayView) -> bool {
        cashier::is_busy(view.terminal(id))
    }

    fn arrival(&mut self, now: Instant, id: TerminalId, waits: u32, view: &dyn DayView) {
        if self.phase != Phase::Safety {
            return;
        }
        if self.wait_if_busy(id, view) {
            if waits < BUSY_WAITS_MAX {
                let when = now + self.scaled(BUSY_WAIT_MS);
                self.at(when, Due::Arrival { terminal: id, waits: waits + 1 });
            } else {
                self.next_arrival(now, id);
            }
            return;
        }
        let order = self.cardholders.draw(id);
        if let Some(command) = self.cardholders.place(now, view.terminal(id), order) {
            self.command(id, command, view);
        }
        if let Some(after_ms) = self.cardholders.pre_auth_return_ms(&order) {
            let when = now + self.scaled(after_ms);
            if when < self.safety_end {
                let pick = order.refund_pick;
                self.at(when, Due::PreAuthFollowUp { terminal: id, pick, waits: 0 });
            }
        }
        self.next_arrival(now, id);
    }

    #[allow(clippy::float_arithmetic)]
    fn next_arrival(&mut self, now: Instant, id: TerminalId) {
        let rate = self.cardholders.workload.arrivals_per_terminal_per_hour * self.speed;
        if let Some(gap) = self.cardholders.next_gap_ms(id, rate) {
            let when = now + Duration::from_millis(gap);
            if when < self.safety_end {
                self.at(when, Due::Arrival { terminal: id, waits: 0 });
            }
        }
    }

    /// A scripted cardholder: waits while the terminal is busy, like a
    /// drawn one.
    fn scripted(&mut self, now: Instant, index: usize, waits: u32, view: &dyn DayView) {
        if self.phase != Phase::Safety {
            return;
        }
        let (id, order) = self.cardholders.scripted(index);
        if self.wait_if_busy(id, view) {
            if waits < BUSY_WAITS_MAX {
                let when = now + self.scaled(BUSY_WAIT_MS);
                self.at(when, Due::Scripted { index, waits: waits + 1 });
            }
            return;
        }
        if let Some(command) = self.cardholders.place(now, view.terminal(id), order) {
            self.command(id, command, view);
        }
    }

    fn pre_auth_follow_up(
        &mut self,
        now: Instant,
        id: TerminalId,
        pick: u64,
        waits: u32,
        view: &dyn DayView,
    ) {
        if self.phase != Phase::Safety {
            return;
        }
        if self.wait_if_busy(id, view) {
            if waits < BUSY_WAITS_MAX {
                let when = now + self.scaled(BUSY_WAIT_MS);
                self.at(when, Due::PreAuthFollowUp { terminal: id, pick, waits: waits + 1 });
            }
            return;
        }
        if let Some(command) = self.cardholders.follow_up(now, view.terminal(id), pick) {
            self.command(id, command, view);
        }
    }

    /// The safety phase ends: the cardholders stop, the glue's faults stop
    /// (what would have undone them happens now), every terminal is charged,
    /// and the first healing round is due at once.
    fn start_healing(&mut self, now: Instant) {
        self.phase = Phase::Healing;
        let mut stopped = Vec::new();
        let before = self.schedule.len();
        let schedule = std::mem::take(&mut self.schedule);
        for (key, due) in schedule {
            match due {
                Due::Glue(item) if item.stops_at_healing() => stopped.push(item),
                due if due.is_cardholder() => {}
                due => {
                    self.schedule.insert(key, due);
                }
            }
        }
        self.dues_taken += (before - self.schedule.len()) as u64;
        self.act(DayAction::Healing { stopped });
        for id in self.sorted.clone() {
            self.act(DayAction::Command {
                terminal: id,
                command: TerminalCommand::Charge { percent: 100 },
            });
        }
        self.at(now, Due::HealingRound);
    }

    fn healing_round(&mut self, now: Instant, view: &dyn DayView) {
        let round = rounds::healing_round(now, &self.registered, view);
        for (id, command) in round.now {
            self.command(id, command, view);
        }
        for (when, id, command) in round.later {
            self.at(when, Due::Command(id, command));
        }
        self.healing_pending = round.pending;
        if round.converged {
            self.at(now, Due::Converged);
        } else if now + Duration::from_millis(rounds::HEALING_ROUND_MS) < self.healing_end {
            self.at(now + Duration::from_millis(rounds::HEALING_ROUND_MS), Due::HealingRound);
        } else {
            self.at(self.healing_end, Due::End);
        }
    }
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

#[cfg(test)]
mod tests;
