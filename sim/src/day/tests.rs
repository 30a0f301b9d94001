//! The day driver driving real terminals on the models' in-memory harness
//! (no turmoil): the glue here is a few lines, as it is meant to be.

use possim_models::harness::build::{account, card_pan, terminal_id, Configs};
use possim_models::harness::{Harness, Record};
use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::{Terminal, TerminalCommand};
use possim_models::time::Instant;

use super::cashier::{BUSY_WAITS_MAX, BUSY_WAIT_MS, SIGN_IN_AGAIN_MS};
use super::{DayAction, DayDriver, DayView, GlueItem};
use crate::rng::Streams;
use crate::scenario::parse_and_compile;

/// The harness has no glue items of its own.
#[derive(Debug, Clone, PartialEq)]
enum NoGlue {}

impl GlueItem for NoGlue {
    fn stops_at_healing(&self) -> bool {
        match *self {}
    }
}

impl DayView for Harness {
    fn terminal(&self, id: TerminalId) -> &Terminal {
        &self.terminals[&id]
    }
    fn trade_queued(&self, _: TerminalId) -> bool {
        false
    }
    fn hosts_pending(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Steps on the way to a story's end: a bound, not a tuning knob.
const LOOPS_MAX: usize = 100_000;

/// A one-terminal scenario; `extra` is more YAML (a workload, a run).
fn one_terminal(extra: &str) -> crate::scenario::CompiledScenario {
    let text = format!(
        "name: day\nmerchants: [{{id: '898100000000001'}}]\n\
         issuers: [{{index: 0, bins: ['622202']}}]\n\
         terminals: [{{id: T0000000, merchant: '898100000000001', tmk: 0123456789ABCDEF}}]\n\
         cards: [{{pan: '{}', balance_fen: 1000000}}]\n{extra}",
        card_pan(1)
    );
    parse_and_compile(&text, "day.yaml").expect("a valid scenario")
}

/// A one-terminal day on the harness.
fn day(extra: &str) -> (Harness, DayDriver<NoGlue>) {
    let scenario = one_terminal(extra);
    let harness = Configs::standard(1, vec![account(card_pan(1), 1_000_000)]).build();
    let driver = DayDriver::new(&scenario, &Streams::new(7), Instant::ZERO);
    (harness, driver)
}

/// Hands the driver what the terminals reported since `cursor`. The
/// harness keeps its terminals' events as records: the story's glue hands
/// each one over once, as it is recorded.
fn hand_over(h: &Harness, driver: &mut DayDriver<NoGlue>, cursor: &mut usize) {
    for record in &h.records[*cursor..] {
        if let Record::Terminal(event) = record {
            driver.on_terminal_event(h.now, event.terminal, &event.kind, h);
        }
    }
    *cursor = h.records.len();
}

/// Runs the day until `end` or its end: the harness's deadlines and the
/// driver's, in time order. Returns every action with its instant.
fn run(
    h: &mut Harness,
    driver: &mut DayDriver<NoGlue>,
    end: Instant,
) -> Vec<(Instant, DayAction<NoGlue>)> {
    let mut actions = Vec::new();
    let mut cursor = h.records.len();
    for _ in 0..LOOPS_MAX {
        let limit = driver.poll_timeout().map_or(end, |due| due.min(end));
        if h.step(limit) {
            hand_over(h, driver, &mut cursor);
            continue;
        }
        h.now = h.now.max(limit);
        while let Some(action) = driver.poll_action(h.now, &*h) {
            if let DayAction::Command { terminal, command } = &action {
                h.command(terminal, command.clone());
                hand_over(h, driver, &mut cursor);
            }
            let done = action == DayAction::End;
            actions.push((h.now, action));
            if done {
                return actions;
            }
        }
        if h.now >= end {
            return actions;
        }
    }
    panic!("the day did not end within {LOOPS_MAX} loops");
}

fn keyed(actions: &[(Instant, DayAction<NoGlue>)], what: fn(&TerminalCommand) -> bool) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|(at, action)| match action {
            DayAction::Command { command, .. } if what(command) => Some(at.as_millis()),
            _ => None,
        })
        .collect()
}

fn is_sale(command: &TerminalCommand) -> bool {
    matches!(command, TerminalCommand::Sale { .. })
}

const QUIET: &str = "workload: {arrivals_per_terminal_per_hour: 0, \
    script: [{at_ms: 20000, terminal: T0000000, trade: sale, card: '6222020000000000001', amount_fen: 100}]}\n";

#[test]
fn a_cardholder_waits_while_the_terminal_is_busy_and_is_served_once_idle() {
    let (mut h, mut driver) = day(QUIET);
    let id = terminal_id(0);
    driver.plan_opening(Instant::from_millis(1_000), id);
    driver.plan_script();
    h.power_off(&id);
    // Off for one look and on (signed in again) before the next: the
    // cardholder, having waited twice, is served on the third look.
    let back_on = Instant::from_millis(20_000 + BUSY_WAIT_MS + 1);
    let _ = run(&mut h, &mut driver, back_on);
    h.power_on(&id);
    let sign_in = super::cashier::operator_sign_in(&h.terminals[&id]);
    h.command(&id, sign_in);
    h.command(&id, TerminalCommand::SignIn);
    let actions = run(&mut h, &mut driver, Instant::from_millis(60_000));
    assert_eq!(keyed(&actions, is_sale), vec![20_000 + 2 * BUSY_WAIT_MS]);
}

#[test]
fn a_cardholder_leaves_after_the_busy_wait_bound() {
    let (mut h, mut driver) = day(QUIET);
    let id = terminal_id(0);
    driver.plan_script();
    h.power_off(&id);
    let horizon = 20_000 + (u64::from(BUSY_WAITS_MAX) + 2) * BUSY_WAIT_MS;
    let actions = run(&mut h, &mut driver, Instant::from_millis(horizon));
    assert!(keyed(&actions, is_sale).is_empty(), "never served while off");
    // The last look was the bound's: nothing is left on the clock.
    assert_eq!(driver.poll_timeout(), None);
}

#[test]
fn the_cashier_signs_in_again_after_a_not_signed_in_refusal() {
    let (mut h, mut driver) = day(QUIET);
    let id = terminal_id(0);
    // No opening: the scripted sale is refused, not signed in.
    driver.plan_script();
    let actions = run(&mut h, &mut driver, Instant::from_millis(60_000));
    let sign_ins = keyed(&actions, |c| matches!(c, TerminalCommand::SignIn));
    assert_eq!(sign_ins, vec![20_000 + SIGN_IN_AGAIN_MS]);
    assert!(h.terminals[&id].persistent().signed_in(), "signed in again");
}

#[test]
fn healing_rounds_converge_with_the_batch_settled() {
    let (mut h, mut driver) =
        day(&format!("run: {{safety_ms: 60000, healing_max_ms: 600000}}\n{QUIET}"));
    let id = terminal_id(0);
    driver.plan_opening(Instant::from_millis(1_000), id);
    driver.plan_script();
    driver.plan_healing();
    let actions = run(&mut h, &mut driver, Instant::from_millis(600_000));
    assert_eq!(keyed(&actions, is_sale), vec![20_000]);
    let converged = actions.iter().find(|(_, a)| *a == DayAction::Converged).map(|(at, _)| *at);
    let settled = keyed(&actions, |c| matches!(c, TerminalCommand::Settle));
    assert_eq!(settled.len(), 1, "one settlement: {settled:?}");
    assert!(converged.is_some_and(|at| at.as_millis() > settled[0]), "converged after settling");
    assert!(h.terminals[&id].persistent().journal().is_empty(), "the batch settled");
}

#[test]
fn a_paced_day_keys_the_script_in_sooner_by_its_speed() {
    let scenario = one_terminal(QUIET);
    let mut h = Configs::standard(1, vec![account(card_pan(1), 1_000_000)]).build();
    let pace = super::DayPace { safety_ms: 60_000, healing_max_ms: 60_000, speed: 4.0 };
    let mut driver: DayDriver<NoGlue> =
        DayDriver::paced(&scenario, &Streams::new(7), Instant::ZERO, pace);
    driver.plan_opening(Instant::from_millis(1_000), terminal_id(0));
    driver.plan_script();
    let actions = run(&mut h, &mut driver, Instant::from_millis(60_000));
    assert_eq!(keyed(&actions, is_sale), vec![20_000 / 4]);
}

#[test]
fn closing_rounds_take_each_terminal_one_step_on_until_settled() {
    let (mut h, mut driver) = day(QUIET);
    let id = terminal_id(0);
    driver.plan_opening(Instant::from_millis(1_000), id);
    driver.plan_script();
    let _ = run(&mut h, &mut driver, Instant::from_millis(60_000));
    assert!(!h.terminals[&id].persistent().journal().is_empty(), "the sale is in the batch");
    h.power_off(&id);
    let not_signing_in = |_: TerminalId| false;
    let mut steps = Vec::new();
    for _ in 0..8 {
        let round = super::rounds::closing_round(&[id], &h, &not_signing_in);
        if round.converged {
            break;
        }
        assert_eq!(round.pending.len(), 1, "{:?}", round.pending);
        // One step of the terminal's own per round: after the operator's sign-in.
        let own: Vec<&TerminalCommand> = round
            .now
            .iter()
            .map(|(_, command)| command)
            .filter(|c| !matches!(c, TerminalCommand::OperatorSignIn { .. }))
            .collect();
        assert_eq!(own.len(), 1, "{:?}", round.now);
        steps.push(format!("{:?}", own[0]).split([' ', '{']).next().unwrap_or("").to_owned());
        for (terminal, command) in round.now {
            h.command(&terminal, command);
        }
        h.settle(std::time::Duration::from_secs(120));
    }
    // Off → power on; then the settlement (a terminal keeps its sign-in
    // through a power cut); then nothing left.
    assert_eq!(steps, vec!["PowerOn", "Settle"], "{steps:?}");
    let round = super::rounds::closing_round(&[id], &h, &not_signing_in);
    assert!(round.converged && round.now.is_empty(), "{round:?}");
    assert!(h.terminals[&id].persistent().journal().is_empty(), "the batch settled");
}
