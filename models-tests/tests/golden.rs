//! Golden frames produced by the independent Python codec
//! (`tests/interop/cup_tool.py`, pyiso8583 + pycryptodome), never by this crate.
//!
//! Each golden is decoded with [`Frame::decode_with_mac_span`] and checked field
//! by field (TPDU, header, MTI, every field present and nothing else), then
//! parsed with [`CupMessage::parse`] into the typed message, whose values are
//! checked, and finally the typed message is encoded again (sealed with the MAK
//! when it carries a MAC) and compared byte for byte with the golden.
//!
//! How they were made, from the repository root:
//!
//! ```text
//! T=tests/interop/cup_tool.py
//! F55=$(cd tests/interop && python3 -c 'import bench_pyiso8583 as b; print(b.F55)')
//! ```
//!
//! then each golden's comment shows its command and JSON (`$F55` is the
//! 141-byte ICC block of `bench_pyiso8583.py`, constant [`F55`] below; the F62
//! key blocks come from `python3 $T keys ...` as shown on [`F62_MODE_001`] and
//! [`F62_MODE_004`]). MAC'd frames: `python3 $T encode --mak 0123456789ABCDEF`;
//! the others: `python3 $T encode`. Each also decodes with `python3 $T decode`
//! back to the same JSON (with F64 added).

use std::ops::Range;

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::frame::MESSAGE_OFFSET;
use possim_models::iso8583::hex;
use possim_models::iso8583::keys::{DesKey, KeyError, KeyMode, WorkingKeys};
use possim_models::iso8583::mac::{MacCheck, MacKey};
use possim_models::iso8583::network::{NetworkCode, NetworkRequest, NetworkResponse};
use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::settlement::{
    BatchUploadEnd, BatchUploadRequest, SettlementRequest, SettlementResponse,
};
use possim_models::iso8583::spec::{field_spec, Alphabet};
use possim_models::iso8583::subfields::{
    BatchDetail, BatchDetailEntry, BatchTotals, SettlementResult,
};
use possim_models::iso8583::trade::{
    CardRead, EntryMode, FinancialRequest, IccData, ReversalRequest, Track, Trade, TradeKind,
    TradeResponse,
};
use possim_models::iso8583::values::{
    AmountFen, AuthCode, BatchNo, Expiry, MerchantId, MonthDay, Pan, Rrn, Stan, TerminalId,
    TimeOfDay,
};
use possim_models::iso8583::{Frame, Header, Message, Mti, ProcessingRequirement, Tpdu};

/// The MAK every MAC'd golden is sealed with (`--mak 0123456789ABCDEF`).
const MAK: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];

/// ICC data of the sale: the ARQC TLV block of `bench_pyiso8583.py` (141 bytes).
const F55: &str = "9F260811223344556677889F2701809F100F07010103A0A802010A0100000000009F3704\
5A3B2C1D9F36020010950500000000009A032405219C01009F02060000000010005F2A02015682027C009F1A02\
01569F03060000000000009F3303E0E1C89F34034203009F3501229F1E0831323334353637388408A00000033301\
01019F090200209F410400000001";

const PAN: &str = "6222021234567890123";
const TRACK2: &str = "6222021234567890123=30121010000000";
const PIN_BLOCK: [u8; 8] = [0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81];

// ---------------------------------------------------------------------------
// Goldens
// ---------------------------------------------------------------------------

/// 0200 sale, PIN, track 2, chip data, MAC.
///
/// ```text
/// python3 $T encode --mak 0123456789ABCDEF <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0200","2":"6222021234567890123",
///  "3":"000000","4":"000000001000","11":"000123","14":"3012","22":"051","23":"001",
///  "25":"00","26":"12","35":"6222021234567890123=30121010000000","41":"12345678",
///  "42":"123456789012345","49":"156","52":"1A2B3C4D5E6F7081","53":"2600000000000000",
///  "55":"$F55","60":"22000001000"}
/// EOF
/// ```
const SALE_0200: &str = "
010F60000300006031000000010200702406C020C09A1119622202123456789012300000000000000010000001233012
051000010012346222021234567890123D30121010000000313233343536373831323334353637383930313233343531
35361A2B3C4D5E6F7081260000000000000001419F260811223344556677889F2701809F100F07010103A0A802010A01
00000000009F37045A3B2C1D9F36020010950500000000009A032405219C01009F02060000000010005F2A0201568202
7C009F1A0201569F03060000000000009F3303E0E1C89F34034203009F3501229F1E0831323334353637388408A00000
03330101019F090200209F41040000000100112200000100004446313637384538";

/// 0210 approval of [`SALE_0200`], host software version 310001.
///
/// ```text
/// python3 $T encode --mak 0123456789ABCDEF <<EOF
/// {"tpdu":"6000000003","header":"603100310001","mti":"0210","2":"6222021234567890123",
///  "3":"000000","4":"000000001000","11":"000123","12":"143015","13":"0521","15":"0522",
///  "25":"00","37":"514314012345","38":"A1B2C3","39":"00","41":"12345678",
///  "42":"123456789012345","49":"156","60":"22000001000"}
/// EOF
/// ```
const SALE_0210: &str = "
007260000000036031003100010210703A00800EC0801119622202123456789012300000000000000010000001231430
150521052200353134333134303132333435413142324333303031323334353637383132333435363738393031323334
3531353600112200000100003736304641354643";

/// 0400 reversal of [`SALE_0200`], reason 98: no F26/F35/F52/F53.
///
/// ```text
/// python3 $T encode --mak 0123456789ABCDEF <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0400","2":"6222021234567890123",
///  "3":"000000","4":"000000001000","11":"000123","14":"3012","22":"051","23":"001",
///  "25":"00","39":"98","41":"12345678","42":"123456789012345","49":"156","55":"$F55",
///  "60":"22000001000"}
/// EOF
/// ```
const REVERSAL_0400: &str = "
00EE600003000060310000000104007024068002C0821119622202123456789012300000000000000010000001233012
05100001003938313233343536373831323334353637383930313233343531353601419F260811223344556677889F27
01809F100F07010103A0A802010A0100000000009F37045A3B2C1D9F36020010950500000000009A032405219C01009F
02060000000010005F2A02015682027C009F1A0201569F03060000000000009F3303E0E1C89F34034203009F3501229F
1E0831323334353637388408A0000003330101019F090200209F41040000000100112200000100004141373731433344";

/// 0800 sign-in, mode 001, operator "01 ".
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0800","11":"000001",
///  "41":"12345678","42":"123456789012345","60":"00000001001","63":"01 "}
/// EOF
/// ```
const SIGN_IN_0800_MODE_001: &str = "
003C600003000060310000000108000020000000C0001200000131323334353637383132333435363738393031323334
3500110000000100100003303120";

/// F62 of the mode-001 answer:
/// `python3 $T keys --tmk 1122334455667788 --mode 001 --pik FEDCBA9876543210 --mak 0123456789ABCDEF`
const F62_MODE_001: &str = "531E06427163AC62A68CDCA9825F48CCFD6829F0D5D44FF7";
const TMK_MODE_001: &str = "1122334455667788";
const PIK_MODE_001: &str = "FEDCBA9876543210";
const MAK_MODE_001: &str = "0123456789ABCDEF";

/// 0810 answer, mode 001, with the header asking for a parameter download
/// (processing requirement 1).
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000000003","header":"603101000001","mti":"0810","11":"000001","12":"090000",
///  "13":"0521","37":"514309000001","39":"00","41":"12345678","42":"123456789012345",
///  "60":"00000001001","62":"<F62_MODE_001>"}
/// EOF
/// ```
const SIGN_IN_0810_MODE_001: &str = "
006460000000036031010000010810003800000AC0001400000109000005213531343330393030303030313030313233
343536373831323334353637383930313233343500110000000100100024531E06427163AC62A68CDCA9825F48CCFD68
29F0D5D44FF7";

/// 0800 sign-in, mode 004.
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0800","11":"000002",
///  "41":"12345678","42":"123456789012345","60":"00000001004","63":"01 "}
/// EOF
/// ```
const SIGN_IN_0800_MODE_004: &str = "
003C600003000060310000000108000020000000C0001200000231323334353637383132333435363738393031323334
3500110000000100400003303120";

/// F62 of the mode-004 answer (double-length TMK, PIK, MAK and TDK):
/// `python3 $T keys --tmk 0123456789ABCDEFFEDCBA9876543210 --mode 004
///  --pik A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8 --mak C1C2C3C4C5C6C7C8D1D2D3D4D5D6D7D8
///  --tdk E1E2E3E4E5E6E7E8F1F2F3F4F5F6F7F8`
const F62_MODE_004: &str =
    "720D29FF7CEE3BD9BD6DCBEEC616646C7B217FA37CD9C626C78B90C7B6CEB30CD0DA3046\
DB205DC0C7E443272917566B00490CB98FA7FFE0D32F8DB7";
const TMK_MODE_004: &str = "0123456789ABCDEFFEDCBA9876543210";
const PIK_MODE_004: &str = "A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8";
const MAK_MODE_004: &str = "C1C2C3C4C5C6C7C8D1D2D3D4D5D6D7D8";
const TDK_MODE_004: &str = "E1E2E3E4E5E6E7E8F1F2F3F4F5F6F7F8";

/// 0810 answer, mode 004, no RRN.
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000000003","header":"603100000001","mti":"0810","11":"000002","12":"090001",
///  "13":"0521","39":"00","41":"12345678","42":"123456789012345","60":"00000001004",
///  "62":"<F62_MODE_004>"}
/// EOF
/// ```
const SIGN_IN_0810_MODE_004: &str = "
007C600000000360310000000108100038000002C0001400000209000105213030313233343536373831323334353637
383930313233343500110000000100400060720D29FF7CEE3BD9BD6DCBEEC616646C7B217FA37CD9C626C78B90C7B6CE
B30CD0DA3046DB205DC0C7E443272917566B00490CB98FA7FFE0D32F8DB7";

/// 0500 settlement: 3 debits for 35.00, 1 credit for 10.00, flag 0.
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0500","11":"000130","41":"12345678",
///  "42":"123456789012345","48":"0000000035000030000000010000010","49":"156",
///  "60":"00000001201","63":"01 "}
/// EOF
/// ```
const SETTLEMENT_0500: &str = "
0051600003000060310000000105000020000000C1801200013031323334353637383132333435363738393031323334
3500310000000035000030000000010000010031353600110000000120100003303120";

/// 0510 answer: not balanced, flag 2 at position 30 of F48; no F39.
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000000003","header":"603100000001","mti":"0510","11":"000130","12":"180000",
///  "13":"0521","15":"0522","37":"514318000130","41":"12345678","42":"123456789012345",
///  "48":"0000000035000030000000010000012","49":"156","60":"00000001201"}
/// EOF
/// ```
const SETTLEMENT_0510: &str = "
005F60000000036031000000010510003A000008C1801000013018000005210522353134333138303030313330313233
343536373831323334353637383930313233343500310000000035000030000000010000012031353600110000000120
10";

/// 0320 batch upload (60.3 201) of two trades.
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0320","11":"000131","41":"12345678",
///  "42":"123456789012345",
///  "48":"0200000123062220212345678901230000000010000000012400006222021234567890000000002500",
///  "60":"00000001201"}
/// EOF
/// ```
const BATCH_UPLOAD_0320: &str = "
0062600003000060310000000103200020000000C1001000013131323334353637383132333435363738393031323334
350082020000012306222021234567890123000000001000000001240000622202123456789000000000250000110000
00012010";

/// 0320 batch upload end, not balanced (60.3 202), two trades uploaded.
///
/// ```text
/// python3 $T encode <<EOF
/// {"tpdu":"6000030000","header":"603100000001","mti":"0320","11":"000132","41":"12345678",
///  "42":"123456789012345","48":"0002","60":"00000001202"}
/// EOF
/// ```
const BATCH_UPLOAD_END_0320: &str = "
003B600003000060310000000103200020000000C1001000013231323334353637383132333435363738393031323334
35000400020011000000012020";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text).expect("golden hex")
}

fn decode(golden: &str) -> (Vec<u8>, Frame, Option<Range<usize>>) {
    let wire = bytes(golden);
    let declared = usize::from(u16::from_be_bytes([wire[0], wire[1]]));
    assert_eq!(declared + 2, wire.len(), "golden length prefix");
    let (frame, mac_span) = Frame::decode_with_mac_span(&wire).expect("golden decodes");
    (wire, frame, mac_span)
}

/// Asserts the message holds exactly `expected` (ascending), each with its
/// value: text as it travels for n/z/an/ans fields, upper-case hex for b fields.
fn assert_fields(message: &Message, expected: &[(u8, &str)]) {
    let present: Vec<u8> = message.fields().map(|(field, _)| field).collect();
    let wanted: Vec<u8> = expected.iter().map(|(field, _)| *field).collect();
    assert_eq!(present, wanted, "fields present");
    for &(field, value) in expected {
        let spec = field_spec(field).expect("table field");
        let got = message.get(field).expect("present");
        if spec.alphabet == Alphabet::Binary {
            assert_eq!(hex::encode_upper(got), value, "field {field} (b)");
        } else {
            assert_eq!(got, value.as_bytes(), "field {field}");
            assert_eq!(message.get_str(field), Some(value), "field {field} as text");
        }
    }
}

fn tpdu_to_host() -> Tpdu {
    Tpdu { id: 0x60, destination: 0x0003, source: 0x0000 }
}

fn header(software_version: u32) -> Header {
    Header {
        application: 0x60,
        version: 0x31,
        terminal_status: 0,
        processing: ProcessingRequirement::NONE,
        software_version,
    }
}

/// The typed message encoded again: sealed under [`MAK`] when it carries a MAC.
fn encode_typed(tpdu: Tpdu, header: Header, typed: &CupMessage) -> Vec<u8> {
    let mut frame = Frame { tpdu, header, message: typed.to_message() };
    let mut wire = Vec::new();
    if typed.carries_mac() {
        MacKey::new(MAK).seal(&mut frame, &mut wire);
    } else {
        frame.encode(&mut wire);
    }
    wire
}

fn terminal() -> TerminalId {
    TerminalId::new("12345678").unwrap()
}

fn merchant() -> MerchantId {
    MerchantId::new("123456789012345").unwrap()
}

/// The sale of [`SALE_0200`], built by hand from typed values.
fn sale() -> FinancialRequest {
    FinancialRequest {
        trade: Trade::Sale { amount: AmountFen::new(1000).unwrap() },
        card: CardRead {
            pan: Pan::new(PAN).unwrap(),
            expiry: Some(Expiry::new(30, 12).unwrap()),
            entry_mode: EntryMode::CHIP_PIN,
            sequence: Some(1),
            track2: Some(Track::new(TRACK2).unwrap()),
            track3: None,
            icc: Some(IccData::new(bytes(F55)).unwrap()),
        },
        pin_block: Some(PIN_BLOCK),
        stan: Stan::new(123).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
    }
}

fn assert_mac_valid(wire: &[u8], frame: &Frame, mac_span: &Option<Range<usize>>) {
    let span = mac_span.clone().expect("MAC'd golden has a MAC span");
    assert_eq!(span, MESSAGE_OFFSET..wire.len() - 8, "MAC covers MTI .. byte before F64");
    assert_eq!(MacKey::new(MAK).verify(wire, mac_span.clone(), frame), MacCheck::Valid);
}

/// Flips one byte of the F41 text ('1' -> '0'; still ans) and checks the frame
/// still decodes but its MAC does not verify.
fn assert_one_flipped_byte_breaks_mac(wire: &[u8]) {
    let mut bad = wire.to_vec();
    let at = find(&bad, b"12345678").expect("F41 on the wire");
    bad[at] = b'0';
    let (frame, span) = Frame::decode_with_mac_span(&bad).expect("still a well-formed frame");
    assert_eq!(frame.message.get(41), Some(&b"02345678"[..]));
    assert!(matches!(MacKey::new(MAK).verify(&bad, span, &frame), MacCheck::Wrong { .. }));
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

// ---------------------------------------------------------------------------
// 0200 sale / 0210 / 0400
// ---------------------------------------------------------------------------

#[test]
fn sale_0200_decodes_field_by_field() {
    let (wire, frame, mac_span) = decode(SALE_0200);
    assert_eq!(wire.len(), 273, "same size as bench_pyiso8583's sale frame");
    assert_eq!(frame.tpdu, tpdu_to_host());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::FINANCIAL);
    assert_eq!(frame.message.bitmap(), 0x7024_06C0_20C0_9A11);
    assert_fields(
        &frame.message,
        &[
            (2, PAN),
            (3, "000000"),
            (4, "000000001000"),
            (11, "000123"),
            (14, "3012"),
            (22, "051"),
            (23, "001"),
            (25, "00"),
            (26, "12"),
            (35, TRACK2),
            (41, "12345678"),
            (42, "123456789012345"),
            (49, "156"),
            (52, "1A2B3C4D5E6F7081"),
            (53, "2600000000000000"),
            (55, F55),
            (60, "22000001000"),
            (64, "4446313637384538"), // "DF1678E8"
        ],
    );
    assert_mac_valid(&wire, &frame, &mac_span);
}

#[test]
fn sale_0200_parses_to_the_typed_sale_and_re_encodes_byte_for_byte() {
    let (wire, frame, _) = decode(SALE_0200);
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::Trade(request) = &parsed else { panic!("not a trade: {parsed:?}") };
    assert_eq!(request.kind(), TradeKind::Sale);
    assert_eq!(request.trade.amount(), Some(AmountFen::new(1000).unwrap()));
    assert_eq!(request.stan, Stan::new(123).unwrap());
    assert_eq!(request.batch, BatchNo::new(1).unwrap());
    assert_eq!(request.card.pan.as_str(), PAN);
    assert_eq!(request.card.expiry, Expiry::new(30, 12));
    assert_eq!(request.card.entry_mode.code(), 51);
    assert_eq!(request.card.sequence, Some(1));
    assert_eq!(request.card.track2.as_ref().map(Track::as_str), Some(TRACK2));
    assert_eq!(request.card.track3, None);
    assert_eq!(request.card.icc.as_ref().map(|icc| icc.as_bytes().len()), Some(141));
    assert_eq!(request.pin_block, Some(PIN_BLOCK));
    assert_eq!(request.terminal.as_str(), "12345678");
    assert_eq!(request.merchant.as_str(), "123456789012345");
    assert_eq!(*request, sale());
    assert!(parsed.carries_mac());
    assert_eq!(parsed.stan(), Stan::new(123).unwrap());
    assert_eq!(parsed.terminal(), terminal());

    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::Trade(sale()));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

#[test]
fn sale_0200_one_flipped_byte_fails_the_mac() {
    let (wire, _, _) = decode(SALE_0200);
    assert_one_flipped_byte_breaks_mac(&wire);
}

#[test]
fn sale_0200_every_flipped_byte_the_mac_covers_fails_the_mac() {
    let (wire, _, _) = decode(SALE_0200);
    let key = MacKey::new(MAK);
    let mut still_decoding = 0;
    for at in 0..wire.len() {
        let mut bad = wire.clone();
        bad[at] ^= 0x01;
        let Ok((frame, span)) = Frame::decode_with_mac_span(&bad) else { continue };
        still_decoding += 1;
        let check = key.verify(&bad, span, &frame);
        if at < MESSAGE_OFFSET {
            // Length, TPDU and header are outside the POS ECB MAC.
            assert_eq!(check, MacCheck::Valid, "byte {at} is not covered");
        } else {
            assert!(matches!(check, MacCheck::Wrong { .. }), "byte {at}: {check:?}");
        }
    }
    assert!(
        still_decoding > 200,
        "most single-bit flips keep the frame well formed: {still_decoding}"
    );
}

#[test]
fn sale_0210_approval() {
    let (wire, frame, mac_span) = decode(SALE_0210);
    assert_eq!(frame.tpdu, tpdu_to_host().reply());
    assert_eq!(frame.header, header(310_001));
    assert_eq!(frame.message.mti(), Mti::FINANCIAL_RESPONSE);
    assert_fields(
        &frame.message,
        &[
            (2, PAN),
            (3, "000000"),
            (4, "000000001000"),
            (11, "000123"),
            (12, "143015"),
            (13, "0521"),
            (15, "0522"),
            (25, "00"),
            (37, "514314012345"),
            (38, "A1B2C3"),
            (39, "00"),
            (41, "12345678"),
            (42, "123456789012345"),
            (49, "156"),
            (60, "22000001000"),
            (64, "3736304641354643"), // "760FA5FC"
        ],
    );
    assert_mac_valid(&wire, &frame, &mac_span);
    assert_one_flipped_byte_breaks_mac(&wire);

    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::TradeAnswer(answer) = &parsed else { panic!("not a trade answer: {parsed:?}") };
    assert_eq!(answer.kind, TradeKind::Sale);
    assert!(!answer.reversal);
    assert_eq!(answer.mti(), Mti::FINANCIAL_RESPONSE);
    assert_eq!(answer.amount, AmountFen::new(1000));
    assert_eq!(answer.stan, Stan::new(123).unwrap());
    assert_eq!(answer.pan.as_str(), PAN);
    assert_eq!(answer.time, TimeOfDay::new(14, 30, 15).unwrap());
    assert_eq!(answer.date, MonthDay::new(5, 21).unwrap());
    assert_eq!(answer.settlement_date, MonthDay::new(5, 22));
    assert_eq!(answer.rrn.map(|rrn| rrn.as_str().to_owned()).as_deref(), Some("514314012345"));
    assert_eq!(answer.auth_code.map(|auth| auth.as_str().to_owned()).as_deref(), Some("A1B2C3"));
    assert_eq!(answer.response_code, ResponseCode::APPROVED);
    assert!(answer.response_code.is_approved());
    assert_eq!(answer.terminal, terminal());
    assert_eq!(answer.merchant, merchant());
    assert_eq!(answer.batch, BatchNo::new(1).unwrap());
    assert_eq!(answer.balance, None);

    let expected = TradeResponse {
        settlement_date: MonthDay::new(5, 22),
        rrn: Rrn::new("514314012345"),
        auth_code: AuthCode::new("A1B2C3"),
        ..TradeResponse::answering(
            &sale(),
            ResponseCode::APPROVED,
            TimeOfDay::new(14, 30, 15).unwrap(),
            MonthDay::new(5, 21).unwrap(),
        )
    };
    assert_eq!(*answer, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::TradeAnswer(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

#[test]
fn reversal_0400_reason_98() {
    let (wire, frame, mac_span) = decode(REVERSAL_0400);
    assert_eq!(frame.tpdu, tpdu_to_host());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::REVERSAL);
    assert_fields(
        &frame.message,
        &[
            (2, PAN),
            (3, "000000"),
            (4, "000000001000"),
            (11, "000123"),
            (14, "3012"),
            (22, "051"),
            (23, "001"),
            (25, "00"),
            (39, "98"),
            (41, "12345678"),
            (42, "123456789012345"),
            (49, "156"),
            (55, F55),
            (60, "22000001000"),
            (64, "4141373731433344"), // "AA771C3D"
        ],
    );
    assert_mac_valid(&wire, &frame, &mac_span);
    assert_one_flipped_byte_breaks_mac(&wire);

    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::Reversal(reversal) = &parsed else { panic!("not a reversal: {parsed:?}") };
    assert_eq!(reversal.reason, ResponseCode::ISSUER_TIMEOUT);
    assert_eq!(reversal.reason.as_str(), "98");
    let original = reversal.original();
    assert_eq!(original.kind(), TradeKind::Sale);
    assert_eq!(original.stan, Stan::new(123).unwrap(), "a reversal reuses the original STAN");
    assert_eq!(original.trade.amount(), AmountFen::new(1000));
    assert_eq!(original.card.pan.as_str(), PAN);
    assert_eq!(original.pin_block, None);
    assert_eq!(original.card.track2, None);
    assert_eq!(parsed.stan(), Stan::new(123).unwrap());
    assert_eq!(parsed.terminal(), terminal());

    let expected = ReversalRequest::new(&sale(), ResponseCode::ISSUER_TIMEOUT);
    assert_eq!(*reversal, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::Reversal(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

// ---------------------------------------------------------------------------
// 0800 / 0810 sign-in, keys
// ---------------------------------------------------------------------------

fn sign_in_request(stan: u32, mode: KeyMode) -> NetworkRequest {
    NetworkRequest {
        code: NetworkCode::SignIn(mode),
        stan: Stan::new(stan).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        operator: Some(*b"01 "),
    }
}

fn check_sign_in_0800(golden: &str, stan: &str, field_60: &str, mode: KeyMode) {
    let (wire, frame, mac_span) = decode(golden);
    assert_eq!(frame.tpdu, tpdu_to_host());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::NETWORK);
    assert_eq!(mac_span, None, "an 0800 carries no MAC");
    assert_fields(
        &frame.message,
        &[(11, stan), (41, "12345678"), (42, "123456789012345"), (60, field_60), (63, "01 ")],
    );
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::Network(request) = &parsed else { panic!("not a network request: {parsed:?}") };
    assert_eq!(request.code, NetworkCode::SignIn(mode));
    assert_eq!(request.code.code(), mode.code());
    assert_eq!(request.stan.to_string(), stan);
    assert_eq!(request.batch, BatchNo::new(1).unwrap());
    assert_eq!(request.operator, Some(*b"01 "));
    assert!(!parsed.carries_mac());
    let expected = sign_in_request(stan.parse().unwrap(), mode);
    assert_eq!(*request, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::Network(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

#[test]
fn sign_in_0800_mode_001() {
    check_sign_in_0800(SIGN_IN_0800_MODE_001, "000001", "00000001001", KeyMode::Single);
}

#[test]
fn sign_in_0800_mode_004() {
    check_sign_in_0800(SIGN_IN_0800_MODE_004, "000002", "00000001004", KeyMode::DoubleWithTrackKey);
}

fn key(text: &str) -> DesKey {
    DesKey::from_hex(text).unwrap()
}

#[test]
fn sign_in_0810_mode_001_delivers_the_keys() {
    let (wire, frame, mac_span) = decode(SIGN_IN_0810_MODE_001);
    assert_eq!(frame.tpdu, tpdu_to_host().reply());
    assert_eq!(
        frame.header,
        Header { processing: ProcessingRequirement::DOWNLOAD_PARAMETERS, ..header(1) }
    );
    assert_eq!(frame.message.mti(), Mti::NETWORK_RESPONSE);
    assert_eq!(mac_span, None);
    assert_fields(
        &frame.message,
        &[
            (11, "000001"),
            (12, "090000"),
            (13, "0521"),
            (37, "514309000001"),
            (39, "00"),
            (41, "12345678"),
            (42, "123456789012345"),
            (60, "00000001001"),
            (62, F62_MODE_001),
        ],
    );
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::NetworkAnswer(answer) = &parsed else {
        panic!("not a network answer: {parsed:?}")
    };
    let expected = NetworkResponse {
        code: NetworkCode::SignIn(KeyMode::Single),
        stan: Stan::new(1).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        time: TimeOfDay::new(9, 0, 0).unwrap(),
        date: MonthDay::new(5, 21).unwrap(),
        rrn: Rrn::new("514309000001"),
        response_code: ResponseCode::APPROVED,
        keys: Some(bytes(F62_MODE_001)),
    };
    assert_eq!(*answer, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::NetworkAnswer(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));

    // The keys, unwrapped under the TMK, are the clear keys the Python side wrapped.
    let tmk = key(TMK_MODE_001);
    let field_62 = answer.keys.as_deref().unwrap();
    assert_eq!(field_62.len(), KeyMode::Single.field_62_bytes());
    let keys = WorkingKeys::unwrap(&tmk, KeyMode::Single, field_62).expect("check values match");
    assert_eq!(keys, WorkingKeys { pik: key(PIK_MODE_001), mak: key(MAK_MODE_001), tdk: None });
    assert_eq!(keys.pik.as_bytes(), bytes(PIK_MODE_001));
    assert_eq!(keys.mak.as_bytes(), bytes(MAK_MODE_001));
    // ... and wrapping them again gives the Python F62 exactly.
    assert_eq!(hex::encode_upper(&keys.wrap(&tmk, KeyMode::Single)), F62_MODE_001);
    // This MAK is the one the sale goldens are sealed with.
    let mak = MacKey::new(keys.mak.first_half());
    assert_eq!(mak.check_value(), [0xD5, 0xD4, 0x4F, 0xF7]);
    let (sale_wire, sale_frame, sale_span) = decode(SALE_0200);
    assert!(mak.verify(&sale_wire, sale_span, &sale_frame).is_valid());

    // One check-value byte corrupted on the wire: the frame decodes, the keys are refused.
    let mut bad = wire.clone();
    let last = bad.len() - 1; // last byte of the MAK's check value
    bad[last] ^= 0x01;
    let (bad_frame, _) = Frame::decode_with_mac_span(&bad).expect("F62 is binary");
    let bad_keys = bad_frame.message.get(62).unwrap();
    assert!(matches!(
        WorkingKeys::unwrap(&tmk, KeyMode::Single, bad_keys),
        Err(KeyError::CheckValueMismatch { key: "MAK", .. })
    ));
    // The PIK's check value (bytes 8..12 of F62).
    let mut bad_pik = field_62.to_vec();
    bad_pik[8] ^= 0x80;
    assert!(matches!(
        WorkingKeys::unwrap(&tmk, KeyMode::Single, &bad_pik),
        Err(KeyError::CheckValueMismatch { key: "PIK", .. })
    ));
}

#[test]
fn sign_in_0810_mode_004_delivers_the_keys() {
    let (wire, frame, mac_span) = decode(SIGN_IN_0810_MODE_004);
    assert_eq!(frame.tpdu, tpdu_to_host().reply());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::NETWORK_RESPONSE);
    assert_eq!(mac_span, None);
    assert_fields(
        &frame.message,
        &[
            (11, "000002"),
            (12, "090001"),
            (13, "0521"),
            (39, "00"),
            (41, "12345678"),
            (42, "123456789012345"),
            (60, "00000001004"),
            (62, F62_MODE_004),
        ],
    );
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::NetworkAnswer(answer) = &parsed else {
        panic!("not a network answer: {parsed:?}")
    };
    let expected = NetworkResponse {
        code: NetworkCode::SignIn(KeyMode::DoubleWithTrackKey),
        stan: Stan::new(2).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        time: TimeOfDay::new(9, 0, 1).unwrap(),
        date: MonthDay::new(5, 21).unwrap(),
        rrn: None,
        response_code: ResponseCode::APPROVED,
        keys: Some(bytes(F62_MODE_004)),
    };
    assert_eq!(*answer, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::NetworkAnswer(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));

    let tmk = key(TMK_MODE_004);
    let mode = KeyMode::DoubleWithTrackKey;
    let field_62 = answer.keys.as_deref().unwrap();
    assert_eq!(field_62.len(), mode.field_62_bytes());
    assert_eq!(field_62.len(), 60);
    let keys = WorkingKeys::unwrap(&tmk, mode, field_62).expect("check values match");
    assert_eq!(
        keys,
        WorkingKeys {
            pik: key(PIK_MODE_004),
            mak: key(MAK_MODE_004),
            tdk: Some(key(TDK_MODE_004))
        }
    );
    assert_eq!(keys.tdk.unwrap().as_bytes(), bytes(TDK_MODE_004));
    assert_eq!(hex::encode_upper(&keys.wrap(&tmk, mode)), F62_MODE_004);

    // Check values sit at 16..20 (PIK), 36..40 (MAK), 56..60 (TDK).
    for (at, name) in [(16, "PIK"), (39, "MAK"), (57, "TDK")] {
        let mut bad = wire.clone();
        let f62_start = wire.len() - 60;
        bad[f62_start + at] ^= 0x01;
        let (bad_frame, _) = Frame::decode_with_mac_span(&bad).expect("F62 is binary");
        let result = WorkingKeys::unwrap(&tmk, mode, bad_frame.message.get(62).unwrap());
        assert!(
            matches!(&result, Err(KeyError::CheckValueMismatch { key, .. }) if *key == name),
            "byte {at}: {result:?}"
        );
    }
    // The wrong mode is a length error, not a silent mis-read.
    assert!(matches!(
        WorkingKeys::unwrap(&tmk, KeyMode::Double, field_62),
        Err(KeyError::BadField62Length { length: 60, expected: 40, .. })
    ));
}

// ---------------------------------------------------------------------------
// 0500 / 0510 settlement
// ---------------------------------------------------------------------------

fn totals() -> BatchTotals {
    BatchTotals { debit_amount: 3500, debit_count: 3, credit_amount: 1000, credit_count: 1 }
}

#[test]
fn settlement_0500() {
    let (wire, frame, mac_span) = decode(SETTLEMENT_0500);
    assert_eq!(frame.tpdu, tpdu_to_host());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::SETTLEMENT);
    assert_eq!(mac_span, None, "an 0500 carries no MAC");
    assert_fields(
        &frame.message,
        &[
            (11, "000130"),
            (41, "12345678"),
            (42, "123456789012345"),
            (48, "0000000035000030000000010000010"),
            (49, "156"),
            (60, "00000001201"),
            (63, "01 "),
        ],
    );
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::Settlement(request) = &parsed else { panic!("not a settlement: {parsed:?}") };
    assert_eq!(request.totals.debit_amount, 3500);
    assert_eq!(request.totals.debit_count, 3);
    assert_eq!(request.totals.credit_amount, 1000);
    assert_eq!(request.totals.credit_count, 1);
    let expected = SettlementRequest {
        stan: Stan::new(130).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        totals: totals(),
        operator: Some(*b"01 "),
    };
    assert_eq!(*request, expected);
    assert!(!parsed.carries_mac());
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::Settlement(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

#[test]
fn settlement_0510_not_balanced() {
    let (wire, frame, mac_span) = decode(SETTLEMENT_0510);
    assert_eq!(frame.tpdu, tpdu_to_host().reply());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::SETTLEMENT_RESPONSE);
    assert_eq!(mac_span, None);
    assert_fields(
        &frame.message,
        &[
            (11, "000130"),
            (12, "180000"),
            (13, "0521"),
            (15, "0522"),
            (37, "514318000130"),
            (41, "12345678"),
            (42, "123456789012345"),
            (48, "0000000035000030000000010000012"),
            (49, "156"),
            (60, "00000001201"),
        ],
    );
    assert!(!frame.message.has(39), "an 0510 has no F39");
    assert_eq!(frame.message.get(48).unwrap()[30], b'2', "flag at position 30");

    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::SettlementAnswer(answer) = &parsed else { panic!("not a 0510: {parsed:?}") };
    assert_eq!(answer.result, SettlementResult::NotBalanced);
    let expected = SettlementResponse {
        stan: Stan::new(130).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        time: TimeOfDay::new(18, 0, 0).unwrap(),
        date: MonthDay::new(5, 21).unwrap(),
        settlement_date: MonthDay::new(5, 22),
        rrn: Rrn::new("514318000130"),
        totals: totals(),
        result: SettlementResult::NotBalanced,
    };
    assert_eq!(*answer, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::SettlementAnswer(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

// ---------------------------------------------------------------------------
// 0320 batch upload and its end
// ---------------------------------------------------------------------------

#[test]
fn batch_upload_0320() {
    let (wire, frame, mac_span) = decode(BATCH_UPLOAD_0320);
    assert_eq!(frame.tpdu, tpdu_to_host());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::BATCH);
    assert_eq!(mac_span, None, "an 0320 batch upload carries no MAC");
    assert_fields(
        &frame.message,
        &[
            (11, "000131"),
            (41, "12345678"),
            (42, "123456789012345"),
            (48, "0200000123062220212345678901230000000010000000012400006222021234567890000000002500"),
            (60, "00000001201"),
        ],
    );
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::BatchUpload(upload) = &parsed else { panic!("not a batch upload: {parsed:?}") };
    let expected = BatchUploadRequest {
        stan: Stan::new(131).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        detail: BatchDetail {
            entries: vec![
                BatchDetailEntry {
                    card_organisation: 0,
                    stan: Stan::new(123).unwrap(),
                    pan: Pan::new(PAN).unwrap(),
                    amount: AmountFen::new(1000).unwrap(),
                },
                BatchDetailEntry {
                    card_organisation: 0,
                    stan: Stan::new(124).unwrap(),
                    pan: Pan::new("6222021234567890").unwrap(),
                    amount: AmountFen::new(2500).unwrap(),
                },
            ],
        },
    };
    assert_eq!(upload.detail.entries.len(), 2);
    assert_eq!(upload.detail.entries[1].pan.as_str(), "6222021234567890");
    assert_eq!(*upload, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::BatchUpload(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}

#[test]
fn batch_upload_end_0320_not_balanced_202() {
    let (wire, frame, mac_span) = decode(BATCH_UPLOAD_END_0320);
    assert_eq!(frame.tpdu, tpdu_to_host());
    assert_eq!(frame.header, header(1));
    assert_eq!(frame.message.mti(), Mti::BATCH);
    assert_eq!(mac_span, None);
    assert_fields(
        &frame.message,
        &[
            (11, "000132"),
            (41, "12345678"),
            (42, "123456789012345"),
            (48, "0002"),
            (60, "00000001202"),
        ],
    );
    let parsed = CupMessage::parse(&frame.message).expect("a typed message");
    let CupMessage::BatchUploadEnd(end) = &parsed else { panic!("not an upload end: {parsed:?}") };
    assert!(!end.balanced);
    assert_eq!(end.network_code(), 202);
    assert_eq!(end.total_count, 2);
    let expected = BatchUploadEnd {
        stan: Stan::new(132).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: terminal(),
        merchant: merchant(),
        total_count: 2,
        balanced: false,
    };
    assert_eq!(*end, expected);
    let again = encode_typed(frame.tpdu, frame.header, &CupMessage::BatchUploadEnd(expected));
    assert_eq!(hex::encode_upper(&again), hex::encode_upper(&wire));
}
