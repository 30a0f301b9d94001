//! Random command sequences with random frame losses, corruption, duplicates
//! and power cuts, through all four actors; then the faults stop and the
//! world heals. Checked at the model level:
//!
//! - no card is debited twice, and no failed trade is left charged: each
//!   card's net debit at the issuer equals the trades the terminal considers
//!   approved (debits minus voids);
//! - every uncertain trade ends reversed (acknowledged) or approved and
//!   journaled: nothing is left pending once healed;
//! - once the losses stop, settlement balances.
//!
//! Cases: `PROPTEST_CASES` (default 64). Failures persist in
//! `models-tests/proptest-regressions/state_machine.txt`, replayed first on every run.

use std::collections::BTreeMap;
use std::time::Duration;

use possim_models::actor::Node;
use possim_models::harness::build::{account, card_pan, Configs, PIN};
use possim_models::harness::{FaultAction, FaultRule, FrameMatch, Harness, Record};
use possim_models::iso8583::trade::{CardRead, EntryMode, Side, TradeKind};
use possim_models::iso8583::values::{AmountFen, Pan, Stan, TerminalId};
use possim_models::iso8583::Mti;
use possim_models::issuer::{IssuerEventKind, Purse};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::TerminalCommand;
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const CARDS: usize = 3;
const OPENING_FEN: i64 = 10_000_000;

#[derive(Debug, Clone, Copy)]
enum Fault {
    DropAnswerToTerminal,
    DropRequestFromTerminal,
    DropIssuerAnswer,
    CorruptAnswerToTerminal,
    DuplicateRequest,
    DropReversal,
    DropSettlementAnswer,
}

#[derive(Debug, Clone)]
enum Step {
    Sale { card: usize, fen: u64 },
    OfflineSale { card: usize, fen: u64 },
    Inquiry { card: usize },
    VoidLast,
    Settle,
    SendPending,
    SignIn,
    PowerCut { after_ms: u64 },
    Fault(Fault),
    Advance { secs: u64 },
}

struct Reference;

impl ReferenceStateMachine for Reference {
    // The reference only generates steps; the checks are on the world.
    type State = ();
    type Transition = Step;

    fn init_state() -> BoxedStrategy<()> {
        Just(()).boxed()
    }

    fn transitions(_: &()) -> BoxedStrategy<Step> {
        let card = 0..CARDS;
        let fault = prop_oneof![
            Just(Fault::DropAnswerToTerminal),
            Just(Fault::DropRequestFromTerminal),
            Just(Fault::DropIssuerAnswer),
            Just(Fault::CorruptAnswerToTerminal),
            Just(Fault::DuplicateRequest),
            Just(Fault::DropReversal),
            Just(Fault::DropSettlementAnswer),
        ];
        prop_oneof![
            6 => (card.clone(), 1u64..50_000).prop_map(|(card, fen)| Step::Sale { card, fen }),
            2 => (card.clone(), 1u64..20_000).prop_map(|(card, fen)| Step::OfflineSale { card, fen }),
            1 => card.prop_map(|card| Step::Inquiry { card }),
            1 => Just(Step::VoidLast),
            1 => Just(Step::Settle),
            1 => Just(Step::SendPending),
            1 => Just(Step::SignIn),
            2 => (0u64..400).prop_map(|after_ms| Step::PowerCut { after_ms }),
            4 => fault.prop_map(Step::Fault),
            3 => (1u64..90).prop_map(|secs| Step::Advance { secs }),
        ]
        .boxed()
    }

    fn apply(state: (), _: &Step) {
        state
    }
}

struct World {
    h: Harness,
    t: TerminalId,
    pans: Vec<Pan>,
}

fn card(pan: Pan) -> CardRead {
    CardRead { entry_mode: EntryMode::CHIP_PIN, ..CardRead::swiped(pan) }
}

fn operator_sign_in(w: &mut World) {
    let t = w.t;
    w.h.command(
        &t,
        TerminalCommand::OperatorSignIn { operator: "01".into(), password: "0000".into() },
    );
}

impl World {
    fn new() -> World {
        let pans: Vec<Pan> = (0..CARDS).map(card_pan).collect();
        let configs =
            Configs::standard(1, pans.iter().map(|pan| account(*pan, OPENING_FEN)).collect());
        let t = configs.terminals[0].terminal_id;
        let mut world = World { h: configs.build(), t, pans };
        operator_sign_in(&mut world);
        world.h.command(&t, TerminalCommand::SignIn);
        world.h.run_for(Duration::from_secs(2));
        world
    }

    fn fault(&mut self, fault: Fault) {
        let t = Node::Terminal(self.t);
        let rule = match fault {
            Fault::DropAnswerToTerminal => {
                FaultRule::once(FrameMatch::to(t).mti(Mti::FINANCIAL_RESPONSE), FaultAction::Drop)
            }
            Fault::DropRequestFromTerminal => {
                FaultRule::once(FrameMatch::from(t).mti(Mti::FINANCIAL), FaultAction::Drop)
            }
            Fault::DropIssuerAnswer => {
                FaultRule::once(FrameMatch::from(Node::Issuer(0)), FaultAction::Drop)
            }
            Fault::CorruptAnswerToTerminal => FaultRule::once(
                FrameMatch::to(t).mti(Mti::FINANCIAL_RESPONSE),
                FaultAction::Corrupt { byte_from_end: 1 },
            ),
            Fault::DuplicateRequest => FaultRule::once(FrameMatch::from(t), FaultAction::Duplicate),
            Fault::DropReversal => {
                FaultRule::once(FrameMatch::from(t).mti(Mti::REVERSAL), FaultAction::Drop)
            }
            Fault::DropSettlementAnswer => {
                FaultRule::once(FrameMatch::to(t).mti(Mti::SETTLEMENT_RESPONSE), FaultAction::Drop)
            }
        };
        self.h.add_fault(rule);
    }

    fn step(&mut self, step: &Step) {
        let t = self.t;
        match *step {
            Step::Sale { card: index, fen } => {
                let command = TerminalCommand::Sale {
                    card: card(self.pans[index]),
                    amount: AmountFen::new(fen).unwrap(),
                    pin: Some(PIN.into()),
                };
                self.h.command(&t, command);
            }
            Step::OfflineSale { card: index, fen } => {
                let command = TerminalCommand::OfflineSale {
                    card: card(self.pans[index]),
                    amount: AmountFen::new(fen).unwrap(),
                };
                self.h.command(&t, command);
            }
            Step::Inquiry { card: index } => {
                self.h.command(
                    &t,
                    TerminalCommand::BalanceInquiry {
                        card: card(self.pans[index]),
                        pin: Some(PIN.into()),
                    },
                );
            }
            Step::VoidLast => {
                let persistent = self.h.terminal(&t).persistent();
                let batch = persistent.batch();
                let last = persistent
                    .journal()
                    .iter()
                    .filter(|e| e.kind == TradeKind::Sale && !e.voided && e.batch == batch)
                    .last()
                    .map(|e| (e.stan, e.amount));
                if let Some((stan, amount)) = last {
                    let command = TerminalCommand::Void {
                        original_batch: batch,
                        original_stan: stan,
                        amount,
                        pin: Some(PIN.into()),
                    };
                    self.h.command(&t, command);
                }
            }
            Step::Settle => self.h.command(&t, TerminalCommand::Settle),
            Step::SendPending => self.h.command(&t, TerminalCommand::SendPending),
            Step::SignIn => {
                operator_sign_in(self);
                self.h.command(&t, TerminalCommand::SignIn);
            }
            Step::PowerCut { after_ms } => {
                self.h.run_for(Duration::from_millis(after_ms));
                self.h.power_off(&t);
                self.h.run_for(Duration::from_secs(1));
                self.h.power_on(&t);
                operator_sign_in(self);
            }
            Step::Fault(fault) => self.fault(fault),
            Step::Advance { secs } => self.h.run_for(Duration::from_secs(secs)),
        }
        self.h.run_for(Duration::from_secs(1));
    }

    /// Faults stop; the cashier keeps sending what is pending and settles.
    fn heal(&mut self) {
        let t = self.t;
        self.h.faults.clear();
        self.h.run_for(Duration::from_secs(120));
        for _ in 0..6 {
            if !self.h.terminal(&t).is_powered() {
                self.h.power_on(&t);
            }
            operator_sign_in(self);
            if !self.h.terminal(&t).persistent().signed_in() {
                self.h.command(&t, TerminalCommand::SignIn);
                self.h.run_for(Duration::from_secs(5));
            }
            self.h.command(&t, TerminalCommand::SendPending);
            self.h.run_for(Duration::from_secs(70));
            self.h.command(&t, TerminalCommand::Settle);
            self.h.run_for(Duration::from_secs(120));
            let persistent = self.h.terminal(&t).persistent();
            if persistent.reversal().is_none()
                && persistent.offline().is_empty()
                && persistent.settlement().is_none()
                && persistent.journal().is_empty()
            {
                break;
            }
        }
    }
}

/// Each card's net debit at the issuer, from its money movements.
fn issuer_net_debits(h: &Harness) -> BTreeMap<Pan, i64> {
    let mut net = BTreeMap::new();
    for record in &h.records {
        if let Record::Issuer(_, event) = record {
            if let IssuerEventKind::Moved { pan, purse, delta_fen, .. } = &event.kind {
                if matches!(purse, Purse::Account | Purse::Offline) {
                    *net.entry(*pan).or_insert(0) -= delta_fen;
                }
            }
        }
    }
    net
}

/// Each card's net debit by the trades the terminal considers approved.
fn terminal_net_debits(h: &Harness) -> (BTreeMap<Pan, i64>, Vec<String>) {
    let mut started: BTreeMap<Stan, (TradeKind, Option<AmountFen>, Pan)> = BTreeMap::new();
    let mut approved: BTreeMap<Stan, i64> = BTreeMap::new();
    let mut trail = Vec::new();
    for record in &h.records {
        let Record::Terminal(event) = record else { continue };
        match &event.kind {
            TerminalEventKind::TradeStarted { stan, kind, amount, pan } => {
                started.insert(*stan, (*kind, *amount, *pan));
            }
            TerminalEventKind::TradeAnswered { stan, approved: true, .. } => {
                approved.insert(*stan, 0);
            }
            TerminalEventKind::OfflineQueued { stan, .. } => {
                approved.insert(*stan, 0);
            }
            TerminalEventKind::OfflineUploadFailed { stan, .. } => {
                approved.remove(stan);
            }
            _ => {}
        }
        trail.push(format!("{} {:?}", event.at, event.kind));
    }
    let mut net = BTreeMap::new();
    for stan in approved.keys() {
        let (kind, amount, pan) =
            started.get(stan).copied().unwrap_or_else(|| panic!("no start for {stan}"));
        let fen = amount.map_or(0, |a| a.fen() as i64);
        let signed = match kind.side() {
            Side::Debit => fen,
            Side::Credit => -fen,
            Side::None => 0,
        };
        *net.entry(pan).or_insert(0) += signed;
    }
    (net, trail)
}

impl StateMachineTest for World {
    type SystemUnderTest = World;
    type Reference = Reference;

    fn init_test(_: &()) -> World {
        World::new()
    }

    fn apply(mut world: World, _: &(), step: Step) -> World {
        world.step(&step);
        world
    }

    fn teardown(mut world: World) {
        world.heal();
        let t = world.t;
        let persistent = world.h.terminal(&t).persistent();
        assert!(persistent.reversal().is_none(), "a reversal still pending after healing");
        assert!(persistent.offline().is_empty(), "offline trades not uploaded after healing");
        assert!(persistent.settlement().is_none(), "settlement not finished after healing");
        let (terminal, trail) = terminal_net_debits(&world.h);
        let issuer = issuer_net_debits(&world.h);
        for pan in &world.pans {
            let held = issuer.get(pan).copied().unwrap_or(0);
            let owed = terminal.get(pan).copied().unwrap_or(0);
            assert_eq!(
                held,
                owed,
                "card {pan}: issuer holds {held} fen, terminal approved {owed}\n{}",
                trail.join("\n")
            );
        }
        let last_settlement = world.h.records.iter().rev().find_map(|r| match r {
            Record::Terminal(e) => match &e.kind {
                TerminalEventKind::SettlementBalanced { .. } => Some(true),
                TerminalEventKind::SettlementNotBalanced { .. } => Some(false),
                _ => None,
            },
            _ => None,
        });
        assert_ne!(
            last_settlement,
            Some(false),
            "the last settlement did not balance\n{}",
            trail.join("\n")
        );
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/state_machine.txt"),
        ))),
        .. ProptestConfig::default()
    })]
    #[test]
    fn money_is_safe_under_losses_and_power_cuts(sequential 1..40 => World);
}
