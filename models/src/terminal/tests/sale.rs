//! Trades that get a usable answer: approvals, declines, voids, refunds,
//! inquiries, and the local refusals.

use crate::iso8583::cup::CupMessage;
use crate::iso8583::trade::{Trade, TradeKind};
use crate::iso8583::values::{MonthDay, Rrn};
use crate::iso8583::ResponseCode;
use crate::terminal::printer::SlipKind;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;

#[test]
fn an_approved_sale_is_journaled_and_prints_its_slip() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(12_345));
    let request = rig.next_trade();
    assert_eq!(request.trade, Trade::Sale { amount: fen(12_345) });
    assert!(request.pin_block.is_some(), "the PIN travels as a block under the PIK");
    assert!(
        rig.saw(|e| matches!(e, E::ReversalStored { stan } if *stan == request.stan)),
        "stored before send"
    );
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, .. })));
    assert!(rig.saw(|e| matches!(e, E::ReversalCleared { .. })));
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Approval, stan: Some(s), .. } if *s == request.stan)));
    let store = rig.terminal.persistent();
    assert!(store.reversal().is_none());
    assert_eq!(store.journal().totals().debit_amount, 12_345);
    assert!(store.journal().find(request.stan).unwrap().slip_printed);
}

#[test]
fn a_decline_deletes_the_pending_reversal_and_prints_nothing() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(500));
    let request = rig.next_trade();
    assert!(rig.terminal.persistent().reversal().is_some());
    let answer = rig.host.answer_trade(&request, ResponseCode::INSUFFICIENT_FUNDS);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: false, .. })));
    assert!(rig.terminal.persistent().reversal().is_none());
    assert!(!rig.saw(|e| matches!(e, E::SlipPrinted { .. })));
    assert!(rig.terminal.persistent().journal().is_empty());
    rig.command(sale(500));
    assert_eq!(rig.mtis(), ["0800", "0200", "0200"], "no reversal before the next trade");
}

#[test]
fn inquiry_and_refund_never_reverse() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::BalanceInquiry { card: card(), pin: Some("1234".into()) });
    let inquiry = rig.next_trade();
    assert_eq!(inquiry.kind(), TradeKind::BalanceInquiry);
    assert!(!rig.saw(|e| matches!(e, E::ReversalStored { .. })));
    rig.time_out();
    let refund = TerminalCommand::Refund {
        card: card(),
        amount: fen(700),
        original_rrn: Rrn::new("010000000009").unwrap(),
        original_date: MonthDay::new(11, 20).unwrap(),
    };
    rig.command(refund);
    let refund = rig.next_trade();
    assert_eq!(refund.kind(), TradeKind::Refund);
    rig.time_out();
    assert_eq!(rig.count(|e| matches!(e, E::TradeTimedOut { .. })), 2);
    assert!(!rig.saw(|e| matches!(e, E::ReversalStored { .. } | E::ReversalArmed { .. })));
    rig.command(sale(100));
    // The refund is an advice: it goes again, same STAN, before the sale.
    let again = rig.next_trade();
    assert_eq!((again.kind(), again.stan), (TradeKind::Refund, refund.stan));
    assert_eq!(rig.mtis(), ["0800", "0200", "0220", "0220"], "no 0400 ever");
}

#[test]
fn a_void_of_the_current_batch_cancels_the_sale_by_its_stan() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let original = rig.approved_sale(800);
    let batch = rig.terminal.persistent().batch();
    rig.command(TerminalCommand::Void {
        original_batch: batch,
        original_stan: original.stan,
        amount: fen(800),
        pin: None,
    });
    let void = rig.next_trade();
    let Trade::Void { original_stan, amount, .. } = void.trade else { panic!("a void") };
    assert_eq!((original_stan, amount), (original.stan, fen(800)));
    assert_ne!(void.stan, original.stan);
    let answer = rig.host.answer_trade(&void, ResponseCode::APPROVED);
    rig.deliver(&answer);
    let journal = rig.terminal.persistent().journal();
    assert!(journal.find(original.stan).unwrap().voided);
    let totals = journal.totals();
    assert_eq!(
        (totals.debit_amount, totals.credit_amount),
        (800, 800),
        "the sale stays a debit, the void is a credit"
    );
}

#[test]
fn a_void_of_another_batch_or_amount_is_refused_locally() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let original = rig.approved_sale(800);
    let other = crate::iso8583::values::BatchNo::new(9).unwrap();
    rig.command(TerminalCommand::Void {
        original_batch: other,
        original_stan: original.stan,
        amount: fen(800),
        pin: None,
    });
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::VoidOfAnotherBatch { .. } })));
    let batch = rig.terminal.persistent().batch();
    rig.command(TerminalCommand::Void {
        original_batch: batch,
        original_stan: original.stan,
        amount: fen(1),
        pin: None,
    });
    rig.command(TerminalCommand::Void {
        original_batch: batch,
        original_stan: stan(999),
        amount: fen(800),
        pin: None,
    });
    assert_eq!(rig.count(|e| matches!(e, E::Refused { .. })), 3);
    assert_eq!(rig.mtis(), ["0800", "0200"], "nothing sent for a refused void");
}

#[test]
fn the_stan_wraps_from_999999_to_1() {
    let mut rig = Rig::new(TerminalConfig::default());
    let mut store = rig.terminal.persistent().clone();
    store.set_next_stan(stan(999_999));
    rig.terminal = crate::terminal::Terminal::restart(rig.config.clone(), store, rig.now).unwrap();
    rig.operator();
    rig.sign_in();
    let first = rig.approved_sale(100);
    let second = rig.approved_sale(100);
    assert_eq!((first.stan.value(), second.stan.value()), (1, 2), "the 0800 took 999999");
}

#[test]
fn a_full_journal_refuses_new_trades_until_settled() {
    let mut rig = Rig::signed_in(TerminalConfig { journal_max: 2, ..TerminalConfig::default() });
    rig.approved_sale(100);
    rig.approved_sale(200);
    rig.command(sale(300));
    assert!(rig.saw(|e| matches!(e, E::StorageFull)));
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::StorageFull })));
    assert_eq!(rig.mtis().len(), 3);
    rig.command(TerminalCommand::Settle);
    rig.answer_all();
    rig.command(sale(300));
    assert_eq!(rig.mtis().last().unwrap(), "0200", "room again after settlement");
}

#[test]
fn garbage_bytes_are_dropped_without_harm() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    for garbage in [&[][..], &[0x00], &[0xFF; 40], &[0x00, 0x05, 0x60, 0, 0, 0, 0]] {
        rig.deliver(garbage);
    }
    assert_eq!(rig.count(|e| matches!(e, E::FrameDropped { .. })), 4);
    assert!(rig.terminal.persistent().reversal().is_none());
    rig.command(sale(100));
    let request = rig.next_trade();
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, .. })));
}

#[test]
fn a_corrupted_approval_never_prints_a_slip_and_is_always_reversed() {
    let mut probe = Rig::signed_in(TerminalConfig::default());
    probe.command(sale(100));
    let request = probe.next_trade();
    let answer = probe.host.answer_trade(&request, ResponseCode::APPROVED);
    // Every byte from the MTI on is covered by the MAC or by the framing.
    for at in crate::iso8583::frame::MESSAGE_OFFSET..answer.len() {
        for (what, bytes) in [("flipped", flip(&answer, at)), ("cut", answer[..at].to_vec())] {
            let mut rig = Rig::signed_in(TerminalConfig::default());
            rig.command(sale(100));
            rig.next_trade();
            rig.deliver(&bytes);
            if !rig.saw(|e| matches!(e, E::TradeFailed { .. })) {
                // Dropped as stale (the flip hit the STAN or the terminal id): the deadline decides.
                rig.time_out();
            }
            assert!(!rig.saw(|e| matches!(e, E::SlipPrinted { .. })), "{what} at {at}");
            assert!(rig.saw(|e| matches!(e, E::ReversalArmed { .. })), "{what} at {at}");
        }
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut flipped = bytes.to_vec();
    flipped[at] ^= 0x01;
    flipped
}

#[test]
fn a_card_read_failure_sends_nothing() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::CardReadFailed);
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::CardReadFailed })));
    assert!(rig.nothing_sent());
}

#[test]
fn pre_authorisation_and_its_completion() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::PreAuth {
        card: card(),
        amount: fen(50_000),
        pin: Some("1234".into()),
    });
    let preauth = rig.next_trade();
    assert_eq!(preauth.kind(), TradeKind::PreAuth);
    let answer = rig.host.trade_response(&preauth, ResponseCode::APPROVED);
    let auth = answer.auth_code.unwrap();
    let bytes = rig.host.seal(&CupMessage::TradeAnswer(answer));
    rig.deliver(&bytes);
    rig.command(TerminalCommand::Completion {
        card: card(),
        amount: fen(45_000),
        original_auth: auth,
        original_date: MonthDay::new(11, 21).unwrap(),
        pin: None,
    });
    let completion = rig.next_trade();
    assert_eq!(completion.kind(), TradeKind::Completion);
    assert!(rig.saw(|e| matches!(e, E::ReversalStored { stan } if *stan == completion.stan)));
    let answer = rig.host.answer_trade(&completion, ResponseCode::APPROVED);
    rig.deliver(&answer);
    let totals = rig.terminal.persistent().journal().totals();
    assert_eq!((totals.debit_amount, totals.debit_count), (45_000, 1), "the hold is not a debit");
}
