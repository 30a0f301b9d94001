//! Power cuts: what the store keeps, and what recovery does with it.

use crate::actor::Actor;
use crate::iso8583::cup::CupMessage;
use crate::iso8583::subfields::SettlementResult;
use crate::iso8583::ResponseCode;
use crate::terminal::settlement::Stage;
use crate::terminal::{ReversalPersist, TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;

#[test]
fn power_cut_after_the_request_left_arms_the_reversal_on_reboot_and_sends_it_first() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    rig.power_cut_and_reboot();
    assert!(rig.saw(|e| matches!(e, E::Recovered { what: Recovery::ReversalArmed { .. } })));
    assert!(rig.terminal.persistent().signed_in(), "keys live in the secure element");
    rig.command(sale(2000));
    let reversal = rig.next_reversal();
    assert_eq!(reversal.original().stan, request.stan);
    assert_eq!(reversal.reason, ResponseCode::ISSUER_TIMEOUT);
}

#[test]
fn power_cut_after_the_request_left_loses_the_reversal_when_it_is_stored_after_send() {
    let config = TerminalConfig {
        reversal_persist: ReversalPersist::AfterSend,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config);
    rig.command(sale(1000));
    let _lost = rig.next_trade();
    assert!(rig.terminal.persistent().reversal().is_none(), "only in memory");
    rig.power_cut_and_reboot();
    rig.command(sale(2000));
    assert!(
        matches!(rig.next_message(), CupMessage::Trade(_)),
        "the bug: no 0400, the first debit stands"
    );
    // Without the power cut the unsafe setting still reverses a timeout.
    rig.time_out();
    rig.command(sale(3));
    assert!(matches!(rig.next_message(), CupMessage::Reversal(_)));
}

#[test]
fn power_cut_after_the_answer_came_leaves_nothing_to_reverse() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let request = rig.approved_sale(1000);
    rig.power_cut_and_reboot();
    assert!(rig.terminal.persistent().reversal().is_none());
    assert!(rig.terminal.persistent().journal().find(request.stan).is_some());
    rig.command(TerminalCommand::ReprintLast);
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { stan: Some(s), .. } if *s == request.stan)));
    rig.command(sale(5));
    assert!(matches!(rig.next_message(), CupMessage::Trade(_)));
}

#[test]
fn power_cut_in_the_middle_of_a_batch_upload_resumes_it() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    for amount in 1..=10 {
        rig.approved_sale(amount * 100);
    }
    rig.command(TerminalCommand::Settle);
    let CupMessage::Settlement(request) = rig.next_message() else { panic!("0500") };
    let answer = rig.host.answer_settlement(&request, SettlementResult::NotBalanced);
    rig.deliver(&answer);
    let CupMessage::BatchUpload(first) = rig.next_message() else { panic!("0320") };
    assert_eq!(first.detail.entries.len(), 8, "eight trades per upload message");
    let answer =
        rig.host.answer_batch(first.stan, first.batch, first.terminal, first.merchant, 201);
    rig.deliver(&answer);
    let CupMessage::BatchUpload(second) = rig.next_message() else { panic!("0320") };
    assert_eq!(second.detail.entries.len(), 2);
    // The power goes before the second upload's answer.
    rig.power_cut_and_reboot();
    assert!(rig.saw(|e| matches!(e, E::Recovered { what: Recovery::SettlementResumes { .. } })));
    assert_eq!(rig.terminal.persistent().settlement().unwrap().stage, Stage::Upload { next: 8 });
    let CupMessage::BatchUpload(again) = rig.next_message() else { panic!("resumed 0320") };
    assert_eq!(again.detail, second.detail, "the same two trades, not the whole batch again");
    assert_ne!(again.stan, second.stan);
    let answer =
        rig.host.answer_batch(again.stan, again.batch, again.terminal, again.merchant, 201);
    rig.deliver(&answer);
    assert_eq!(rig.answer_all(), ["0320"], "then the end message");
    assert!(rig.saw(|e| matches!(e, E::BatchUploadEnded { network_code: 202, .. })));
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
    assert_eq!(rig.terminal.persistent().batch().value(), 2);
}

#[test]
fn an_empty_battery_switches_the_terminal_off_after_the_request_left() {
    let config = TerminalConfig {
        battery_start_percent: 1,
        battery_drain_per_message_permille: 5,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config); // the 0800 used 5 of 10
    rig.command(sale(1000));
    let request = rig.next_trade();
    assert!(rig.saw(|e| matches!(e, E::PowerLost)));
    assert!(!rig.terminal.is_powered());
    assert_eq!(rig.terminal.poll_timeout(), None);
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(!rig.saw(|e| matches!(e, E::TradeAnswered { .. })), "a dead terminal hears nothing");
    rig.command(TerminalCommand::PowerOn);
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::BatteryEmpty })));
    rig.command(TerminalCommand::Charge { percent: 50 });
    rig.command(TerminalCommand::PowerOn);
    rig.operator();
    rig.command(sale(5));
    assert_eq!(rig.next_reversal().original().stan, request.stan);
}
