//! Refunds are advices: kept until the host acknowledges them, sent again
//! with the same STAN, never reversed, all sent before the 0500.

use crate::iso8583::trade::{FinancialRequest, TradeKind};
use crate::iso8583::values::{MonthDay, Rrn, Stan};
use crate::iso8583::ResponseCode;
use crate::terminal::journal::EntryStatus;
use crate::terminal::printer::SlipKind;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E, TerminalMutation};

use super::rig::*;

fn refund(amount: u64) -> TerminalCommand {
    TerminalCommand::Refund {
        card: card(),
        amount: fen(amount),
        original_rrn: Rrn::new("010000000009").unwrap(),
        original_date: MonthDay::new(11, 20).unwrap(),
    }
}

/// A refund sent, its answer lost: the terminal's deadline passes.
fn refund_answer_lost(rig: &mut Rig, amount: u64) -> FinancialRequest {
    rig.command(refund(amount));
    let request = rig.next_trade();
    assert_eq!(request.kind(), TradeKind::Refund);
    assert_eq!(rig.mtis().last().unwrap(), "0220");
    rig.time_out();
    request
}

fn slips_for(rig: &Rig, request: &FinancialRequest) -> usize {
    rig.count(|e| {
        matches!(e, E::SlipPrinted { kind: SlipKind::Approval, stan: Some(s), .. } if *s == request.stan)
    })
}

#[test]
fn a_refund_is_stored_before_it_leaves_and_printed_only_when_acknowledged() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(refund(700));
    let request = rig.next_trade();
    assert!(rig.saw(|e| matches!(e, E::AdviceStored { stan } if *stan == request.stan)));
    assert_eq!(rig.terminal.persistent().offline().len(), 1, "in the queue before the answer");
    let entry = rig.terminal.persistent().journal().find(request.stan).unwrap();
    assert_eq!(entry.status, EntryStatus::AdvicePending);
    assert_eq!(rig.terminal.persistent().journal().totals().credit_count, 0, "not counted yet");
    assert_eq!(slips_for(&rig, &request), 0, "no slip before the host took it");
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(
        rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, kind: TradeKind::Refund, .. }))
    );
    assert_eq!(slips_for(&rig, &request), 1);
    assert!(rig.terminal.persistent().offline().is_empty());
    let entry = rig.terminal.persistent().journal().find(request.stan).unwrap();
    assert_eq!(entry.status, EntryStatus::Approved);
    assert!(entry.rrn.is_some());
    assert_eq!(rig.terminal.persistent().journal().totals().credit_amount, 700);
    assert!(!rig.terminal.is_busy());
}

#[test]
fn a_refund_whose_answer_is_lost_goes_again_with_its_stan_and_94_is_taken() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let request = refund_answer_lost(&mut rig, 700);
    assert!(rig.saw(|e| matches!(e, E::TradeTimedOut { stan } if *stan == request.stan)));
    assert!(rig.saw(|e| matches!(e, E::AdviceDeferred { code: None, .. })));
    assert!(!rig.saw(|e| matches!(e, E::TradeFailed { .. })), "not failed: pending");
    assert!(!rig.terminal.is_busy(), "the cashier is free; the advice waits");
    assert_eq!(rig.terminal.persistent().offline().len(), 1);
    rig.command(TerminalCommand::SendPending);
    let again = rig.next_trade();
    assert_eq!(again, request, "the same advice, same STAN");
    let answer = rig.host.answer_trade(&again, ResponseCode::DUPLICATE);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, code, .. } if *code == ResponseCode::DUPLICATE)));
    assert!(rig.terminal.persistent().offline().is_empty());
    assert_eq!(slips_for(&rig, &request), 1);
    assert_eq!(rig.terminal.persistent().journal().totals().credit_amount, 700);
    assert!(!rig.mtis().contains(&"0400".to_string()), "never reversed");
    assert!(!rig.saw(|e| matches!(e, E::ReversalStored { .. })));
}

#[test]
fn a_refund_survives_a_power_cut_while_its_answer_is_awaited() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(refund(700));
    let request = rig.next_trade();
    rig.power_cut_and_reboot();
    let store = rig.terminal.persistent();
    assert_eq!(store.offline().front(), Some(&request), "the advice survived");
    assert_eq!(store.journal().find(request.stan).unwrap().status, EntryStatus::AdvicePending);
    rig.command(sale(100));
    let first = rig.next_trade();
    assert_eq!(first, request, "the refund goes again before the sale");
    let answer = rig.host.answer_trade(&first, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert_eq!(rig.next_trade().kind(), TradeKind::Sale);
    assert!(rig.terminal.persistent().offline().is_empty());
}

#[test]
fn a_pending_refund_is_acknowledged_before_the_0500() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let request = refund_answer_lost(&mut rig, 700);
    rig.command(TerminalCommand::Settle);
    let again = rig.next_trade();
    assert_eq!(again.stan, request.stan);
    // No verdict again (the host is busy): the 0500 waits.
    let busy = rig.host.answer_trade(&again, ResponseCode::SYSTEM_MALFUNCTION);
    rig.deliver(&busy);
    assert!(rig.saw(|e| matches!(e, E::AdviceDeferred { code: Some(_), .. })));
    assert!(rig.nothing_sent(), "no 0500 while the refund is unacknowledged");
    assert!(rig.saw(|e| matches!(e, E::SettlementFailed { .. })));
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0220", "0500"]);
    assert!(rig
        .saw(|e| matches!(e, E::SettlementStarted { totals, .. } if totals.credit_amount == 700)));
}

#[test]
fn a_refused_refund_is_final_listed_and_never_sent_again() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let request = refund_answer_lost(&mut rig, 700);
    rig.command(TerminalCommand::SendPending);
    let again = rig.next_trade();
    let refused = rig.host.answer_trade(&again, ResponseCode::ORIGINAL_NOT_FOUND);
    rig.deliver(&refused);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: false, .. })));
    assert!(rig.terminal.persistent().offline().is_empty(), "never sent again");
    let entry = rig.terminal.persistent().journal().find(request.stan).unwrap();
    assert_eq!(entry.status, EntryStatus::AdviceRefused(ResponseCode::ORIGINAL_NOT_FOUND));
    assert_eq!(slips_for(&rig, &request), 0);
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0500"], "nothing before the totals");
    assert!(
        rig.saw(|e| matches!(e, E::SettlementStarted { totals, .. } if totals.credit_count == 0))
    );
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::OfflineFailures, listed, .. } if listed == &vec![request.stan])));
}

#[test]
fn a_refund_refused_on_its_first_answer_ends_the_operation_at_once() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(refund(700));
    let request = rig.next_trade();
    let refused = rig.host.answer_trade(&request, ResponseCode::ORIGINAL_AMOUNT_INCORRECT);
    rig.deliver(&refused);
    assert!(!rig.terminal.is_busy());
    assert!(rig.terminal.persistent().offline().is_empty());
    assert!(
        rig.terminal.persistent().journal().find(request.stan).is_none(),
        "a decline the cashier saw, as for a sale: nothing to list"
    );
    rig.command(sale(100));
    assert_eq!(rig.next_trade().kind(), TradeKind::Sale, "nothing re-sent first");
}

#[test]
fn a_full_advice_queue_refuses_the_refund_before_anything_is_sent() {
    let config = TerminalConfig { offline_queue_max: 1, ..TerminalConfig::default() };
    let mut rig = Rig::signed_in(config);
    refund_answer_lost(&mut rig, 700);
    rig.command(refund(300));
    assert!(rig.nothing_sent());
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::AdviceQueueFull })));
}

#[test]
fn the_mutation_drops_an_unanswered_refund_as_failed() {
    let config = TerminalConfig {
        mutation: TerminalMutation::RefundAdviceDroppedWhenUnanswered,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config);
    let request = refund_answer_lost(&mut rig, 700);
    assert!(rig.saw(|e| matches!(e, E::TradeFailed { stan, .. } if *stan == request.stan)));
    assert!(rig.terminal.persistent().offline().is_empty());
    assert!(rig.terminal.persistent().journal().find(request.stan).is_none());
    rig.command(TerminalCommand::SendPending);
    assert!(rig.nothing_sent(), "never sent again");
}

/// Regression (found by faults/protocol.yaml --swarm, seed 113): a refund
/// whose answer was lost went first in the settlement, was acknowledged
/// with the printer out of paper, and the 0500 then cleared the journal:
/// the refund's slip could never be printed. The 0500 now waits for the
/// printer, as "settle" does.
#[test]
fn a_refund_acknowledged_inside_a_settlement_keeps_its_slip_owed_until_printed() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let request = refund_answer_lost(&mut rig, 700);
    rig.command(TerminalCommand::SetPrinter(crate::terminal::printer::PrinterHardware::OutOfPaper));
    rig.command(TerminalCommand::Settle);
    let resent = rig.next_trade();
    assert_eq!(resent.stan, request.stan, "the advice goes first");
    let answer = rig.host.answer_trade(&resent, ResponseCode::DUPLICATE);
    rig.deliver(&answer);
    assert!(rig.nothing_sent(), "no 0500 while the refund's slip is owed");
    assert!(rig.terminal.persistent().journal().find(request.stan).is_some(), "journal kept");
    rig.command(TerminalCommand::SetPrinter(crate::terminal::printer::PrinterHardware::Ok));
    rig.command(TerminalCommand::Settle);
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Reprint, stan: Some(s), .. } if *s == request.stan)));
    assert_eq!(mti(&rig.next_frame()), "0500");
}

/// Regression (found by faults/device.yaml --swarm, seed 742, and
/// faults/hosts.yaml --swarm, seed 823): a refund refused on a later send
/// is listed on the offline-failures slip after the 0510; with the printer
/// out of paper then, the journal was cleared and the listing lost for
/// good. The listing is now kept until it prints: at "reprint last", or
/// before the next 0500 leaves.
#[test]
fn a_failures_listing_that_did_not_print_is_kept_until_it_does() {
    use crate::terminal::printer::PrinterHardware;
    let listed_readable = |rig: &Rig, stan: Stan| {
        rig.count(|e| matches!(e, E::SlipPrinted { kind: SlipKind::OfflineFailures, listed, .. } if listed == &vec![stan]))
    };
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let request = refund_answer_lost(&mut rig, 700);
    rig.command(TerminalCommand::SendPending);
    let again = rig.next_trade();
    let refused = rig.host.answer_trade(&again, ResponseCode::ORIGINAL_NOT_FOUND);
    rig.deliver(&refused);
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::OutOfPaper));
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0500"]);
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
    assert!(rig.terminal.persistent().journal().find(request.stan).is_none(), "journal cleared");
    assert!(rig.saw(|e| matches!(e, E::SlipFailed { kind: SlipKind::OfflineFailures, .. })));
    assert_eq!(listed_readable(&rig, request.stan), 0);

    rig.command(TerminalCommand::Settle);
    assert!(rig.nothing_sent(), "no 0500 while the last listing is unprinted");
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::SlipsOwed { owed } } if owed.contains(&OwedSlip::OfflineFailures))));

    rig.command(TerminalCommand::SetPrinter(PrinterHardware::Ok));
    rig.command(TerminalCommand::ReprintLast);
    assert_eq!(listed_readable(&rig, request.stan), 1, "reprinted once the printer works");
    rig.command(TerminalCommand::ReprintLast);
    assert_eq!(listed_readable(&rig, request.stan), 1, "and then never again");
}
