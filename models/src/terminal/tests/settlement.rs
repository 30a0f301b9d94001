//! Settlement: totals, batch upload when unbalanced, then a new batch.

use crate::iso8583::cup::CupMessage;
use crate::iso8583::subfields::SettlementResult;
use crate::terminal::printer::SlipKind;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;

#[test]
fn a_balanced_settlement_clears_the_journal_and_starts_the_next_batch() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.approved_sale(1000);
    let void_of = rig.approved_sale(300);
    let batch = rig.terminal.persistent().batch();
    rig.command(TerminalCommand::Void {
        original_batch: batch,
        original_stan: void_of.stan,
        amount: fen(300),
        pin: None,
    });
    rig.answer_all();
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(request) = rig.next_message() else { panic!("0500") };
    assert_eq!(request.batch, batch);
    let totals = request.totals;
    assert_eq!(
        (totals.debit_amount, totals.debit_count, totals.credit_amount, totals.credit_count),
        (1300, 2, 300, 1)
    );
    let answer = rig.host.answer_settlement(&request, SettlementResult::Balanced);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::SettlementBalanced { .. })));
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Settlement, .. })));
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { batch: b } if *b == batch)));
    let store = rig.terminal.persistent();
    assert!(store.journal().is_empty());
    assert_eq!(store.batch(), batch.next());
    assert!(store.settlement().is_none());
    // The next sale goes in the next batch.
    let next = rig.approved_sale(10);
    assert_eq!(next.batch, batch.next());
}

fn unbalanced(config: TerminalConfig) -> Rig {
    let mut rig = Rig::signed_in(config);
    rig.approved_sale(1000);
    rig.approved_sale(2000);
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(request) = rig.next_message() else { panic!("0500") };
    let answer = rig.host.answer_settlement(&request, SettlementResult::NotBalanced);
    rig.deliver(&answer);
    rig
}

#[test]
fn an_unbalanced_settlement_uploads_the_batch_and_ends_with_202() {
    let mut rig = unbalanced(TerminalConfig::default());
    assert!(rig.saw(|e| matches!(e, E::SettlementNotBalanced { .. })));
    assert!(rig.saw(|e| matches!(e, E::BatchUploadStarted { trades: 2, .. })));
    let CupMessage::BatchUpload(upload) = rig.next_message() else { panic!("0320/201") };
    let amounts: Vec<u64> = upload.detail.entries.iter().map(|e| e.amount.fen()).collect();
    assert_eq!(amounts, [1000, 2000]);
    let answer =
        rig.host.answer_batch(upload.stan, upload.batch, upload.terminal, upload.merchant, 201);
    rig.deliver(&answer);
    let CupMessage::BatchUploadEnd(end) = rig.next_message() else { panic!("0320/202") };
    assert_eq!(end.network_code(), 202);
    assert_eq!(end.total_count, 2);
    let answer = rig.host.answer_batch(end.stan, end.batch, end.terminal, end.merchant, 202);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
    assert!(rig.terminal.persistent().journal().is_empty());
}

#[test]
fn the_unsafe_end_code_claims_207_balanced_after_an_unbalanced_settlement() {
    let config = TerminalConfig {
        upload_end_code_when_unbalanced: crate::terminal::UploadEndCode::Code207,
        ..TerminalConfig::default()
    };
    let mut rig = unbalanced(config);
    rig.answer_all();
    assert!(rig.saw(|e| matches!(e, E::SettlementNotBalanced { .. })));
    assert!(
        rig.saw(|e| matches!(e, E::BatchUploadEnded { network_code: 207, .. })),
        "the bug: 207 after a 2 flag"
    );
}

#[test]
fn a_lost_0510_keeps_the_journal_and_the_settlement_is_sent_again() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.approved_sale(1000);
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(first) = rig.next_message() else { panic!("0500") };
    rig.time_out();
    assert!(rig.saw(|e| matches!(e, E::SettlementFailed { .. })));
    assert_eq!(rig.terminal.persistent().journal().len(), 1);
    rig.command(sale(5));
    assert!(
        rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::SettlementInProgress { .. } })),
        "no trades mid-settlement"
    );
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(again) = rig.next_message() else { panic!("0500 again") };
    assert_eq!(again.totals, first.totals);
    assert_eq!(again.batch, first.batch);
}

#[test]
fn sign_off_after_settlement_when_configured() {
    let mut rig = Rig::signed_in(TerminalConfig {
        sign_off_after_settlement: true,
        ..TerminalConfig::default()
    });
    rig.approved_sale(1000);
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0500", "0820"]);
    assert!(rig.saw(|e| matches!(e, E::SignedOff)));
    assert!(!rig.terminal.persistent().signed_in());
}

#[test]
fn a_settlement_refused_with_flag_3_is_settled_again_after_sign_in() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.approved_sale(1000);
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(request) = rig.next_message() else { panic!("0500") };
    let answer = rig.host.answer_settlement(&request, SettlementResult::Error);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::SettlementFailed { .. })));
    assert!(rig.saw(|e| matches!(e, E::SignInRequired { .. })));
    assert_eq!(rig.terminal.persistent().journal().len(), 1, "nothing cleared");
    rig.sign_in();
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0500"]);
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
}

#[test]
fn a_batch_upload_refused_by_the_host_stays_at_its_stage() {
    let mut rig = unbalanced(TerminalConfig::default());
    let CupMessage::BatchUpload(upload) = rig.next_message() else { panic!("0320/201") };
    let refusal = crate::iso8583::settlement::BatchUploadResponse {
        stan: upload.stan,
        batch: upload.batch,
        terminal: upload.terminal,
        merchant: upload.merchant,
        network_code: 201,
        response_code: crate::iso8583::ResponseCode::SIGN_IN_TO_NETWORK,
    };
    let bytes = crate::wire::seal(
        &CupMessage::BatchUploadAnswer(refusal),
        crate::iso8583::Tpdu::new(0, 3),
        None,
    );
    rig.deliver(&bytes);
    assert!(rig.saw(|e| matches!(
        e,
        E::SettlementFailed { reason: FailureReason::BatchUploadRefused { code }, .. }
            if *code == crate::iso8583::ResponseCode::SIGN_IN_TO_NETWORK
    )));
    rig.sign_in();
    rig.command(TerminalCommand::Settle);
    let CupMessage::BatchUpload(again) = rig.next_message() else {
        panic!("the same upload again")
    };
    assert_eq!(again.detail, upload.detail);
}

/// DOMAIN.md, Terminal life cycle, 5: after the automatic sign-off the next
/// trade waits for a sign-in; the `sign_off_keeps_session` mutation sends it
/// on the closed session.
#[test]
fn after_the_sign_off_that_follows_settlement_a_trade_needs_a_sign_in_first() {
    let config = TerminalConfig { sign_off_after_settlement: true, ..TerminalConfig::default() };
    let mut rig = Rig::signed_in(config.clone());
    rig.approved_sale(1000);
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0500", "0820"]);
    rig.command(sale(1000));
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::TerminalNotSignedIn })));
    assert!(rig.nothing_sent());

    let mutated = TerminalConfig {
        mutation: crate::terminal::config::TerminalMutation::SignOffKeepsSession,
        ..config
    };
    let mut rig = Rig::signed_in(mutated);
    rig.approved_sale(1000);
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0500", "0820"]);
    assert!(rig.saw(|e| matches!(e, E::SignedOff)));
    rig.command(sale(1000));
    assert_eq!(rig.next_trade().kind(), crate::iso8583::trade::TradeKind::Sale);
}

/// DOMAIN.md, Response codes: "95 | reconciliation error | batch upload".
/// A 95 to the end message: the whole batch goes again, then the end again;
/// the `reconciliation_error_ends_settlement` mutation takes the 95 as the
/// end's answer and clears the journal.
#[test]
fn a_95_to_the_upload_end_uploads_the_batch_again_then_ends_again() {
    let end_answered_95 = |config: TerminalConfig| {
        let mut rig = unbalanced(config);
        let CupMessage::BatchUpload(upload) = rig.next_message() else { panic!("0320/201") };
        let answer =
            rig.host.answer_batch(upload.stan, upload.batch, upload.terminal, upload.merchant, 201);
        rig.deliver(&answer);
        let CupMessage::BatchUploadEnd(end) = rig.next_message() else { panic!("0320/202") };
        let answer = rig.host.answer_batch_with(
            end.stan,
            end.batch,
            end.terminal,
            end.merchant,
            202,
            crate::iso8583::ResponseCode::RECONCILIATION_ERROR,
        );
        rig.deliver(&answer);
        rig
    };
    let mut rig = end_answered_95(TerminalConfig::default());
    assert!(!rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
    assert!(!rig.terminal.persistent().journal().is_empty(), "the batch is kept");
    let CupMessage::BatchUpload(again) = rig.next_message() else { panic!("0320/201 again") };
    assert_eq!(again.detail.entries.len(), 2, "from the first entry");
    let answer =
        rig.host.answer_batch(again.stan, again.batch, again.terminal, again.merchant, 201);
    rig.deliver(&answer);
    assert_eq!(rig.answer_all(), ["0320"], "the end again");
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
    assert!(rig.terminal.persistent().journal().is_empty());

    let mutated = TerminalConfig {
        mutation: crate::terminal::config::TerminalMutation::ReconciliationErrorEndsSettlement,
        ..TerminalConfig::default()
    };
    let rig = end_answered_95(mutated);
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
    assert!(rig.terminal.persistent().journal().is_empty());
}
