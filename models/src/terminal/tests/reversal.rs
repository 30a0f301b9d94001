//! The central rule: a reversible trade without a usable answer is reversed
//! before the next online message, with the same STAN.

use crate::iso8583::ResponseCode;
use crate::terminal::reversal::ReversalReason;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;

#[test]
fn a_timed_out_sale_is_reversed_with_98_before_the_next_trade_with_its_own_stan() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let first = rig.unanswered_sale(1000);
    assert!(rig.saw(|e| matches!(e, E::TradeTimedOut { stan } if *stan == first.stan)));
    assert!(rig.saw(|e| matches!(e, E::ReversalArmed { reason: ReversalReason::Timeout, .. })));
    assert!(!rig.saw(|e| matches!(e, E::SlipPrinted { .. })), "no slip for an uncertain sale");
    assert!(rig.nothing_sent(), "the reversal waits for the next online message");

    rig.command(sale(2000));
    let reversal = rig.next_reversal();
    assert_eq!(reversal.original().stan, first.stan, "a reversal reuses its original's STAN");
    assert_eq!(reversal.reason, ResponseCode::ISSUER_TIMEOUT);
    assert_eq!(reversal.original().trade.amount(), Some(fen(1000)));
    assert!(reversal.original().pin_block.is_none(), "no PIN in a reversal");
    let answer = rig.host.answer_reversal(&reversal, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::ReversalAcknowledged { .. })));
    let second = rig.next_trade();
    assert_eq!(second.stan, first.stan.next(), "the next trade takes the next STAN");
    assert_eq!(rig.mtis(), ["0800", "0200", "0400", "0200"]);
}

#[test]
fn an_unanswered_reversal_is_retried_up_to_the_limit_then_blocks_online_trades() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    let first = rig.unanswered_sale(1000);
    rig.command(sale(2000));
    for attempt in 1..=3 {
        let reversal = rig.next_reversal();
        assert_eq!(reversal.original().stan, first.stan);
        rig.time_out();
        assert!(rig.saw(|e| matches!(e, E::ReversalUnanswered { attempt: a, .. } if *a == attempt)));
    }
    assert!(rig.nothing_sent(), "three tries, then the sale is refused");
    assert!(rig.saw(|e| matches!(
        e,
        E::Refused { why: RefusalReason::Failed(FailureReason::ReversalUnacknowledged { .. }) }
    )));
    // Keep blocking: each new online trade tries the reversal once more first.
    rig.command(sale(2000));
    assert_eq!(rig.next_reversal().original().stan, first.stan);
    rig.time_out();
    assert!(rig.nothing_sent());
    rig.command(sale(2000));
    let reversal = rig.next_reversal();
    let answer = rig.host.answer_reversal(&reversal, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert_eq!(rig.next_trade().trade.amount(), Some(fen(2000)), "unblocked once acknowledged");
}

#[test]
fn an_approval_whose_mac_fails_is_reversed_with_a0() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let answer = rig.host.answer_trade_bad_mac(&request);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::ReversalArmed { reason: ReversalReason::BadMac, .. })));
    assert!(!rig.saw(|e| matches!(e, E::SlipPrinted { .. })));
    assert!(rig.terminal.persistent().journal().is_empty());
    rig.command(TerminalCommand::Echo);
    let reversal = rig.next_reversal();
    assert_eq!(reversal.reason, ResponseCode::MAC_ERROR);
    assert_eq!(reversal.original().stan, request.stan);
}

#[test]
fn a_garbled_answer_is_reversed_with_06() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let mut answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    answer.truncate(answer.len() - 3);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::ReversalArmed { reason: ReversalReason::Garbled, .. })));
    rig.command(sale(10));
    let reversal = rig.next_reversal();
    assert_eq!(reversal.reason, ResponseCode::ISSUER_ERROR);
}

#[test]
fn an_answer_that_does_not_match_the_request_is_reversed_with_06() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let mut answer = rig.host.trade_response(&request, ResponseCode::APPROVED);
    answer.amount = Some(fen(999));
    let bytes = rig.host.seal(&crate::iso8583::cup::CupMessage::TradeAnswer(answer));
    rig.deliver(&bytes);
    assert!(
        rig.saw(|e| matches!(e, E::TradeFailed { reason: FailureReason::AnswerDoesNotMatch, .. }))
    );
    rig.command(sale(10));
    assert_eq!(rig.next_reversal().reason, ResponseCode::ISSUER_ERROR);
}

#[test]
fn an_answer_for_another_stan_is_stale_and_the_trade_keeps_waiting() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let mut old = request.clone();
    old.stan = stan(77);
    let stale = rig.host.answer_trade(&old, ResponseCode::APPROVED);
    rig.deliver(&stale);
    assert!(rig.saw(|e| matches!(e, E::FrameDropped { .. })));
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, .. })));
}

/// The lost-answer + late-copy story: the sale's answer never came, a copy
/// of its request reached a host that holds the original, and the host said
/// 94. That is not the sale's verdict: the terminal waits on, and at its
/// timeout reverses (98) as for silence, so a debit the issuer holds is
/// rolled back instead of standing with no slip.
#[test]
fn a_94_to_a_sale_still_awaiting_its_answer_is_not_its_verdict() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let duplicate = rig.host.answer_trade(&request, code("94"));
    rig.deliver(&duplicate);
    assert!(rig.saw(|e| matches!(
        e,
        E::FrameDropped { why: FrameDropReason::DuplicateIsNotVerdict { .. } }
    )));
    assert!(!rig.saw(|e| matches!(e, E::TradeAnswered { .. })), "nothing settled");
    assert!(!rig.saw(|e| matches!(e, E::ReversalCleared { .. })), "the reversal is kept");
    rig.time_out();
    assert!(rig.saw(|e| matches!(e, E::ReversalArmed { reason: ReversalReason::Timeout, .. })));
    rig.command(sale(10));
    let reversal = rig.next_reversal();
    assert_eq!(reversal.original().stan, request.stan);
    assert_eq!(reversal.reason, ResponseCode::ISSUER_TIMEOUT);
}

/// If the original's answer does come after the 94, it is the verdict.
#[test]
fn the_real_answer_after_a_94_settles_the_sale() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let duplicate = rig.host.answer_trade(&request, code("94"));
    rig.deliver(&duplicate);
    let answer = rig.host.answer_trade(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, .. })));
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { .. })));
}

/// The mutation certification must catch: 94 read as a final decline.
#[test]
fn the_take_duplicate_as_verdict_mutation_deletes_the_reversal() {
    let config = TerminalConfig {
        mutation: crate::terminal::TerminalMutation::TakeDuplicateAsVerdict,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config);
    rig.command(sale(1000));
    let request = rig.next_trade();
    let duplicate = rig.host.answer_trade(&request, code("94"));
    rig.deliver(&duplicate);
    assert!(rig.saw(|e| matches!(e, E::TradeAnswered { approved: false, .. })));
    assert!(rig.saw(|e| matches!(e, E::ReversalCleared { .. })));
}

#[test]
fn a_reversal_answered_12_or_25_is_done() {
    for text in ["12", "25"] {
        let mut rig = Rig::signed_in(TerminalConfig::default());
        rig.unanswered_sale(1000);
        rig.command(sale(5));
        let reversal = rig.next_reversal();
        let answer = rig.host.answer_reversal(&reversal, code(text));
        rig.deliver(&answer);
        assert!(rig.saw(|e| matches!(e, E::ReversalAcknowledged { .. })), "{text}");
        let next = rig.next_trade();
        assert_eq!(next.trade.amount(), Some(fen(5)), "{text}");
        let stored = rig.terminal.persistent().reversal().unwrap();
        assert_eq!(stored.stan(), next.stan, "{text}: only the new sale's own reversal is stored");
    }
}

#[test]
fn a_reversal_answered_96_is_tried_again() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.unanswered_sale(1000);
    rig.command(sale(5));
    let reversal = rig.next_reversal();
    let answer = rig.host.answer_reversal(&reversal, ResponseCode::SYSTEM_MALFUNCTION);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::ReversalUnanswered { attempt: 1, .. })));
    assert_eq!(rig.next_reversal().original().stan, reversal.original().stan);
}

#[test]
fn a_reversal_answer_whose_mac_fails_is_not_an_acknowledgement() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.unanswered_sale(1000);
    rig.command(sale(5));
    let reversal = rig.next_reversal();
    let answer = crate::iso8583::trade::TradeResponse::answering_reversal(
        &reversal,
        ResponseCode::APPROVED,
        super::host::time(),
        super::host::date(),
    );
    let wrong = crate::iso8583::mac::MacKey::new(*b"\x01\x02\x03\x04\x05\x06\x07\x08");
    let bytes = crate::wire::seal(
        &crate::iso8583::cup::CupMessage::TradeAnswer(answer),
        crate::iso8583::Tpdu::new(0, 3),
        Some(&wrong),
    );
    rig.deliver(&bytes);
    assert!(rig.saw(|e| matches!(e, E::ReversalUnanswered { attempt: 1, .. })));
    assert_eq!(rig.next_reversal().original().stan, reversal.original().stan, "tried again");
}

#[test]
fn the_reversal_goes_before_a_settlement_too() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.approved_sale(300);
    rig.unanswered_sale(1000);
    rig.command(TerminalCommand::Settle);
    let answered = rig.answer_all();
    assert_eq!(answered, ["0400", "0500"]);
    assert!(rig.saw(|e| matches!(e, E::SettlementCompleted { .. })));
}

#[test]
fn an_a0_answer_under_another_key_is_reversed_and_asks_for_sign_in() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    let answer = rig.host.trade_response(&request, ResponseCode::MAC_ERROR);
    let other = crate::iso8583::mac::MacKey::new(*b"\x0A\x0B\x0C\x0D\x0E\x0F\x10\x11");
    let bytes = crate::wire::seal(
        &crate::iso8583::cup::CupMessage::TradeAnswer(answer),
        crate::iso8583::Tpdu::new(0, 3),
        Some(&other),
    );
    rig.deliver(&bytes);
    assert!(rig.saw(|e| matches!(e, E::ReversalArmed { reason: ReversalReason::BadMac, .. })));
    assert!(rig.saw(|e| matches!(e, E::SignInRequired { .. })));
    rig.sign_in();
    rig.command(sale(5));
    assert_eq!(
        rig.next_reversal().original().stan,
        request.stan,
        "the reversal goes under the new MAK"
    );
}
