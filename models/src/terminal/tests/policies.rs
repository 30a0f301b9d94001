//! The policies whose unsafe settings reproduce field bugs. Each story runs
//! both settings and shows, on the wire, what the unsafe one gets wrong.
//! (reversal_persist: power.rs; offline_upload: offline.rs;
//! upload_end_code_when_unbalanced: settlement.rs.)

use crate::iso8583::cup::CupMessage;
use crate::iso8583::subfields::SettlementResult;
use crate::terminal::{
    JournalClear, ReversalExhausted, TerminalCommand, TerminalConfig, TerminalEventKind as E,
};

use super::rig::*;

fn exhaust(config: TerminalConfig) -> Rig {
    let mut rig = Rig::signed_in(config);
    rig.unanswered_sale(1000);
    rig.command(sale(2000));
    for _ in 0..3 {
        rig.next_reversal();
        rig.time_out();
    }
    rig
}

#[test]
fn exhausted_reversal_keep_blocking_refuses_the_sale_and_keeps_trying() {
    let mut rig = exhaust(TerminalConfig::default());
    assert!(rig.terminal.persistent().reversal().is_some());
    assert!(rig.nothing_sent());
    assert!(!rig.saw(|e| matches!(e, E::ReversalAbandoned { .. })));
    rig.command(sale(2000));
    assert!(matches!(rig.next_message(), CupMessage::Reversal(_)), "tried again first");
}

#[test]
fn exhausted_reversal_delete_drops_it_and_the_sale_goes_unreversed() {
    let config = TerminalConfig {
        reversal_exhausted: ReversalExhausted::Delete,
        ..TerminalConfig::default()
    };
    let mut rig = exhaust(config);
    assert!(
        rig.saw(|e| matches!(e, E::ReversalAbandoned { .. })),
        "the bug: the debit is never undone"
    );
    let CupMessage::Trade(second) = rig.next_message() else { panic!("the sale went on") };
    assert_eq!(
        rig.terminal.persistent().reversal().unwrap().stan(),
        second.stan,
        "the first one's is gone"
    );
    rig.answer_all();
    rig.command(sale(3));
    assert_eq!(rig.mtis().iter().filter(|m| *m == "0400").count(), 3, "no 0400 ever again");
}

fn settle_and_lose_the_0510(config: TerminalConfig) -> Rig {
    let mut rig = Rig::signed_in(config);
    rig.approved_sale(1000);
    rig.approved_sale(2000);
    rig.command(TerminalCommand::Settle);
    rig.next_message();
    rig.time_out();
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(request) = rig.next_message() else { panic!("0500 again") };
    let answer = rig.host.answer_settlement(&request, SettlementResult::NotBalanced);
    rig.deliver(&answer);
    rig
}

#[test]
fn journal_cleared_after_the_answer_survives_a_lost_0510() {
    let mut rig = settle_and_lose_the_0510(TerminalConfig::default());
    let CupMessage::BatchUpload(upload) = rig.next_message() else { panic!("0320/201") };
    assert_eq!(upload.detail.entries.len(), 2, "the detail is still there to reconcile");
}

#[test]
fn journal_cleared_when_the_settlement_is_sent_loses_the_batch_with_the_0510() {
    let config = TerminalConfig {
        journal_clear: JournalClear::WhenSettlementSent,
        ..TerminalConfig::default()
    };
    let mut rig = settle_and_lose_the_0510(config);
    let CupMessage::Settlement(second) = rig.host.read(&rig.wire[4].clone()) else {
        panic!("second 0500")
    };
    assert_eq!(second.totals.debit_amount, 0, "the bug: the retried 0500 has empty totals");
    let CupMessage::BatchUploadEnd(end) = rig.next_message() else { panic!("straight to the end") };
    assert_eq!(end.total_count, 0, "nothing left to upload: the batch is lost");
}

#[test]
fn cashier_retry_off_the_reversal_goes_before_the_second_sale() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.unanswered_sale(1000);
    assert!(rig.nothing_sent(), "the terminal waits for the cashier");
    rig.command(sale(1000));
    assert_eq!(rig.answer_all(), ["0400", "0200"]);
}

#[test]
fn cashier_retry_on_a_second_sale_with_a_new_stan_leaves_before_the_reversal() {
    let config = TerminalConfig { cashier_retry_after_failure: true, ..TerminalConfig::default() };
    let mut rig = Rig::signed_in(config);
    let first = rig.unanswered_sale(1000);
    let retry = rig.next_trade();
    assert_eq!(retry.trade.amount(), first.trade.amount());
    assert_ne!(retry.stan, first.stan, "a new STAN: the host sees a second sale");
    let answer = rig.host.answer_trade(&retry, crate::iso8583::ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert_eq!(rig.mtis(), ["0800", "0200", "0200"], "the bug: two debits before any 0400");
    rig.command(sale(1));
    assert_eq!(rig.next_reversal().original().stan, first.stan, "the first is reversed only now");
}
