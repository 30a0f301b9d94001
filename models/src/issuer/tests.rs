//! Stories of the issuer, told through frames and events.

use super::*;
use crate::actor::{Actor, LinkKeys, Node, TradeKey};
use crate::iso8583::cup::CupMessage;
use crate::iso8583::mac::MacKey;
use crate::iso8583::pin::encrypt_pin;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::*;
use crate::iso8583::values::*;
use crate::iso8583::{Frame, Header, Tpdu};
use crate::time::Instant;
use crate::wire::{receive, seal, SOFTWARE_VERSION};

const PAN: &str = "6222021234567890123";
const OTHER_PAN: &str = "6222029999999999991";
const PIN: &str = "123456";

fn link() -> LinkKeysConfig {
    LinkKeysConfig::from_hex("0123456789ABCDEF", "FEDCBA9876543210")
}

fn pan() -> Pan {
    Pan::new(PAN).unwrap()
}

fn account(pan: &str, balance_fen: i64) -> CardAccount {
    CardAccount {
        pan: Pan::new(pan).unwrap(),
        balance_fen,
        pin: PIN.into(),
        offline_balance_fen: 50_000,
        status: CardStatus::Active,
        expiry: None,
    }
}

fn amount(fen: u64) -> AmountFen {
    AmountFen::new(fen).unwrap()
}

fn request(stan: u32, trade: Trade) -> FinancialRequest {
    FinancialRequest {
        trade,
        card: CardRead::swiped(pan()),
        pin_block: None,
        stan: Stan::new(stan).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: TerminalId::new("T0000001").unwrap(),
        merchant: MerchantId::new("M00000000000001").unwrap(),
    }
}

fn sale(stan: u32, fen: u64) -> FinancialRequest {
    request(stan, Trade::Sale { amount: amount(fen) })
}

fn date() -> MonthDay {
    MonthDay::new(11, 21).unwrap()
}

struct Rig {
    issuer: Issuer,
    keys: LinkKeys,
    mak: MacKey,
    now: Instant,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(|_| {})
    }

    fn with(adjust: impl FnOnce(&mut IssuerConfig)) -> Rig {
        let mut config = IssuerConfig::new(7, link());
        config.cards.push(account(PAN, 100_000));
        config.cards.push(account(OTHER_PAN, 100_000));
        adjust(&mut config);
        let keys = config.link.link_keys();
        Rig {
            issuer: Issuer::new(config, Instant::ZERO).unwrap(),
            mak: keys.mac_key(),
            keys,
            now: Instant::from_millis(1_000),
        }
    }

    fn frame(&self, message: &CupMessage) -> Vec<u8> {
        seal(message, Tpdu::new(2, 1), Some(&self.mak))
    }

    /// Delivers raw bytes and returns the answer, if any, checked for its MAC.
    fn deliver(&mut self, bytes: &[u8]) -> Option<TradeResponse> {
        self.issuer.handle_message(self.now, Node::Network, bytes);
        let out = self.issuer.poll_transmit()?;
        assert_eq!(out.to, Node::Network);
        assert!(self.issuer.poll_transmit().is_none(), "one answer per request");
        let inbound = receive(&out.bytes, Some(&self.mak)).expect("the issuer's answers decode");
        assert!(inbound.mac.is_valid(), "the issuer seals its answers under the link MAK");
        assert_eq!(inbound.frame.tpdu, Tpdu::new(1, 2), "the TPDU is swapped");
        match inbound.message {
            CupMessage::TradeAnswer(response) => Some(response),
            other => panic!("not a trade answer: {other:?}"),
        }
    }

    fn send(&mut self, request: &FinancialRequest) -> TradeResponse {
        let bytes = self.frame(&CupMessage::Trade(request.clone()));
        let response = self.deliver(&bytes).expect("a request is answered");
        assert!(!response.reversal);
        assert_eq!(response.stan, request.stan);
        response
    }

    fn reverse(&mut self, original: &FinancialRequest) -> TradeResponse {
        let reversal = ReversalRequest::new(original, ResponseCode::ISSUER_TIMEOUT);
        let bytes = self.frame(&CupMessage::Reversal(reversal));
        let response = self.deliver(&bytes).expect("a reversal is answered");
        assert!(response.reversal);
        response
    }

    fn code(&mut self, request: &FinancialRequest) -> ResponseCode {
        self.send(request).response_code
    }

    fn balance(&self) -> i64 {
        self.issuer.card(&pan()).unwrap().balance_fen
    }

    fn events(&mut self) -> Vec<IssuerEventKind> {
        std::iter::from_fn(|| self.issuer.poll_event()).map(|event| event.kind).collect()
    }

    fn with_pin(&self, mut request: FinancialRequest, pin: &str) -> FinancialRequest {
        request.pin_block = Some(encrypt_pin(&self.keys.pik, &request.card.pan, pin).unwrap());
        request.card.entry_mode = EntryMode::SWIPED_PIN;
        request
    }
}

fn moved(events: &[IssuerEventKind]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|event| match event {
            IssuerEventKind::Moved { delta_fen, .. } => Some(*delta_fen),
            _ => None,
        })
        .collect()
}

#[test]
fn approve_a_sale_and_debit_once() {
    let mut rig = Rig::new();
    let sale = sale(1, 2_500);
    let response = rig.send(&sale);
    assert_eq!(response.response_code, ResponseCode::APPROVED);
    assert_eq!(
        response.rrn,
        Some(Rrn::new("070000000001").unwrap()),
        "issuer index n2 + counter n10"
    );
    assert_eq!(response.auth_code, Some(AuthCode::new("000001").unwrap()));
    assert_eq!(response.amount, Some(amount(2_500)));
    assert_eq!(rig.balance(), 97_500);
    let events = rig.events();
    assert_eq!(moved(&events), [-2_500]);
    assert!(events.contains(&IssuerEventKind::Approved {
        key: TradeKey::of(&sale),
        kind: TradeKind::Sale,
        pan: pan(),
        amount_fen: 2_500
    }));
    assert_eq!(rig.issuer.card(&pan()).unwrap().net_debit_fen(), 2_500);
}

#[test]
fn the_same_request_twice_is_94_and_debited_once() {
    let mut rig = Rig::new();
    let sale = sale(1, 2_500);
    assert_eq!(rig.code(&sale), ResponseCode::APPROVED);
    rig.events();
    let again = rig.send(&sale);
    assert_eq!(again.response_code, ResponseCode::DUPLICATE);
    assert_eq!(again.rrn, None, "a duplicate is not a new approval");
    assert_eq!(rig.balance(), 97_500, "the original stands, no second debit");
    let events = rig.events();
    assert!(events.contains(&IssuerEventKind::Duplicate { key: TradeKey::of(&sale) }));
    assert!(moved(&events).is_empty());
}

#[test]
fn reversal_of_an_approved_sale_returns_the_money_once_and_a_repeat_changes_nothing() {
    let mut rig = Rig::new();
    let sale = sale(1, 2_500);
    rig.send(&sale);
    rig.events();
    let first = rig.reverse(&sale);
    assert_eq!(first.response_code, ResponseCode::APPROVED);
    assert_eq!(first.stan, sale.stan, "the answer names the original's trace number");
    assert_eq!(rig.balance(), 100_000);
    let events = rig.events();
    assert_eq!(moved(&events), [2_500]);
    assert!(events.contains(&IssuerEventKind::Reversed {
        key: TradeKey::of(&sale),
        amount_fen: 2_500,
        repeat: false
    }));

    let repeat = rig.reverse(&sale);
    assert_eq!(repeat.response_code, ResponseCode::APPROVED, "terminals take 00 as done");
    assert_eq!(rig.balance(), 100_000, "a repeated reversal changes nothing");
    let events = rig.events();
    assert!(moved(&events).is_empty());
    assert!(events.contains(&IssuerEventKind::ReversalIgnored {
        key: TradeKey::of(&sale),
        why: ReversalIgnoredWhy::Repeat,
        code: ResponseCode::APPROVED
    }));
}

#[test]
fn with_the_unsafe_policy_a_repeated_reversal_credits_twice() {
    let mut rig = Rig::with(|config| config.policy.reversal_idempotent = false);
    let sale = sale(1, 2_500);
    rig.send(&sale);
    assert_eq!(rig.reverse(&sale).response_code, ResponseCode::APPROVED);
    rig.events();
    assert_eq!(rig.reverse(&sale).response_code, ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 102_500, "the field bug: the cardholder is credited twice");
    let events = rig.events();
    assert!(events.contains(&IssuerEventKind::Reversed {
        key: TradeKey::of(&sale),
        amount_fen: 2_500,
        repeat: true
    }));
    assert_eq!(rig.issuer.card(&pan()).unwrap().net_debit_fen(), -2_500);
}

#[test]
fn reversal_of_an_unknown_trade_is_25_and_its_late_original_is_refused() {
    let mut rig = Rig::new();
    let sale = sale(9, 2_500);
    assert_eq!(rig.reverse(&sale).response_code, ResponseCode::ORIGINAL_NOT_FOUND);
    let events = rig.events();
    assert!(events.contains(&IssuerEventKind::ReversalIgnored {
        key: TradeKey::of(&sale),
        why: ReversalIgnoredWhy::OriginalNotFound,
        code: ResponseCode::ORIGINAL_NOT_FOUND
    }));
    assert!(events.contains(&IssuerEventKind::ReversalBeforeOriginal { key: TradeKey::of(&sale) }));
    assert_eq!(
        rig.code(&sale),
        ResponseCode::DUPLICATE,
        "the original overtaken by its reversal never debits"
    );
    assert_eq!(rig.balance(), 100_000);
    assert_eq!(rig.reverse(&sale).response_code, ResponseCode::ORIGINAL_NOT_FOUND);
}

#[test]
fn reversal_of_a_declined_trade_is_12() {
    let mut rig = Rig::new();
    let big = sale(1, 200_000);
    assert_eq!(rig.code(&big), ResponseCode::INSUFFICIENT_FUNDS);
    rig.events();
    assert_eq!(rig.reverse(&big).response_code, ResponseCode::UNSUPPORTED_BY_ISSUER);
    assert_eq!(rig.balance(), 100_000);
    let events = rig.events();
    assert!(moved(&events).is_empty());
    assert!(events.iter().any(|e| matches!(
        e,
        IssuerEventKind::ReversalIgnored { why: ReversalIgnoredWhy::OriginalDeclined, .. }
    )));
}

#[test]
fn three_wrong_pins_lock_the_card_with_75_for_a_day() {
    let mut rig = Rig::new();
    let mut codes = Vec::new();
    for stan in 1..=3 {
        let request = rig.with_pin(sale(stan, 100), "000000");
        codes.push(rig.code(&request));
    }
    assert_eq!(
        codes,
        [ResponseCode::WRONG_PIN, ResponseCode::WRONG_PIN, ResponseCode::PIN_TRIES_EXCEEDED]
    );
    let events = rig.events();
    let lock = events.iter().find_map(|e| match e {
        IssuerEventKind::PinLocked { pan, until } => Some((*pan, *until)),
        _ => None,
    });
    assert_eq!(lock, Some((pan(), Instant::from_millis(1_000 + 86_400_000))));

    let right = rig.with_pin(sale(4, 100), PIN);
    assert_eq!(
        rig.code(&right),
        ResponseCode::PIN_TRIES_EXCEEDED,
        "a locked card is 75 even with the right PIN"
    );
    rig.now = Instant::from_millis(1_000 + 86_400_000);
    let later = rig.with_pin(sale(5, 100), PIN);
    assert_eq!(rig.code(&later), ResponseCode::APPROVED, "the lock lasts pin_lock_ms");
    assert_eq!(rig.balance(), 99_900);
}

#[test]
fn a_right_pin_resets_the_count_and_a_garbled_block_is_99() {
    let mut rig = Rig::new();
    let wrong = rig.with_pin(sale(1, 100), "999999");
    assert_eq!(rig.code(&wrong), ResponseCode::WRONG_PIN);
    let right = rig.with_pin(sale(2, 100), PIN);
    assert_eq!(rig.code(&right), ResponseCode::APPROVED);
    for stan in 3..=4 {
        let wrong = rig.with_pin(sale(stan, 100), "999999");
        assert_eq!(
            rig.code(&wrong),
            ResponseCode::WRONG_PIN,
            "the count restarted after the right PIN"
        );
    }
    let mut garbled = sale(5, 100);
    garbled.pin_block = Some([0xFF; 8]);
    assert_eq!(rig.code(&garbled), ResponseCode::PIN_FORMAT_ERROR);
}

#[test]
fn card_status_declines_lost_41_stolen_43_expired_54_restricted_62() {
    for (status, code) in [
        (CardStatus::Lost, ResponseCode::LOST_CARD),
        (CardStatus::Stolen, ResponseCode::STOLEN_CARD),
        (CardStatus::Expired, ResponseCode::EXPIRED_CARD),
        (CardStatus::Restricted, ResponseCode::RESTRICTED_CARD),
    ] {
        let mut rig = Rig::with(|config| config.cards[0].status = status);
        assert_eq!(rig.code(&sale(1, 100)), code, "{status:?}");
        assert_eq!(rig.balance(), 100_000);
        let events = rig.events();
        assert!(events.contains(&IssuerEventKind::Declined {
            key: TradeKey::of(&sale(1, 100)),
            kind: TradeKind::Sale,
            pan: pan(),
            code
        }));
    }
}

#[test]
fn an_unknown_card_is_14_and_a_wrong_expiry_is_54() {
    let mut rig = Rig::with(|config| config.cards[0].expiry = Some("2912".into()));
    let mut stranger = sale(1, 100);
    stranger.card.pan = Pan::new("6200001111111111").unwrap();
    assert_eq!(rig.code(&stranger), ResponseCode::INVALID_CARD);
    let mut wrong_expiry = sale(2, 100);
    wrong_expiry.card.expiry = Expiry::new(28, 12);
    assert_eq!(rig.code(&wrong_expiry), ResponseCode::EXPIRED_CARD);
    let mut right_expiry = sale(3, 100);
    right_expiry.card.expiry = Expiry::new(29, 12);
    assert_eq!(rig.code(&right_expiry), ResponseCode::APPROVED);
}

#[test]
fn insufficient_funds_is_51_and_a_pre_auth_hold_counts_against_them() {
    let mut rig = Rig::new();
    assert_eq!(rig.code(&sale(1, 100_001)), ResponseCode::INSUFFICIENT_FUNDS);
    assert_eq!(
        rig.code(&request(2, Trade::PreAuth { amount: amount(60_000) })),
        ResponseCode::APPROVED
    );
    assert_eq!(
        rig.code(&sale(3, 50_000)),
        ResponseCode::INSUFFICIENT_FUNDS,
        "40000 available after the hold"
    );
    assert_eq!(rig.code(&sale(4, 40_000)), ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 60_000);
}

#[test]
fn limits_min_amount_13_single_amount_61_frequency_65() {
    let mut rig = Rig::with(|config| {
        config.limits.min_amount_fen = 1_000;
        config.limits.single_amount_max_fen = 50_000;
        config.limits.daily_count_max = 2;
    });
    assert_eq!(rig.code(&sale(1, 999)), ResponseCode::INVALID_AMOUNT);
    assert_eq!(rig.code(&sale(2, 50_001)), ResponseCode::EXCEEDS_AMOUNT_LIMIT);
    assert_eq!(rig.code(&sale(3, 1_000)), ResponseCode::APPROVED);
    assert_eq!(rig.code(&sale(4, 1_000)), ResponseCode::APPROVED);
    assert_eq!(
        rig.code(&sale(5, 1_000)),
        ResponseCode::EXCEEDS_FREQUENCY_LIMIT,
        "twice a day at one merchant"
    );
    let mut elsewhere = sale(6, 1_000);
    elsewhere.merchant = MerchantId::new("M00000000000002").unwrap();
    assert_eq!(rig.code(&elsewhere), ResponseCode::APPROVED, "the count is per merchant");
    rig.now = Instant::from_millis(86_400_000 + 5);
    assert_eq!(rig.code(&sale(7, 1_000)), ResponseCode::APPROVED, "and per business day");
}

#[test]
fn a_bad_mac_is_answered_a0_and_changes_nothing() {
    let mut rig = Rig::new();
    let sale = sale(1, 2_500);
    let mut bytes = rig.frame(&CupMessage::Trade(sale.clone()));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let response = rig.deliver(&bytes).expect("answered");
    assert_eq!(response.response_code, ResponseCode::MAC_ERROR);
    assert_eq!(rig.balance(), 100_000);
    assert!(rig
        .events()
        .contains(&IssuerEventKind::MacRejected { key: Some(TradeKey::of(&sale)) }));
    assert_eq!(
        rig.code(&sale),
        ResponseCode::APPROVED,
        "nothing was booked, so the good copy is no duplicate"
    );

    // A reversal without its MAC is refused too, and the sale stands.
    let unsealed = seal(
        &CupMessage::Reversal(ReversalRequest::new(&sale, ResponseCode::ISSUER_TIMEOUT)),
        Tpdu::new(2, 1),
        None,
    );
    let response = rig.deliver(&unsealed).expect("answered");
    assert!(response.reversal);
    assert_eq!(response.response_code, ResponseCode::MAC_ERROR);
    assert_eq!(rig.balance(), 97_500);
}

#[test]
fn garbage_bytes_and_foreign_senders_are_dropped_without_panic() {
    let mut rig = Rig::new();
    for garbage in [&b""[..], b"\x00", b"\x00\x05hello", &[0xFF; 64]] {
        assert!(rig.deliver(garbage).is_none());
    }
    let mut bytes = rig.frame(&CupMessage::Trade(sale(1, 100)));
    bytes.truncate(bytes.len() - 3);
    assert!(rig.deliver(&bytes).is_none());
    let good = rig.frame(&CupMessage::Trade(sale(2, 100)));
    rig.issuer.handle_message(rig.now, Node::Switch, &good);
    assert!(rig.issuer.poll_transmit().is_none(), "issuers talk only to the network");
    let events = rig.events();
    assert_eq!(
        events.iter().filter(|e| matches!(e, IssuerEventKind::FrameDropped { .. })).count(),
        6
    );
    assert_eq!(rig.balance(), 100_000);
}

#[test]
fn an_incomplete_message_is_answered_30() {
    let mut rig = Rig::new();
    let mut message = sale(1, 100).to_message();
    message.remove(4);
    let mut frame = Frame { tpdu: Tpdu::new(2, 1), header: Header::new(SOFTWARE_VERSION), message };
    let mut bytes = Vec::new();
    rig.mak.seal(&mut frame, &mut bytes);
    rig.issuer.handle_message(rig.now, Node::Network, &bytes);
    let out = rig.issuer.poll_transmit().expect("a format error is answered");
    let inbound = receive(&out.bytes, Some(&rig.mak)).unwrap();
    assert!(inbound.mac.is_valid());
    assert_eq!(inbound.frame.message.mti().to_string(), "0210");
    assert_eq!(inbound.frame.message.get(39), Some(&b"30"[..]));
    assert_eq!(inbound.frame.message.get(11), Some(&b"000001"[..]));
    assert!(rig
        .events()
        .iter()
        .any(|e| matches!(e, IssuerEventKind::FormatRejected { answered: true, .. })));
    assert_eq!(rig.balance(), 100_000);
}

#[test]
fn a_void_credits_its_original_and_its_reversal_debits_again() {
    let mut rig = Rig::new();
    let sale = sale(1, 2_500);
    let approval = rig.send(&sale);
    let void = request(
        2,
        Trade::Void {
            amount: amount(2_500),
            original_rrn: approval.rrn.unwrap(),
            original_auth: approval.auth_code,
            original_batch: sale.batch,
            original_stan: sale.stan,
        },
    );
    assert_eq!(rig.code(&void), ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 100_000);
    let mut second = void.clone();
    second.stan = Stan::new(3).unwrap();
    assert_eq!(rig.code(&second), ResponseCode::UNSUPPORTED_BY_ISSUER, "a sale is voided once");
    rig.events();
    assert_eq!(rig.reverse(&void).response_code, ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 97_500, "reversing the void puts the sale back");
    assert_eq!(moved(&rig.events()), [-2_500]);

    let mut orphan = void.clone();
    orphan.stan = Stan::new(4).unwrap();
    if let Trade::Void { original_stan, .. } = &mut orphan.trade {
        *original_stan = Stan::new(77).unwrap();
    }
    assert_eq!(rig.code(&orphan), ResponseCode::ORIGINAL_NOT_FOUND);
}

#[test]
fn a_refund_finds_its_original_by_rrn_and_never_returns_more_than_it() {
    let mut rig = Rig::new();
    let approval = rig.send(&sale(1, 3_000));
    let rrn = approval.rrn.unwrap();
    let refund = |stan, fen| {
        request(
            stan,
            Trade::Refund { amount: amount(fen), original_rrn: rrn, original_date: date() },
        )
    };
    assert_eq!(rig.code(&refund(2, 2_000)), ResponseCode::APPROVED);
    assert_eq!(rig.code(&refund(3, 1_500)), ResponseCode::ORIGINAL_AMOUNT_INCORRECT, "3500 > 3000");
    assert_eq!(rig.code(&refund(4, 1_000)), ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 100_000);
    let unknown = request(
        5,
        Trade::Refund {
            amount: amount(1),
            original_rrn: Rrn::new("079999999999").unwrap(),
            original_date: date(),
        },
    );
    assert_eq!(rig.code(&unknown), ResponseCode::ORIGINAL_NOT_FOUND);
}

#[test]
fn a_pre_auth_holds_and_its_completion_captures() {
    let mut rig = Rig::new();
    let pre_auth = request(1, Trade::PreAuth { amount: amount(30_000) });
    let approval = rig.send(&pre_auth);
    assert_eq!(approval.response_code, ResponseCode::APPROVED);
    let card = rig.issuer.card(&pan()).unwrap();
    assert_eq!((card.balance_fen, card.held_fen), (100_000, 30_000), "a hold moves no money");
    let completion = |stan, fen| {
        request(
            stan,
            Trade::Completion {
                amount: amount(fen),
                original_auth: approval.auth_code.unwrap(),
                original_date: date(),
            },
        )
    };
    assert_eq!(
        rig.code(&completion(2, 34_501)),
        ResponseCode::ORIGINAL_AMOUNT_INCORRECT,
        "over the hold's 115 % allowance"
    );
    rig.events();
    assert_eq!(rig.code(&completion(3, 25_000)), ResponseCode::APPROVED);
    let card = rig.issuer.card(&pan()).unwrap();
    assert_eq!(
        (card.balance_fen, card.held_fen),
        (75_000, 0),
        "the hold released, the completion debited"
    );
    assert_eq!(moved(&rig.events()), [30_000, -25_000]);
    assert_eq!(
        rig.code(&completion(4, 1_000)),
        ResponseCode::ORIGINAL_NOT_FOUND,
        "a pre-auth completes once"
    );
    assert_eq!(rig.reverse(&pre_auth).response_code, ResponseCode::UNSUPPORTED_BY_ISSUER);
}

#[test]
fn a_balance_inquiry_answers_field_54_and_moves_no_money() {
    let mut rig = Rig::new();
    rig.send(&request(1, Trade::PreAuth { amount: amount(10_000) }));
    let response = rig.send(&rig.with_pin(request(2, Trade::BalanceInquiry), PIN));
    assert_eq!(response.response_code, ResponseCode::APPROVED);
    assert_eq!(response.balance, Some(90_000), "the available balance");
    assert_eq!(rig.balance(), 100_000);
}

#[test]
fn an_ecash_upload_debits_the_offline_balance_as_sent() {
    let mut rig = Rig::with(|config| config.cards[0].status = CardStatus::Lost);
    let upload = |stan, fen| {
        request(
            stan,
            Trade::ECash {
                amount: amount(fen),
                time: TimeOfDay::new(10, 0, 0).unwrap(),
                date: date(),
                certificate: IccData::new(vec![0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
            },
        )
    };
    assert_eq!(
        rig.code(&upload(1, 20_000)),
        ResponseCode::APPROVED,
        "offline: accepted whatever the card's state now"
    );
    let card = rig.issuer.card(&pan()).unwrap();
    assert_eq!((card.balance_fen, card.offline_balance_fen), (100_000, 30_000));
    assert_eq!(
        rig.code(&upload(1, 20_000)),
        ResponseCode::DUPLICATE,
        "uploaded twice, debited once"
    );
    assert_eq!(rig.code(&upload(2, 30_000)), ResponseCode::APPROVED, "down to zero");
    assert_eq!(rig.issuer.card(&pan()).unwrap().offline_balance_fen, 0);
}

/// DOMAIN.md, Response codes: "79 | offline data did not reconcile". A chip
/// pays only what it holds and the issuer's record of it is debited after
/// the chip, so an e-cash upload above that record cannot be true: it is
/// answered 79, moves no money, and a copy of it gets 79 again.
#[test]
fn an_ecash_upload_past_the_issuers_record_of_the_chip_is_answered_79() {
    let mut rig = Rig::new();
    let upload = |stan, fen| {
        request(
            stan,
            Trade::ECash {
                amount: amount(fen),
                time: TimeOfDay::new(10, 0, 0).unwrap(),
                date: date(),
                certificate: IccData::new(vec![0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
            },
        )
    };
    assert_eq!(rig.code(&upload(1, 50_001)), ResponseCode::OFFLINE_NOT_RECONCILED);
    assert_eq!(rig.issuer.card(&pan()).unwrap().offline_balance_fen, 50_000, "nothing moved");
    assert_eq!(rig.code(&upload(1, 50_001)), ResponseCode::OFFLINE_NOT_RECONCILED, "a copy");
    assert_eq!(rig.code(&upload(2, 50_000)), ResponseCode::APPROVED);
    assert_eq!(rig.issuer.card(&pan()).unwrap().offline_balance_fen, 0);
}

#[test]
fn an_offline_sale_upload_is_accepted_past_the_balance() {
    let mut rig = Rig::new();
    let offline = request(
        1,
        Trade::OfflineSale {
            amount: amount(150_000),
            time: TimeOfDay::new(9, 0, 0).unwrap(),
            date: date(),
        },
    );
    let response = rig.send(&offline);
    assert_eq!(response.kind, TradeKind::OfflineSaleUpload);
    assert_eq!(response.response_code, ResponseCode::APPROVED);
    assert_eq!(rig.balance(), -50_000);
}

#[test]
fn clearing_returns_a_debit_not_in_the_list_once() {
    let mut rig = Rig::new();
    let kept = sale(1, 1_000);
    let lost = sale(2, 2_000);
    let reversed = sale(3, 4_000);
    rig.send(&kept);
    rig.send(&lost);
    rig.send(&reversed);
    rig.reverse(&reversed);
    rig.events();
    rig.issuer
        .handle_command(rig.now, IssuerCommand::Reconcile { complete: vec![TradeKey::of(&kept)] });
    let events = rig.events();
    assert!(events.contains(&IssuerEventKind::Cleared { key: TradeKey::of(&kept) }));
    assert!(events.contains(&IssuerEventKind::ReturnedAtClearing {
        key: TradeKey::of(&lost),
        pan: pan(),
        amount_fen: 2_000
    }));
    assert_eq!(moved(&events), [2_000], "the reversed sale has nothing left to return");
    assert_eq!(rig.balance(), 99_000);

    rig.issuer.handle_command(rig.now, IssuerCommand::Reconcile { complete: vec![] });
    assert!(rig.events().is_empty(), "each debit is reconciled once");
    assert_eq!(rig.reverse(&lost).response_code, ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 99_000, "a reversal after the return gives nothing twice");
}

#[test]
fn loading_ecash_moves_money_between_purses_up_to_the_chip_limit() {
    let mut rig = Rig::new();
    rig.issuer.handle_command(rig.now, IssuerCommand::LoadECash { pan: pan(), amount_fen: 50_000 });
    let card = rig.issuer.card(&pan()).unwrap();
    assert_eq!(
        (card.balance_fen, card.offline_balance_fen, card.net_debit_fen()),
        (50_000, 100_000, 0)
    );
    rig.events();
    rig.issuer.handle_command(rig.now, IssuerCommand::LoadECash { pan: pan(), amount_fen: 1 });
    assert!(matches!(rig.events()[..], [IssuerEventKind::CommandRefused { .. }]));
}

#[test]
fn configuration_is_checked_before_the_issuer_starts() {
    let mut config = IssuerConfig::new(7, link());
    config.cards.push(account(PAN, 1));
    config.cards.push(account(PAN, 2));
    assert!(matches!(
        Issuer::new(config, Instant::ZERO).unwrap_err(),
        IssuerConfigError::DuplicateCard { .. }
    ));
    let mut config = IssuerConfig::new(7, link());
    config.cards.push(CardAccount { offline_balance_fen: 100_001, ..account(PAN, 1) });
    assert!(matches!(
        Issuer::new(config, Instant::ZERO).unwrap_err(),
        IssuerConfigError::OfflineBalance { .. }
    ));
}

/// Regression: an offline upload accepted past a balance already at the
/// field 54 bound took the account to 13 digits, and the next balance
/// inquiry panicked building its answer.
#[test]
fn a_balance_past_field_54_is_reported_at_its_bound_not_a_panic() {
    let bound = AmountFen::MAX as i64;
    let mut rig = Rig::with(|config| config.cards[0].balance_fen = -bound);
    let offline = request(
        1,
        Trade::OfflineSale {
            amount: amount(150_000),
            time: TimeOfDay::new(9, 0, 0).unwrap(),
            date: date(),
        },
    );
    assert_eq!(rig.code(&offline), ResponseCode::APPROVED);
    assert_eq!(rig.balance(), -bound - 150_000, "the ledger keeps every fen");
    let response = rig.send(&rig.with_pin(request(2, Trade::BalanceInquiry), PIN));
    assert_eq!(response.response_code, ResponseCode::APPROVED);
    assert_eq!(response.balance, Some(-bound), "field 54 carries twelve digits");
}

/// A re-sent upload the issuer refused (its first answer lost upstream, so
/// the switch sends it again) gets the refusal again: a 94 would read as
/// "taken" all the way to the terminal's batch, and the trade go unpaid.
#[test]
fn a_copy_of_a_refused_upload_gets_the_refusal_again_not_94() {
    let mut rig = Rig::new();
    let mut upload = request(
        1,
        Trade::OfflineSale {
            amount: amount(5_000),
            time: TimeOfDay::new(9, 0, 0).unwrap(),
            date: date(),
        },
    );
    upload.card = CardRead::swiped(Pan::new("6222020000000000").unwrap());
    assert_eq!(rig.code(&upload), ResponseCode::INVALID_CARD);
    rig.events();
    assert_eq!(rig.code(&upload), ResponseCode::INVALID_CARD, "the refusal stands");
    assert!(rig.events().contains(&IssuerEventKind::Duplicate { key: TradeKey::of(&upload) }));
}

/// A refund is an advice the terminal sends again, same STAN, until it is
/// acknowledged: however many copies arrive, the card is credited once, a
/// copy of a refund taken is 94 ("already taken") and a copy of one refused
/// gets the refusal again (DOMAIN.md, Transactions, refund).
#[test]
fn a_refund_advice_sent_again_is_credited_once_94_when_taken_the_refusal_when_refused() {
    let mut rig = Rig::new();
    let approval = rig.send(&sale(1, 3_000));
    let rrn = approval.rrn.unwrap();
    let refund = |stan, fen, original_rrn| {
        request(stan, Trade::Refund { amount: amount(fen), original_rrn, original_date: date() })
    };
    let taken = refund(2, 1_000, rrn);
    assert_eq!(rig.code(&taken), ResponseCode::APPROVED);
    let after_first = rig.balance();
    rig.events();
    for _ in 0..3 {
        assert_eq!(rig.code(&taken), ResponseCode::DUPLICATE, "already taken");
    }
    assert_eq!(rig.balance(), after_first, "credited once");
    assert!(moved(&rig.events()).is_empty(), "no copy moves money");
    let unknown = refund(3, 500, Rrn::new("079999999999").unwrap());
    assert_eq!(rig.code(&unknown), ResponseCode::ORIGINAL_NOT_FOUND);
    assert_eq!(rig.code(&unknown), ResponseCode::ORIGINAL_NOT_FOUND, "the refusal stands");
    assert_eq!(rig.balance(), after_first);
}

fn held(rig: &Rig) -> i64 {
    rig.issuer.card(&pan()).unwrap().held_fen
}

/// The pre-auth of `fen` approved at stan 1, and its auth code.
fn held_pre_auth(rig: &mut Rig, fen: u64) -> (FinancialRequest, AuthCode) {
    let pre_auth = request(1, Trade::PreAuth { amount: amount(fen) });
    let approval = rig.send(&pre_auth);
    assert_eq!(approval.response_code, ResponseCode::APPROVED);
    (pre_auth, approval.auth_code.expect("an approval carries an auth code"))
}

fn hold_closed(events: &[IssuerEventKind]) -> Vec<(HoldClosedWhy, i64, i64)> {
    events
        .iter()
        .filter_map(|event| match event {
            IssuerEventKind::HoldClosed { why, released_fen, captured_fen, .. } => {
                Some((*why, *released_fen, *captured_fen))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_completion_may_capture_up_to_115_percent_of_its_hold_and_needs_the_funds() {
    let mut rig = Rig::new();
    let (_, auth) = held_pre_auth(&mut rig, 30_000);
    rig.events();
    let completion = request(
        2,
        Trade::Completion { amount: amount(34_500), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&completion), ResponseCode::APPROVED, "30000 x 115 % = 34500");
    assert_eq!((rig.balance(), held(&rig)), (65_500, 0));
    assert_eq!(hold_closed(&rig.events()), [(HoldClosedWhy::Completed, 30_000, 34_500)]);

    // The allowance is not a way past the balance: the hold counts, no more.
    let mut poor = Rig::with(|config| config.cards[0].balance_fen = 30_000);
    let (_, auth) = held_pre_auth(&mut poor, 30_000);
    let over = request(
        2,
        Trade::Completion { amount: amount(30_001), original_auth: auth, original_date: date() },
    );
    assert_eq!(poor.code(&over), ResponseCode::INSUFFICIENT_FUNDS);
    assert_eq!(held(&poor), 30_000, "a refused completion leaves the hold");
}

#[test]
fn a_cancel_releases_the_hold_once_and_its_reversal_sets_it_again() {
    let mut rig = Rig::new();
    let (_, auth) = held_pre_auth(&mut rig, 20_000);
    let cancel = |stan, fen| {
        request(
            stan,
            Trade::PreAuthCancel {
                amount: amount(fen),
                original_auth: auth,
                original_date: date(),
            },
        )
    };
    assert_eq!(rig.code(&cancel(2, 19_999)), ResponseCode::ORIGINAL_AMOUNT_INCORRECT);
    rig.events();
    let first = cancel(3, 20_000);
    assert_eq!(rig.code(&first), ResponseCode::APPROVED);
    assert_eq!((rig.balance(), held(&rig)), (100_000, 0), "released, nothing debited");
    assert_eq!(hold_closed(&rig.events()), [(HoldClosedWhy::Cancelled, 20_000, 0)]);
    assert_eq!(rig.code(&cancel(4, 20_000)), ResponseCode::ORIGINAL_NOT_FOUND, "cancelled once");
    let completion = request(
        5,
        Trade::Completion { amount: amount(20_000), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&completion), ResponseCode::ORIGINAL_NOT_FOUND, "no hold to capture");
    rig.events();
    assert_eq!(rig.reverse(&first).response_code, ResponseCode::APPROVED);
    assert_eq!(held(&rig), 20_000, "the cancel undone: the hold is back");
    assert_eq!(moved(&rig.events()), [-20_000]);
    assert_eq!(rig.reverse(&first).response_code, ResponseCode::APPROVED);
    assert_eq!(held(&rig), 20_000, "a repeated reversal changes nothing");
}

#[test]
fn a_hold_lapses_at_its_expiry_and_a_completion_after_it_is_25() {
    let mut rig = Rig::with(|config| config.limits.hold_expiry_ms = 60_000);
    let (_, auth) = held_pre_auth(&mut rig, 10_000);
    let expires_at = rig.now + std::time::Duration::from_millis(60_000);
    assert_eq!(rig.issuer.poll_timeout(), Some(expires_at));
    rig.events();
    rig.issuer.handle_timeout(Instant::from_millis(expires_at.as_millis() - 1));
    assert_eq!(held(&rig), 10_000, "not before its time");
    rig.issuer.handle_timeout(expires_at);
    assert_eq!((rig.balance(), held(&rig)), (100_000, 0));
    assert_eq!(hold_closed(&rig.events()), [(HoldClosedWhy::Expired, 10_000, 0)]);
    assert_eq!(rig.issuer.poll_timeout(), None, "nothing more to lapse");
    rig.now = expires_at;
    let late = request(
        2,
        Trade::Completion { amount: amount(10_000), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&late), ResponseCode::ORIGINAL_NOT_FOUND);
    assert_eq!(rig.balance(), 100_000, "nothing captured after expiry");
}

#[test]
fn more_holds_due_at_once_than_one_timeout_releases_all_lapse_on_the_next_calls() {
    let mut rig = Rig::with(|config| config.limits.hold_expiry_ms = 1_000);
    for stan in 1..=7 {
        rig.send(&request(stan, Trade::PreAuth { amount: amount(1_000) }));
    }
    rig.events();
    assert_eq!(held(&rig), 7_000);
    let due = rig.issuer.poll_timeout().unwrap();
    let mut calls = 0;
    while let Some(at) = rig.issuer.poll_timeout() {
        assert!(at <= due, "every hold lapses at the same instant");
        rig.issuer.handle_timeout(due);
        rig.events();
        calls += 1;
        assert!(calls <= 7, "each call releases at least one hold");
    }
    assert_eq!((held(&rig), calls), (0, 3), "3 per call: 3 + 3 + 1");
}

#[test]
fn a_completion_void_is_not_a_sale_void_and_each_finds_only_its_own_kind() {
    let mut rig = Rig::new();
    let (_, auth) = held_pre_auth(&mut rig, 10_000);
    let completion = request(
        2,
        Trade::Completion { amount: amount(8_000), original_auth: auth, original_date: date() },
    );
    let approval = rig.send(&completion);
    assert_eq!(rig.balance(), 92_000);
    let sale_void = request(
        3,
        Trade::Void {
            amount: amount(8_000),
            original_rrn: approval.rrn.unwrap(),
            original_auth: approval.auth_code,
            original_batch: completion.batch,
            original_stan: completion.stan,
        },
    );
    assert_eq!(rig.code(&sale_void), ResponseCode::ORIGINAL_NOT_FOUND, "not a sale");
    let void = request(
        4,
        Trade::CompletionVoid {
            amount: amount(8_000),
            original_rrn: approval.rrn.unwrap(),
            original_auth: approval.auth_code,
            original_batch: completion.batch,
            original_stan: completion.stan,
        },
    );
    assert_eq!(rig.code(&void), ResponseCode::APPROVED);
    assert_eq!((rig.balance(), held(&rig)), (100_000, 0), "credited; the hold stays closed");
    let mut again = void.clone();
    again.stan = Stan::new(5).unwrap();
    assert_eq!(rig.code(&again), ResponseCode::UNSUPPORTED_BY_ISSUER, "voided once");
    rig.events();
    assert_eq!(rig.reverse(&void).response_code, ResponseCode::APPROVED);
    assert_eq!(rig.balance(), 92_000, "reversing the void puts the completion back");

    let sale = sale(6, 1_000);
    let sold = rig.send(&sale);
    let wrong = request(
        7,
        Trade::CompletionVoid {
            amount: amount(1_000),
            original_rrn: sold.rrn.unwrap(),
            original_auth: sold.auth_code,
            original_batch: sale.batch,
            original_stan: sale.stan,
        },
    );
    assert_eq!(rig.code(&wrong), ResponseCode::ORIGINAL_NOT_FOUND, "a sale is voided as a sale");
}

#[test]
fn a_completion_advice_captures_once_however_many_copies_arrive() {
    let mut rig = Rig::new();
    let (pre_auth, auth) = held_pre_auth(&mut rig, 10_000);
    let advice = request(
        2,
        Trade::CompletionAdvice {
            amount: amount(9_000),
            original_auth: auth,
            original_date: date(),
        },
    );
    assert_eq!(rig.code(&advice), ResponseCode::APPROVED);
    assert_eq!(rig.code(&advice), ResponseCode::DUPLICATE, "a copy: already taken");
    assert_eq!((rig.balance(), held(&rig)), (91_000, 0));
    let completion = request(
        3,
        Trade::Completion { amount: amount(9_000), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&completion), ResponseCode::ORIGINAL_NOT_FOUND, "no second capture");
    assert_eq!(rig.reverse(&pre_auth).response_code, ResponseCode::UNSUPPORTED_BY_ISSUER);
    assert_eq!(rig.balance(), 91_000);
}

#[test]
fn a_reversed_completion_sets_the_hold_again_until_its_original_expiry() {
    let mut rig = Rig::with(|config| config.limits.hold_expiry_ms = 60_000);
    let (_, auth) = held_pre_auth(&mut rig, 10_000);
    let expires_at = rig.now + std::time::Duration::from_millis(60_000);
    rig.now = rig.now + std::time::Duration::from_millis(5_000);
    let completion = request(
        2,
        Trade::Completion { amount: amount(10_000), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&completion), ResponseCode::APPROVED);
    assert_eq!(rig.issuer.poll_timeout(), None, "a captured hold does not lapse");
    assert_eq!(rig.reverse(&completion).response_code, ResponseCode::APPROVED);
    assert_eq!((rig.balance(), held(&rig)), (100_000, 10_000));
    assert_eq!(rig.issuer.poll_timeout(), Some(expires_at), "from the pre-auth's approval");
}

/// Regression (found by the `--swarm` sweep of `faults/device.yaml`, seeds
/// 1158 and 1193): a completion reversed after its pre-auth's hold would
/// have lapsed set the hold again, past its expiry, and released it the
/// same instant; holds-accounted read a hold that outlived its expiry. The
/// pre-auth has lapsed: nothing is held again, and it cannot be completed.
#[test]
fn regression_a_completion_reversed_after_the_expiry_holds_nothing_again() {
    let mut rig = Rig::with(|config| config.limits.hold_expiry_ms = 60_000);
    let (_, auth) = held_pre_auth(&mut rig, 10_000);
    rig.now = rig.now + std::time::Duration::from_millis(5_000);
    let completion = request(
        2,
        Trade::Completion { amount: amount(10_000), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&completion), ResponseCode::APPROVED);
    rig.now = rig.now + std::time::Duration::from_millis(60_000);
    rig.events();
    assert_eq!(rig.reverse(&completion).response_code, ResponseCode::APPROVED);
    assert_eq!((rig.balance(), held(&rig)), (100_000, 0), "the debit rolled back, nothing held");
    let events = rig.events();
    assert!(
        !events.iter().any(|e| matches!(e, IssuerEventKind::HoldPlaced { .. })),
        "no hold set past its expiry: {events:?}"
    );
    assert_eq!(rig.issuer.poll_timeout(), None, "nothing to lapse");
    let again = request(
        3,
        Trade::Completion { amount: amount(10_000), original_auth: auth, original_date: date() },
    );
    assert_eq!(rig.code(&again), ResponseCode::ORIGINAL_NOT_FOUND, "the pre-auth has lapsed");
}

/// Regression: the reversal of a pre-auth held its amount a second time
/// (the rollback's sign was the account's, not the hold purse's), found by
/// holds-accounted on quickstart seed 16.
#[test]
fn regression_a_reversed_pre_auth_releases_its_hold() {
    let mut rig = Rig::new();
    let (pre_auth, _) = held_pre_auth(&mut rig, 10_000);
    rig.events();
    assert_eq!(rig.reverse(&pre_auth).response_code, ResponseCode::APPROVED);
    assert_eq!((rig.balance(), held(&rig)), (100_000, 0));
    let events = rig.events();
    assert_eq!(moved(&events), [10_000]);
    assert_eq!(hold_closed(&events), [(HoldClosedWhy::Reversed, 10_000, 0)]);
    assert_eq!(rig.issuer.poll_timeout(), None, "a reversed hold does not lapse later");
}

/// Regression: the assertion that a hold never goes below zero fired on an
/// issuer whose reversals are not idempotent (an unsafe policy a scenario
/// may ask for), where each copy of a pre-auth's reversal releases the hold
/// again; found by the hostile corpus (a nudged
/// `issuer_reversal_not_idempotent`). The money is the oracle's to judge,
/// not a panic's.
#[test]
fn regression_the_unsafe_policy_releases_a_hold_twice_without_a_panic() {
    let mut rig = Rig::with(|config| config.policy.reversal_idempotent = false);
    let (pre_auth, _) = held_pre_auth(&mut rig, 10_000);
    rig.events();
    assert_eq!(rig.reverse(&pre_auth).response_code, ResponseCode::APPROVED);
    assert_eq!(rig.reverse(&pre_auth).response_code, ResponseCode::APPROVED);
    assert_eq!(held(&rig), -10_000, "the field bug: the hold released twice");
}
