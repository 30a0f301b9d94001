//! Operator and terminal sign-in, sign-off, echo, and the codes that send the
//! terminal back to sign-in.

use crate::iso8583::cup::CupMessage;
use crate::iso8583::keys::KeyMode;
use crate::iso8583::network::NetworkCode;
use crate::iso8583::values::BatchNo;
use crate::iso8583::ResponseCode;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;
use crate::iso8583::keys::KeyError;

#[test]
fn a_wrong_operator_password_is_refused_and_nothing_is_sent() {
    let mut rig = Rig::new(TerminalConfig::default());
    rig.command(TerminalCommand::OperatorSignOut);
    rig.command(TerminalCommand::OperatorSignIn { operator: "01".into(), password: "9999".into() });
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::WrongOperatorOrPassword })));
    rig.command(TerminalCommand::SignIn);
    assert!(rig.nothing_sent(), "no 0800 without an operator");
}

#[test]
fn sign_in_mode_001_takes_single_keys_and_the_host_batch() {
    let mut rig = Rig::new(TerminalConfig::default());
    rig.host.batch = BatchNo::new(42).unwrap();
    rig.command(TerminalCommand::SignIn);
    let CupMessage::Network(request) = rig.next_message() else { panic!("0800 expected") };
    assert_eq!(request.code, NetworkCode::SignIn(KeyMode::Single));
    assert_eq!(request.operator, Some(*b"01 "));
    let answer = rig.host.sign_in_answer(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::SignedIn { batch } if batch.value() == 42)));
    assert_eq!(
        rig.terminal.persistent().batch().value(),
        42,
        "the 0810's batch replaces the local one"
    );
    // The keys work: the next sale's MAC checks at the host.
    rig.command(sale(100));
    let frame = rig.next_frame();
    assert!(rig.host.mac_valid(&frame));
}

#[test]
fn sign_in_mode_004_takes_double_keys_with_a_track_key() {
    let config =
        TerminalConfig { key_mode: KeyMode::DoubleWithTrackKey, ..TerminalConfig::default() };
    let mut rig = Rig::new(config);
    rig.command(TerminalCommand::SignIn);
    let CupMessage::Network(request) = rig.next_message() else { panic!("0800 expected") };
    assert_eq!(request.code.code(), 4);
    let answer = rig.host.sign_in_answer(&request, ResponseCode::APPROVED);
    rig.deliver(&answer);
    assert!(rig.terminal.persistent().signed_in());
    rig.command(sale(100));
    let frame = rig.next_frame();
    assert!(rig.host.mac_valid(&frame));
}

#[test]
fn a_bad_check_value_fails_the_sign_in() {
    let mut rig = Rig::new(TerminalConfig::default());
    rig.command(TerminalCommand::SignIn);
    let CupMessage::Network(request) = rig.next_message() else { panic!("0800 expected") };
    let mut answer = rig.host.network_answer(&request, ResponseCode::APPROVED);
    let mut keys = rig.host.keys.wrap(&rig.host.tmk, KeyMode::Single);
    keys[8 + 4 + 8] ^= 0x01; // the MAK's check value
    answer.keys = Some(keys);
    let bytes = crate::wire::seal(
        &CupMessage::NetworkAnswer(answer),
        crate::iso8583::Tpdu::new(0, 3),
        None,
    );
    rig.deliver(&bytes);
    assert!(rig.saw(|e| matches!(
        e,
        E::SignInFailed { why: FailureReason::Keys(KeyError::CheckValueMismatch { .. }) }
    )));
    assert!(!rig.terminal.persistent().signed_in());
    rig.command(sale(100));
    assert!(rig.saw(|e| matches!(e, E::Refused { why } if why.is_not_signed_in())));
}

#[test]
fn a_sign_in_declined_97_leaves_the_terminal_signed_out() {
    let mut rig = Rig::new(TerminalConfig::default());
    rig.command(TerminalCommand::SignIn);
    let CupMessage::Network(request) = rig.next_message() else { panic!("0800 expected") };
    let answer = rig.host.sign_in_answer(&request, ResponseCode::TERMINAL_NOT_REGISTERED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(
        e,
        E::SignInFailed { why: FailureReason::HostDeclined { code } }
            if *code == ResponseCode::TERMINAL_NOT_REGISTERED
    )));
    assert!(!rig.terminal.persistent().signed_in());
}

#[test]
fn sign_off_and_echo_travel_as_0820() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::Echo);
    rig.command(TerminalCommand::SignOff);
    assert!(
        rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::Busy })),
        "one operation at a time"
    );
    assert_eq!(rig.answer_all(), ["0820"]);
    assert!(rig.saw(|e| matches!(e, E::EchoAnswered)));
    rig.command(TerminalCommand::SignOff);
    let CupMessage::Network(request) = rig.host.read(&rig.wire[2].clone()) else { panic!() };
    assert_eq!(request.code, NetworkCode::SignOff);
    rig.answer_all();
    assert!(rig.saw(|e| matches!(e, E::SignedOff)));
    assert!(!rig.terminal.persistent().signed_in());
}

fn answered_with(text: &str) -> Rig {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(100));
    let request = rig.next_trade();
    let answer = rig.host.answer_trade(&request, code(text));
    rig.deliver(&answer);
    rig
}

#[test]
fn codes_77_99_a0_22_58_send_the_terminal_back_to_sign_in() {
    for text in ["77", "99", "A0", "22", "58"] {
        let mut rig = answered_with(text);
        assert!(rig.saw(|e| matches!(e, E::SignInRequired { .. })), "{text}");
        assert!(
            rig.terminal.persistent().reversal().is_none(),
            "{text}: an answer settles the trade"
        );
        rig.command(sale(100));
        assert!(rig.nothing_sent(), "{text}: no trade until signed in");
        rig.sign_in();
        rig.command(sale(100));
        assert_eq!(rig.mtis().last().unwrap(), "0200", "{text}");
    }
}

#[test]
fn header_processing_requirement_3_sends_the_terminal_back_to_sign_in() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(100));
    let request = rig.next_trade();
    let answer = rig.host.trade_response(&request, ResponseCode::APPROVED);
    let bytes = rig.host.seal_asking_sign_in(&CupMessage::TradeAnswer(answer));
    rig.deliver(&bytes);
    assert!(
        rig.saw(|e| matches!(e, E::TradeAnswered { approved: true, .. })),
        "the approval stands"
    );
    assert!(rig.saw(|e| matches!(e, E::SignInRequired { why: SignInReason::HeaderAsks })));
    assert!(!rig.terminal.persistent().signed_in());
}
