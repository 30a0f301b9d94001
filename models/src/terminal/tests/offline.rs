//! Offline trades: kept, uploaded later, never lost before settlement.

use crate::iso8583::cup::CupMessage;
use crate::iso8583::trade::TradeKind;
use crate::iso8583::ResponseCode;
use crate::terminal::journal::EntryStatus;
use crate::terminal::printer::SlipKind;
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;

fn offline_sale(amount: u64) -> TerminalCommand {
    TerminalCommand::OfflineSale { card: card(), amount: fen(amount) }
}

#[test]
fn an_offline_sale_sends_nothing_and_prints_its_slip() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    assert!(rig.nothing_sent());
    assert!(rig.saw(|e| matches!(e, E::OfflineQueued { kind: TradeKind::OfflineSaleUpload, .. })));
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Approval, .. })));
    assert_eq!(rig.terminal.persistent().offline().len(), 1);
}

#[test]
fn an_offline_upload_answered_94_counts_as_uploaded() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(TerminalCommand::SendPending);
    let upload = rig.next_trade();
    assert_eq!(rig.mtis().last().unwrap(), "0220");
    let answer = rig.host.answer_trade(&upload, ResponseCode::DUPLICATE);
    rig.deliver(&answer);
    assert!(rig
        .saw(|e| matches!(e, E::OfflineUploaded { code, .. } if *code == ResponseCode::DUPLICATE)));
    assert!(rig.terminal.persistent().offline().is_empty());
    let entry = rig.terminal.persistent().journal().find(upload.stan).unwrap();
    assert_eq!(entry.status, EntryStatus::OfflineUploaded);
}

#[test]
fn with_next_online_the_upload_goes_before_the_next_sale() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(sale(100));
    rig.answer_all();
    assert_eq!(rig.mtis(), ["0800", "0220", "0200"]);
    rig.command(TerminalCommand::Settle);
    rig.answer_all();
    assert_eq!(rig.mtis(), ["0800", "0220", "0200", "0500"]);
}

#[test]
fn before_settlement_only_keeps_offline_trades_back_until_the_0500() {
    let config = TerminalConfig {
        offline_upload: crate::terminal::OfflineUpload::BeforeSettlementOnly,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config);
    rig.command(offline_sale(300));
    rig.command(sale(100));
    rig.answer_all();
    assert_eq!(rig.mtis(), ["0800", "0200"], "the host does not know the offline sale yet");
    assert_eq!(rig.terminal.persistent().offline().len(), 1);
    rig.command(TerminalCommand::Settle);
    rig.answer_all();
    assert_eq!(rig.mtis(), ["0800", "0200", "0220", "0500"], "but it goes before the 0500");
}

#[test]
fn no_0500_leaves_while_an_upload_goes_unanswered() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(TerminalCommand::Settle);
    let _upload = rig.next_trade();
    rig.time_out();
    assert!(rig.saw(|e| matches!(e, E::OfflineUploadDeferred { code: None, .. })));
    assert!(rig.saw(|e| matches!(
        e,
        E::SettlementFailed { reason: FailureReason::AdvicesNotAcknowledged { .. }, .. }
    )));
    assert!(rig.nothing_sent(), "no 0500");
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0220", "0500"], "the same upload again, then the totals");
}

#[test]
fn an_upload_refused_by_the_host_is_listed_after_settlement_and_not_counted() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(offline_sale(400));
    rig.command(TerminalCommand::Settle);
    let first = rig.next_trade();
    let answer = rig.host.answer_trade(&first, ResponseCode::new(*b"51"));
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::OfflineUploadFailed { .. })));
    rig.answer_all();
    let CupMessage::Settlement(totals) = rig.host.read(&rig.wire[3].clone()) else {
        panic!("0500")
    };
    assert_eq!((totals.totals.debit_amount, totals.totals.debit_count), (400, 1));
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::OfflineFailures, listed, .. } if listed == &vec![first.stan])));
}

#[test]
fn electronic_cash_is_offline_when_the_chip_balance_covers_it_else_an_online_sale_with_pin() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::ECash {
        card: card(),
        amount: fen(500),
        offline_balance: fen(1000),
        pin: None,
    });
    assert!(rig.nothing_sent());
    assert!(rig.saw(|e| matches!(e, E::OfflineQueued { kind: TradeKind::ECashUpload, .. })));
    rig.command(TerminalCommand::ECash {
        card: card(),
        amount: fen(5000),
        offline_balance: fen(1000),
        pin: None,
    });
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::OfflineBalanceTooSmall })));
    rig.command(TerminalCommand::ECash {
        card: card(),
        amount: fen(5000),
        offline_balance: fen(1000),
        pin: Some("123456".into()),
    });
    let upload = rig.next_trade();
    assert_eq!(upload.kind(), TradeKind::ECashUpload);
    assert_eq!(rig.mtis().last().unwrap(), "0320");
    let answer = rig.host.answer_trade(&upload, ResponseCode::APPROVED);
    rig.deliver(&answer);
    let online = rig.next_trade();
    assert_eq!(online.kind(), TradeKind::Sale);
    assert!(online.pin_block.is_some());
}

#[test]
fn an_upload_answered_77_stays_queued_until_the_terminal_signs_in_again() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(TerminalCommand::SendPending);
    let upload = rig.next_trade();
    let answer = rig.host.answer_trade(&upload, ResponseCode::SIGN_IN_TO_NETWORK);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::OfflineUploadDeferred { code: Some(_), .. })));
    assert!(!rig.saw(|e| matches!(e, E::OfflineUploadFailed { .. })), "not the cardholder's fault");
    assert!(rig.saw(|e| matches!(e, E::SignInRequired { .. })));
    assert_eq!(rig.terminal.persistent().offline().len(), 1);
    rig.sign_in();
    rig.command(TerminalCommand::Settle);
    assert_eq!(rig.answer_all(), ["0220", "0500"]);
    assert!(rig.terminal.persistent().offline().is_empty());
}

#[test]
fn a_swapped_device_loses_its_store_but_keeps_the_numbering() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(offline_sale(400));
    let batch = rig.terminal.persistent().batch();
    let next_stan = rig.terminal.persistent().next_stan();
    rig.command(TerminalCommand::Replace);
    let store = rig.terminal.persistent();
    assert!(store.offline().is_empty() && store.journal().is_empty());
    assert!(!store.keys_present(), "the new device must sign in");
    assert_eq!(store.batch(), batch.next(), "the host never sees a batch number reused");
    assert_eq!(store.next_stan(), next_stan);
    assert!(rig.terminal.is_powered());
    assert!(rig.saw(|e| matches!(
        e,
        E::Replaced { offline_lost: 2, journal_lost: 2, reversal_lost: false, .. }
    )));
}

/// Regression (found by a swarm seed of faults/backbone.yaml): an upload's
/// 0220 had its merchant id flipped on the line, the switch refused what it
/// read (97, for merchant ...002), and the terminal took that refusal as its
/// upload's and listed it failed — while the issuer held the trade from an
/// earlier copy whose answer was lost: debited, settled as failed. An answer
/// for another merchant is not this upload's: it stays queued.
#[test]
fn an_answer_to_a_damaged_copy_of_an_upload_is_not_its_verdict() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(offline_sale(300));
    rig.command(TerminalCommand::SendPending);
    let upload = rig.next_trade();
    let mut damaged = upload.clone();
    damaged.merchant = crate::iso8583::values::MerchantId::new("898100000000002").unwrap();
    let refusal = rig.host.answer_trade(&damaged, ResponseCode::TERMINAL_NOT_REGISTERED);
    rig.deliver(&refusal);
    assert!(!rig.saw(|e| matches!(e, E::OfflineUploadFailed { .. })), "not its verdict");
    assert_eq!(rig.terminal.persistent().offline().len(), 1, "still queued");
    let answer = rig.host.answer_trade(&upload, ResponseCode::DUPLICATE);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::OfflineUploaded { .. })));
}

/// The chip pays only what it holds: an e-cash sale above the chip's
/// offline balance goes online with the PIN; the `ecash_overdraws`
/// mutation pays it offline and takes the chip below zero.
#[test]
fn electronic_cash_never_takes_the_chip_below_zero_unless_the_mutation_overdraws() {
    let ecash = |pin: Option<&str>| TerminalCommand::ECash {
        card: card(),
        amount: fen(1500),
        offline_balance: fen(1000),
        pin: pin.map(str::to_string),
    };
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(ecash(Some("123456")));
    assert!(!rig.saw(|e| matches!(e, E::OfflineQueued { .. })));
    assert_eq!(rig.next_trade().kind(), TradeKind::Sale);

    let config = TerminalConfig {
        mutation: crate::terminal::config::TerminalMutation::EcashOverdraws,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config);
    rig.command(ecash(Some("123456")));
    assert!(rig.nothing_sent());
    assert!(rig.saw(|e| matches!(e, E::OfflineQueued { kind: TradeKind::ECashUpload, .. })));
}

/// DOMAIN.md, Response codes: "79 | offline data did not reconcile |
/// re-upload, settle". 79 is the host's verdict on the trade (a copy gets 79
/// again), so the terminal does not queue it again: it is not counted, the
/// settlement goes ahead, and the failures slip after it lists the trade.
#[test]
fn an_ecash_upload_answered_79_is_listed_after_settlement_and_the_batch_settles() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::ECash {
        card: card(),
        amount: fen(500),
        offline_balance: fen(1000),
        pin: None,
    });
    rig.command(TerminalCommand::Settle);
    let upload = rig.next_trade();
    assert_eq!(upload.kind(), TradeKind::ECashUpload);
    let answer = rig.host.answer_trade(&upload, ResponseCode::OFFLINE_NOT_RECONCILED);
    rig.deliver(&answer);
    assert!(rig.saw(|e| matches!(e, E::OfflineUploadFailed { code, .. } if *code == ResponseCode::OFFLINE_NOT_RECONCILED)));
    assert!(rig.terminal.persistent().offline().is_empty(), "not queued again");
    assert_eq!(rig.answer_all(), ["0500"]);
    let CupMessage::Settlement(totals) = rig.host.read(&rig.wire[2].clone()) else {
        panic!("0500")
    };
    assert_eq!(totals.totals.debit_count, 0, "not counted");
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::OfflineFailures, listed, .. } if listed == &vec![upload.stan])));
}
