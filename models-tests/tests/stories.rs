//! End-to-end stories: a terminal, the switch, the network and an issuer
//! wired by the in-memory harness, told frame by frame. Each story asserts on
//! the frames that crossed the wire and the events the actors reported, and
//! on where the cardholder's money ended up.

use std::time::Duration;

use possim_models::actor::{Actor, Node};
use possim_models::harness::build::{account, card_pan, chip_card, open_the_day, Configs, PIN};
use possim_models::harness::{Fate, FaultAction, FaultRule, FrameMatch, Harness, Record};
use possim_models::iso8583::trade::CardRead;
use possim_models::iso8583::values::{AmountFen, Pan, TerminalId};
use possim_models::iso8583::{Mti, ResponseCode};
use possim_models::issuer::IssuerEventKind;
use possim_models::network::NetworkCommand;
use possim_models::terminal::config::{ReversalExhausted, ReversalPersist};
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::TerminalCommand;

const OPENING_FEN: i64 = 1_000_000;
const SALE_FEN: u64 = 12_345;

fn world(tweak: impl FnOnce(&mut Configs)) -> (Harness, TerminalId, Pan) {
    let pan = card_pan(1);
    let mut configs = Configs::standard(1, vec![account(pan, OPENING_FEN)]);
    tweak(&mut configs);
    let terminal = configs.terminals[0].terminal_id;
    (configs.build(), terminal, pan)
}

fn card(pan: Pan) -> CardRead {
    chip_card(pan)
}

fn sell(h: &mut Harness, t: &TerminalId, pan: Pan, fen: u64) {
    let amount = AmountFen::new(fen).unwrap();
    h.command(t, TerminalCommand::Sale { card: card(pan), amount, pin: Some(PIN.into()) });
}

fn balance(h: &Harness, pan: &Pan) -> i64 {
    h.issuers[0].card(pan).expect("a card of the issuer").balance_fen
}

fn terminal_events(h: &Harness) -> Vec<TerminalEventKind> {
    h.records
        .iter()
        .filter_map(|record| match record {
            Record::Terminal(event) => Some(event.kind.clone()),
            _ => None,
        })
        .collect()
}

fn issuer_events(h: &Harness) -> Vec<IssuerEventKind> {
    h.records
        .iter()
        .filter_map(|record| match record {
            Record::Issuer(_, event) => Some(event.kind.clone()),
            _ => None,
        })
        .collect()
}

fn approval_slips(h: &Harness) -> usize {
    terminal_events(h)
        .iter()
        .filter(|kind| {
            matches!(
                kind,
                TerminalEventKind::SlipPrinted {
                    kind: possim_models::terminal::printer::SlipKind::Approval,
                    ..
                }
            )
        })
        .count()
}

fn frames_of(h: &Harness, from: Node, mti: Mti) -> Vec<Fate> {
    h.frames().filter(|f| f.0 == from && f.2 == Some(mti)).map(|f| f.4).collect()
}

fn answer_to_terminal(t: &TerminalId) -> FrameMatch {
    FrameMatch::to(Node::Terminal(*t)).mti(Mti::FINANCIAL_RESPONSE)
}

#[test]
fn sign_in_sell_settle_balanced_and_the_batch_moves_on() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    let batch = h.terminal(&t).persistent().batch();
    sell(&mut h, &t, pan, SALE_FEN);
    h.settle(Duration::from_secs(5));
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64);
    assert_eq!(approval_slips(&h), 1);
    // The sale crossed every hop: terminal -> switch -> network -> issuer and back.
    for node in [Node::Terminal(t), Node::Switch, Node::Network] {
        assert_eq!(frames_of(&h, node, Mti::FINANCIAL), [Fate::Delivered], "0200 from {node}");
    }
    assert_eq!(frames_of(&h, Node::Issuer(0), Mti::FINANCIAL_RESPONSE), [Fate::Delivered]);
    h.command(&t, TerminalCommand::Settle);
    h.settle(Duration::from_secs(5));
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::SettlementBalanced { .. })));
    assert_eq!(h.terminal(&t).persistent().batch(), batch.next());
    assert!(h.terminal(&t).persistent().journal().is_empty());
}

/// The field complaint: no slip printed, but the cardholder got a debit text.
/// The answer was lost on its way back; the reversal returns the money.
#[test]
fn answer_lost_on_the_way_back_no_slip_but_debited_until_the_reversal_returns_the_money() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.add_fault(FaultRule::once(answer_to_terminal(&t), FaultAction::Drop));
    sell(&mut h, &t, pan, SALE_FEN);
    h.run_for(Duration::from_secs(5));
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64, "the issuer debited");
    assert_eq!(approval_slips(&h), 0, "no slip");
    assert_eq!(frames_of(&h, Node::Switch, Mti::FINANCIAL_RESPONSE), [Fate::Dropped]);

    h.run_for(Duration::from_secs(60));
    let events = terminal_events(&h);
    assert!(events.iter().any(|k| matches!(k, TerminalEventKind::TradeTimedOut { .. })));
    assert!(events.iter().any(|k| matches!(k, TerminalEventKind::ReversalArmed { .. })));

    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(30));
    assert_eq!(frames_of(&h, Node::Terminal(t), Mti::REVERSAL), [Fate::Delivered]);
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::ReversalAcknowledged { .. })));
    assert!(issuer_events(&h).iter().any(|k| matches!(k, IssuerEventKind::Reversed { .. })));
    assert_eq!(balance(&h, &pan), OPENING_FEN, "the reversal returned the money");
    assert_eq!(approval_slips(&h), 0);
}

/// The same loss under the unsafe policy that deletes a reversal whose tries
/// ran out: the money is never returned.
#[test]
fn with_reversals_deleted_after_their_tries_the_money_is_not_returned() {
    let (mut h, t, pan) = world(|c| c.terminals[0].reversal_exhausted = ReversalExhausted::Delete);
    open_the_day(&mut h, &t);
    h.add_fault(FaultRule::once(answer_to_terminal(&t), FaultAction::Drop));
    h.add_fault(FaultRule::always(
        FrameMatch::from(Node::Terminal(t)).mti(Mti::REVERSAL),
        FaultAction::Drop,
    ));
    sell(&mut h, &t, pan, SALE_FEN);
    h.run_for(Duration::from_secs(65));
    for _ in 0..4 {
        h.command(&t, TerminalCommand::SendPending);
        h.run_for(Duration::from_secs(65));
    }
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::ReversalAbandoned { .. })));
    h.faults.clear();
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(30));
    assert_eq!(
        balance(&h, &pan),
        OPENING_FEN - SALE_FEN as i64,
        "debited, no slip, never returned"
    );
    assert_eq!(approval_slips(&h), 0);
}

/// The safe policy keeps the reversal and sends it once the line heals.
#[test]
fn with_reversals_kept_the_money_comes_back_once_the_line_heals() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.add_fault(FaultRule::once(answer_to_terminal(&t), FaultAction::Drop));
    h.add_fault(FaultRule::always(
        FrameMatch::from(Node::Terminal(t)).mti(Mti::REVERSAL),
        FaultAction::Drop,
    ));
    sell(&mut h, &t, pan, SALE_FEN);
    h.run_for(Duration::from_secs(65));
    for _ in 0..4 {
        h.command(&t, TerminalCommand::SendPending);
        h.run_for(Duration::from_secs(65));
    }
    // While the reversal is stuck, a new sale is refused rather than risk a second debit.
    sell(&mut h, &t, pan, SALE_FEN);
    h.run_for(Duration::from_secs(65));
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64);
    h.faults.clear();
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(30));
    assert_eq!(balance(&h, &pan), OPENING_FEN);
}

#[test]
fn a_silent_issuer_gets_98_from_the_network_which_reverses_toward_it() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.add_fault(FaultRule::once(
        FrameMatch::from(Node::Issuer(0)).mti(Mti::FINANCIAL_RESPONSE),
        FaultAction::Drop,
    ));
    sell(&mut h, &t, pan, SALE_FEN);
    h.settle(Duration::from_secs(90));
    let answered: Vec<ResponseCode> = terminal_events(&h)
        .iter()
        .filter_map(|k| match k {
            TerminalEventKind::TradeAnswered { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(answered, [ResponseCode::ISSUER_TIMEOUT], "a valid 98 decline, not silence");
    assert!(
        frames_of(&h, Node::Terminal(t), Mti::REVERSAL).is_empty(),
        "the terminal has nothing to reverse"
    );
    assert_eq!(frames_of(&h, Node::Network, Mti::REVERSAL).len(), 1, "the network reverses itself");
    assert_eq!(balance(&h, &pan), OPENING_FEN);
    assert_eq!(approval_slips(&h), 0);
}

#[test]
fn an_approval_with_a_corrupted_mac_is_reversed_a0_and_the_money_returned() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.add_fault(FaultRule::once(answer_to_terminal(&t), FaultAction::Corrupt { byte_from_end: 1 }));
    sell(&mut h, &t, pan, SALE_FEN);
    h.settle(Duration::from_secs(5));
    assert!(terminal_events(&h).iter().any(|k| matches!(
        k,
        TerminalEventKind::ReversalArmed {
            reason: possim_models::terminal::reversal::ReversalReason::BadMac,
            ..
        }
    )));
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(30));
    assert_eq!(balance(&h, &pan), OPENING_FEN);
    assert_eq!(approval_slips(&h), 0);
}

/// Regression: the switch used to answer a line duplicate 94 while the
/// original was still upstream. The 94 reached the terminal first and read as
/// the answer to its sale — a decline, reversal deleted — and the real
/// approval that followed was dropped as stale: debited, no slip, no reversal.
#[test]
fn a_copy_of_a_request_still_upstream_is_dropped_and_the_card_is_debited_once_with_a_slip() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.add_fault(FaultRule::once(
        FrameMatch::from(Node::Terminal(t)).mti(Mti::FINANCIAL),
        FaultAction::Duplicate,
    ));
    sell(&mut h, &t, pan, SALE_FEN);
    h.settle(Duration::from_secs(5));
    assert_eq!(frames_of(&h, Node::Terminal(t), Mti::FINANCIAL), [Fate::Duplicated]);
    assert!(h.records.iter().any(|r| matches!(
        r,
        Record::Switch(e) if matches!(e.kind, possim_models::switch::SwitchEventKind::DuplicateInFlight { .. })
    )));
    assert_eq!(
        frames_of(&h, Node::Switch, Mti::FINANCIAL_RESPONSE).len(),
        1,
        "one answer, the original's"
    );
    assert_eq!(frames_of(&h, Node::Switch, Mti::FINANCIAL).len(), 1, "only one copy goes upstream");
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64);
    assert_eq!(approval_slips(&h), 1);
}

fn power_cut_after_the_request_left(persist: ReversalPersist) -> (Harness, TerminalId, Pan) {
    let (mut h, t, pan) = world(|c| c.terminals[0].reversal_persist = persist);
    open_the_day(&mut h, &t);
    sell(&mut h, &t, pan, SALE_FEN);
    assert_eq!(h.in_flight(), 1, "the request left");
    h.power_off(&t);
    h.settle(Duration::from_secs(5));
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64);
    assert!(
        h.frames().any(|f| f.1 == Node::Terminal(t) && f.4 == Fate::Lost),
        "the answer found the terminal dark"
    );
    h.power_on(&t);
    h.command(
        &t,
        TerminalCommand::OperatorSignIn { operator: "01".into(), password: "0000".into() },
    );
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(30));
    (h, t, pan)
}

#[test]
fn power_cut_after_the_request_left_is_reversed_on_reboot() {
    let (h, _, pan) = power_cut_after_the_request_left(ReversalPersist::BeforeSend);
    assert_eq!(balance(&h, &pan), OPENING_FEN);
}

#[test]
fn power_cut_after_the_request_left_loses_the_money_when_reversals_are_stored_after_send() {
    let (h, t, pan) = power_cut_after_the_request_left(ReversalPersist::AfterSend);
    assert!(frames_of(&h, Node::Terminal(t), Mti::REVERSAL).is_empty());
    assert_eq!(
        balance(&h, &pan),
        OPENING_FEN - SALE_FEN as i64,
        "debited with no slip and no reversal"
    );
}

#[test]
fn an_offline_sale_is_uploaded_before_the_settlement_and_debited() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.command(
        &t,
        TerminalCommand::OfflineSale { card: card(pan), amount: AmountFen::new(500).unwrap() },
    );
    assert_eq!(h.in_flight(), 0, "offline: nothing sent");
    h.command(&t, TerminalCommand::Settle);
    h.settle(Duration::from_secs(10));
    let order: Vec<Mti> =
        h.frames().filter(|f| f.0 == Node::Terminal(t)).filter_map(|f| f.2).collect();
    let upload = order.iter().position(|m| *m == Mti::ADVICE).expect("an 0220 upload");
    let settle = order.iter().position(|m| *m == Mti::SETTLEMENT).expect("an 0500");
    assert!(upload < settle, "{order:?}");
    assert_eq!(balance(&h, &pan), OPENING_FEN - 500);
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::SettlementBalanced { .. })));
}

#[test]
fn during_the_date_cutoff_sales_get_90_and_go_through_after_it() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    let now = h.now;
    h.network.handle_command(now, NetworkCommand::CutoffStart);
    sell(&mut h, &t, pan, SALE_FEN);
    h.settle(Duration::from_secs(5));
    assert_eq!(balance(&h, &pan), OPENING_FEN);
    let now = h.now;
    h.network.handle_command(now, NetworkCommand::CutoffEnd);
    sell(&mut h, &t, pan, SALE_FEN);
    h.settle(Duration::from_secs(5));
    let codes: Vec<ResponseCode> = terminal_events(&h)
        .iter()
        .filter_map(|k| match k {
            TerminalEventKind::TradeAnswered { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [ResponseCode::CUTOFF_IN_PROGRESS, ResponseCode::APPROVED]);
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64);
}

#[test]
fn a_switch_crash_mid_trade_ends_with_the_money_returned() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    sell(&mut h, &t, pan, SALE_FEN);
    h.run_for(Duration::from_millis(120)); // the switch has forwarded it upstream
    h.crash_switch();
    h.run_for(Duration::from_secs(65)); // the approval dies at the dark switch; the terminal times out
    assert_eq!(balance(&h, &pan), OPENING_FEN - SALE_FEN as i64);
    h.restart_switch();
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(60));
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::ReversalAcknowledged { .. })));
    assert_eq!(balance(&h, &pan), OPENING_FEN);
    assert_eq!(approval_slips(&h), 0);
}

/// Regression (found by the state-machine property test): an offline upload
/// whose answer the issuer sent but the network never got was answered 98,
/// and the terminal marked the trade failed — uncounted at settlement while
/// the issuer held the money.
#[test]
fn an_upload_answered_98_stays_queued_and_the_second_upload_counts_it() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.command(
        &t,
        TerminalCommand::OfflineSale { card: card(pan), amount: AmountFen::new(700).unwrap() },
    );
    h.add_fault(FaultRule::once(
        FrameMatch::from(Node::Issuer(0)).mti(Mti::ADVICE_RESPONSE),
        FaultAction::Drop,
    ));
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(90));
    assert!(terminal_events(&h).iter().any(|k| matches!(
        k,
        TerminalEventKind::OfflineUploadDeferred { code: Some(code), .. } if *code == ResponseCode::ISSUER_TIMEOUT
    )));
    h.command(&t, TerminalCommand::Settle);
    h.settle(Duration::from_secs(30));
    let events = terminal_events(&h);
    assert!(events.iter().any(|k| matches!(k, TerminalEventKind::OfflineUploaded { code, .. } if *code == ResponseCode::DUPLICATE)));
    assert!(!events.iter().any(|k| matches!(k, TerminalEventKind::OfflineUploadFailed { .. })));
    assert!(events.iter().any(|k| matches!(k, TerminalEventKind::SettlementBalanced { .. })));
    assert_eq!(balance(&h, &pan), OPENING_FEN - 700);
}

/// Regression (found by the backbone scenario): an offline upload whose first
/// copy died in a partition between network and issuer was answered 98; the
/// next copy was approved, but the network kept the first copy's unknown
/// fate, left the trade off its clearing list, and clearing handed the money
/// back while terminal and switch had settled it as paid.
#[test]
fn an_upload_lost_in_a_partition_is_kept_at_clearing() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.command(
        &t,
        TerminalCommand::OfflineSale { card: card(pan), amount: AmountFen::new(900).unwrap() },
    );
    h.add_fault(FaultRule::once(
        FrameMatch::from(Node::Network).mti(Mti::ADVICE),
        FaultAction::Drop,
    ));
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(90));
    h.command(&t, TerminalCommand::Settle);
    h.settle(Duration::from_secs(90));
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::SettlementBalanced { .. })));
    assert_eq!(balance(&h, &pan), OPENING_FEN - 900);
    h.command_network(NetworkCommand::Clear);
    let complete = h
        .records
        .iter()
        .find_map(|r| match r {
            Record::Network(e) => match &e.kind {
                possim_models::network::NetworkEventKind::ClearingList { keys, .. } => {
                    Some(keys.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .expect("a clearing list");
    assert_eq!(complete.len(), 1, "the upload is on the list");
    h.command_issuer(0, possim_models::issuer::IssuerCommand::Reconcile { complete });
    assert_eq!(
        balance(&h, &pan),
        OPENING_FEN - 900,
        "clearing kept the money the terminal settled"
    );
}

/// Regression (found by the hosts scenario): an offline upload answered 90
/// in the date cutoff stayed queued at the terminal, but the switch recorded
/// it as declined and answered the next copy 94 itself — counted as
/// uploaded, never sent to the issuer, never paid.
#[test]
fn an_upload_answered_90_in_the_cutoff_is_forwarded_again_and_paid() {
    let (mut h, t, pan) = world(|_| {});
    open_the_day(&mut h, &t);
    h.command(
        &t,
        TerminalCommand::OfflineSale { card: card(pan), amount: AmountFen::new(800).unwrap() },
    );
    h.command_network(NetworkCommand::CutoffStart);
    h.command(&t, TerminalCommand::SendPending);
    h.settle(Duration::from_secs(10));
    assert!(terminal_events(&h).iter().any(|k| matches!(
        k,
        TerminalEventKind::OfflineUploadDeferred { code: Some(code), .. } if *code == ResponseCode::CUTOFF_IN_PROGRESS
    )));
    h.command_network(NetworkCommand::CutoffEnd);
    h.command(&t, TerminalCommand::Settle);
    h.settle(Duration::from_secs(30));
    assert_eq!(
        frames_of(&h, Node::Network, Mti::ADVICE).len(),
        1,
        "the second copy reached the issuer"
    );
    assert_eq!(balance(&h, &pan), OPENING_FEN - 800, "the issuer was paid");
    assert!(terminal_events(&h)
        .iter()
        .any(|k| matches!(k, TerminalEventKind::SettlementBalanced { .. })));
}
