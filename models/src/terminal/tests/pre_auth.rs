//! The pre-authorisation family at the terminal: the cancel and the
//! completion void reversed when unanswered like any reversible trade, a
//! completion void that is not a sale void, and the completion advice kept
//! and re-sent until acknowledged, like a refund.

use crate::iso8583::cup::CupMessage;
use crate::iso8583::trade::{Trade, TradeKind};
use crate::iso8583::values::{AuthCode, MonthDay};
use crate::iso8583::ResponseCode;
use crate::terminal::journal::EntryStatus;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E, TerminalMutation};

use super::rig::*;

fn date() -> MonthDay {
    MonthDay::new(11, 21).unwrap()
}

/// A pre-auth of `amount` the host approves; returns its auth code.
fn approved_pre_auth(rig: &mut Rig, amount: u64) -> AuthCode {
    rig.command(TerminalCommand::PreAuth { card: card(), amount: fen(amount), pin: None });
    let request = rig.next_trade();
    assert_eq!(request.kind(), TradeKind::PreAuth);
    let answer = rig.host.trade_response(&request, ResponseCode::APPROVED);
    let auth = answer.auth_code.expect("an approval carries an auth code");
    let bytes = rig.host.seal(&CupMessage::TradeAnswer(answer));
    rig.deliver(&bytes);
    auth
}

/// A completion of `amount` the host approves; returns its journal STAN.
fn approved_completion(rig: &mut Rig, auth: AuthCode, amount: u64) -> crate::iso8583::values::Stan {
    rig.command(TerminalCommand::Completion {
        card: card(),
        amount: fen(amount),
        original_auth: auth,
        original_date: date(),
        pin: None,
    });
    let request = rig.next_trade();
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    request.stan
}

#[test]
fn an_unanswered_cancel_is_reversed_as_a_cancel() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let auth = approved_pre_auth(&mut rig, 20_000);
    rig.command(TerminalCommand::PreAuthCancel {
        card: card(),
        amount: fen(20_000),
        original_auth: auth,
        original_date: date(),
        pin: None,
    });
    let cancel = rig.next_trade();
    assert_eq!(cancel.kind(), TradeKind::PreAuthCancel);
    assert_eq!(rig.mtis().last().unwrap(), "0100");
    assert!(rig.saw(|e| matches!(e, E::ReversalStored { stan } if *stan == cancel.stan)));
    rig.time_out();
    rig.command(TerminalCommand::SendPending);
    let reversal = rig.next_reversal();
    assert_eq!(reversal.original().kind(), TradeKind::PreAuthCancel, "named by F3, F25, 60.1");
    assert_eq!(reversal.original().stan, cancel.stan);
}

#[test]
fn the_void_of_a_completion_is_a_completion_void_and_is_reversed_when_unanswered() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let auth = approved_pre_auth(&mut rig, 10_000);
    let completion = approved_completion(&mut rig, auth, 9_000);
    let entry = rig.terminal.persistent().journal().find(completion).unwrap().clone();
    rig.command(TerminalCommand::void_of(&entry));
    let void = rig.next_trade();
    assert_eq!(void.kind(), TradeKind::CompletionVoid, "not a sale void");
    assert!(
        matches!(void.trade, Trade::CompletionVoid { original_stan, .. } if original_stan == completion)
    );
    assert!(rig.saw(|e| matches!(e, E::ReversalStored { stan } if *stan == void.stan)));
    rig.time_out();
    rig.command(TerminalCommand::SendPending);
    assert_eq!(rig.next_reversal().original().kind(), TradeKind::CompletionVoid);
}

#[test]
fn an_approved_completion_void_counts_as_a_credit_and_marks_its_completion() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let auth = approved_pre_auth(&mut rig, 10_000);
    let completion = approved_completion(&mut rig, auth, 9_000);
    let entry = rig.terminal.persistent().journal().find(completion).unwrap().clone();
    rig.command(TerminalCommand::void_of(&entry));
    let void = rig.next_trade();
    let answer = rig.host.answer_trade(&void, ResponseCode::APPROVED);
    rig.deliver(&answer);
    let journal = rig.terminal.persistent().journal();
    assert!(journal.find(completion).unwrap().voided);
    let totals = journal.totals();
    assert_eq!((totals.debit_amount, totals.credit_amount), (9_000, 9_000));
    rig.command(TerminalCommand::void_of(&entry));
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::NotVoidable { .. } })));
}

#[test]
fn a_completion_void_of_another_batch_is_refused_like_a_sale_void() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let auth = approved_pre_auth(&mut rig, 10_000);
    let completion = approved_completion(&mut rig, auth, 9_000);
    let mut entry = rig.terminal.persistent().journal().find(completion).unwrap().clone();
    entry.batch = crate::iso8583::values::BatchNo::new(entry.batch.value() + 1).unwrap();
    let sent = rig.wire.len();
    rig.command(TerminalCommand::void_of(&entry));
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::VoidOfAnotherBatch { .. } })));
    assert_eq!(rig.wire.len(), sent, "nothing sent");
}

#[test]
fn regression_the_completion_void_as_sale_void_mutation_sends_60_1_23() {
    let config = TerminalConfig {
        mutation: TerminalMutation::CompletionVoidAsSaleVoid,
        ..Default::default()
    };
    let mut rig = Rig::signed_in(config);
    let auth = approved_pre_auth(&mut rig, 10_000);
    let completion = approved_completion(&mut rig, auth, 9_000);
    let entry = rig.terminal.persistent().journal().find(completion).unwrap().clone();
    rig.command(TerminalCommand::void_of(&entry));
    assert_eq!(rig.next_trade().kind(), TradeKind::Void, "the field bug: a sale void");
}

#[test]
fn a_completion_advice_whose_answer_is_lost_goes_again_same_stan_and_is_never_reversed() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let auth = approved_pre_auth(&mut rig, 10_000);
    rig.command(TerminalCommand::CompletionAdvice {
        card: card(),
        amount: fen(10_500),
        original_auth: auth,
        original_date: date(),
    });
    let advice = rig.next_trade();
    assert_eq!(advice.kind(), TradeKind::CompletionAdvice);
    assert_eq!(rig.mtis().last().unwrap(), "0220");
    assert!(rig.saw(|e| matches!(e, E::AdviceStored { stan } if *stan == advice.stan)));
    assert!(!rig.saw(|e| matches!(e, E::ReversalStored { stan } if *stan == advice.stan)));
    let entry = rig.terminal.persistent().journal().find(advice.stan).unwrap();
    assert_eq!(entry.status, EntryStatus::AdvicePending);
    assert_eq!(rig.terminal.persistent().journal().totals().debit_count, 0, "not yet counted");
    rig.time_out();
    assert!(!rig.saw(|e| matches!(e, E::TradeFailed { .. })), "pending, not failed");
    rig.command(TerminalCommand::SendPending);
    let again = rig.next_trade();
    assert_eq!(again, advice, "the same advice, same STAN");
    let answer = rig.host.answer_trade(&again, ResponseCode::DUPLICATE);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(
        e,
        E::TradeAnswered { kind: TradeKind::CompletionAdvice, approved: true, .. }
    )));
    let totals = rig.terminal.persistent().journal().totals();
    assert_eq!((totals.debit_count, totals.debit_amount), (1, 10_500));
    assert!(!rig.mtis().iter().any(|mti| mti == "0400"));
}

#[test]
fn regression_the_completion_not_reversed_mutation_stores_no_reversal() {
    let config =
        TerminalConfig { mutation: TerminalMutation::CompletionNotReversed, ..Default::default() };
    let mut rig = Rig::signed_in(config);
    let auth = approved_pre_auth(&mut rig, 10_000);
    rig.command(TerminalCommand::Completion {
        card: card(),
        amount: fen(9_000),
        original_auth: auth,
        original_date: date(),
        pin: None,
    });
    let completion = rig.next_trade();
    rig.time_out();
    assert!(!rig.saw(|e| matches!(e,
        E::ReversalStored { stan } | E::ReversalArmed { stan, .. } if *stan == completion.stan)));
    assert!(rig.terminal.persistent().reversal().is_none());
}
