//! Property tests of the CUP POS codec.
//!
//! 1. Every valid typed message, of every kind, survives
//!    `to_message -> Frame -> seal/encode -> decode_with_mac_span -> verify -> parse`.
//! 2. `Frame::decode` of arbitrary bytes (random, and valid frames mutated)
//!    never panics; when it succeeds the frame re-encodes to exactly the input.
//! 3. `CupMessage::parse` of whatever decodes never panics; when it succeeds the
//!    typed message encodes and parses back to itself.
//!
//! The number of cases comes from `PROPTEST_CASES` (256 when unset). Failures
//! are persisted to `models-tests/proptest-regressions/roundtrip.txt` (see
//! [`config`]): commit that file.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::frame::{FRAME_BYTES_MAX, MESSAGE_OFFSET};
use possim_models::iso8583::keys::KeyMode;
use possim_models::iso8583::mac::{MacCheck, MacKey};
use possim_models::iso8583::network::{NetworkCode, NetworkRequest, NetworkResponse};
use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::settlement::{
    BatchUploadEnd, BatchUploadRequest, BatchUploadResponse, SettlementRequest, SettlementResponse,
};
use possim_models::iso8583::spec::{all_fields, field_spec, Alphabet, LengthRule};
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
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, TestRunner};

/// Cases from `PROPTEST_CASES` (proptest's default config reads it), failures
/// persisted under `models-tests/proptest-regressions/`. Proptest's default,
/// `SourceParallel`, looks for a `lib.rs`/`main.rs` above the test file; an
/// integration test in `models-tests/tests/` has none, so it would fall back to
/// `models-tests/tests/roundtrip.proptest-regressions`. The path is absolute, fixed
/// at compile time, so the working directory does not matter.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/roundtrip.txt"
        )))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Value strategies: only what the wire allows
// ---------------------------------------------------------------------------

const DIGITS: &[u8] = b"0123456789";
const TRACK: &[u8] = b"0123456789=";
/// Field 37/38/39 characters (`an`): letters, digits, then the space last.
const ALNUM_SPACE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ";
/// `ans`: printable ASCII.
const PRINTABLE: &[u8] = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// Text of `min..=max` characters drawn from `alphabet` (cheaper than a regex
/// strategy, which proptest re-parses for every value).
fn text(alphabet: &'static [u8], min: usize, max: usize) -> BoxedStrategy<String> {
    vec(select(alphabet), min..=max)
        .prop_map(|bytes| String::from_utf8(bytes).expect("ASCII"))
        .boxed()
}

fn stan() -> BoxedStrategy<Stan> {
    prop_oneof![Just(1u32), Just(Stan::MAX), 1..=Stan::MAX]
        .prop_map(|v| Stan::new(v).unwrap())
        .boxed()
}

fn batch() -> BoxedStrategy<BatchNo> {
    prop_oneof![Just(0u32), Just(BatchNo::MAX), 0..=BatchNo::MAX]
        .prop_map(|v| BatchNo::new(v).unwrap())
        .boxed()
}

fn fen() -> BoxedStrategy<u64> {
    prop_oneof![Just(0u64), Just(AmountFen::MAX), 0..=100_000u64, 0..=AmountFen::MAX].boxed()
}

fn amount() -> BoxedStrategy<AmountFen> {
    fen().prop_map(|fen| AmountFen::new(fen).unwrap()).boxed()
}

fn pan() -> BoxedStrategy<Pan> {
    (text(b"123456789", 1, 1), text(DIGITS, 11, 18))
        .prop_map(|(first, rest)| Pan::new(&(first + &rest)).unwrap())
        .boxed()
}

fn terminal() -> BoxedStrategy<TerminalId> {
    text(PRINTABLE, 0, 8).prop_map(|text| TerminalId::new(&text).unwrap()).boxed()
}

fn merchant() -> BoxedStrategy<MerchantId> {
    text(PRINTABLE, 0, 15).prop_map(|text| MerchantId::new(&text).unwrap()).boxed()
}

/// F37 is `an`: letters, digits, space. (`Rrn::new` admits more: see
/// `rrn_new_admits_only_what_field_37_carries`.)
fn rrn() -> BoxedStrategy<Rrn> {
    text(ALNUM_SPACE, 0, 12).prop_map(|text| Rrn::new(&text).unwrap()).boxed()
}

fn auth_code() -> BoxedStrategy<AuthCode> {
    text(ALNUM_SPACE, 0, 6).prop_map(|text| AuthCode::new(&text).unwrap()).boxed()
}

fn response_code() -> BoxedStrategy<ResponseCode> {
    prop_oneof![
        select(ResponseCode::KNOWN),
        text(&ALNUM_SPACE[..62], 2, 2)
            .prop_map(|text| ResponseCode::from_wire(text.as_bytes()).unwrap()),
    ]
    .boxed()
}

fn month_day() -> BoxedStrategy<MonthDay> {
    (1u8..=12, 1u8..=31).prop_map(|(month, day)| MonthDay::new(month, day).unwrap()).boxed()
}

fn time_of_day() -> BoxedStrategy<TimeOfDay> {
    (0u8..24, 0u8..60, 0u8..60).prop_map(|(h, m, s)| TimeOfDay::new(h, m, s).unwrap()).boxed()
}

fn expiry() -> BoxedStrategy<Expiry> {
    (0u8..=99, 1u8..=12).prop_map(|(year, month)| Expiry::new(year, month).unwrap()).boxed()
}

fn icc() -> BoxedStrategy<IccData> {
    prop_oneof![vec(any::<u8>(), 0..=40), vec(any::<u8>(), 0..=IccData::BYTES_MAX)]
        .prop_map(|bytes| IccData::new(bytes).unwrap())
        .boxed()
}

/// Printable ASCII, as field 63 (ans) carries the operator number.
fn operator() -> BoxedStrategy<[u8; 3]> {
    [0x20u8..=0x7E, 0x20u8..=0x7E, 0x20u8..=0x7E].boxed()
}

fn card(with_icc: bool) -> BoxedStrategy<CardRead> {
    (
        pan(),
        option::of(expiry()),
        0u16..=999,
        option::of(0u16..=999),
        option::of(text(TRACK, 0, 37)),
        option::of(text(TRACK, 0, 104)),
        if with_icc { option::of(icc()).boxed() } else { Just(None).boxed() },
    )
        .prop_map(|(pan, expiry, entry, sequence, track2, track3, icc)| CardRead {
            pan,
            expiry,
            entry_mode: EntryMode::new(entry).unwrap(),
            sequence,
            track2: track2.map(|t| Track::new(&t).unwrap()),
            track3: track3.map(|t| Track::new(&t).unwrap()),
            icc,
        })
        .boxed()
}

fn sale() -> BoxedStrategy<Trade> {
    amount().prop_map(|amount| Trade::Sale { amount }).boxed()
}

/// A sale void, or with `completion` a completion void: the same fields.
fn void_of(completion: bool) -> BoxedStrategy<Trade> {
    (amount(), rrn(), option::of(auth_code()), batch(), stan())
        .prop_map(move |(amount, original_rrn, original_auth, original_batch, original_stan)| {
            Trade::void_of(
                completion,
                amount,
                original_rrn,
                original_auth,
                original_batch,
                original_stan,
            )
        })
        .boxed()
}

fn pre_auth() -> BoxedStrategy<Trade> {
    amount().prop_map(|amount| Trade::PreAuth { amount }).boxed()
}

fn completion() -> BoxedStrategy<Trade> {
    (amount(), auth_code(), month_day())
        .prop_map(|(amount, original_auth, original_date)| Trade::Completion {
            amount,
            original_auth,
            original_date,
        })
        .boxed()
}

fn pre_auth_cancel() -> BoxedStrategy<Trade> {
    (amount(), auth_code(), month_day())
        .prop_map(|(amount, original_auth, original_date)| Trade::PreAuthCancel {
            amount,
            original_auth,
            original_date,
        })
        .boxed()
}

/// Every trade of the catalogue, equally often.
fn trade() -> BoxedStrategy<Trade> {
    prop_oneof![
        Just(Trade::BalanceInquiry),
        sale(),
        void_of(false),
        (amount(), rrn(), month_day()).prop_map(|(amount, original_rrn, original_date)| {
            Trade::Refund { amount, original_rrn, original_date }
        }),
        pre_auth(),
        pre_auth_cancel(),
        completion(),
        void_of(true),
        (amount(), auth_code(), month_day()).prop_map(|(amount, original_auth, original_date)| {
            Trade::CompletionAdvice { amount, original_auth, original_date }
        }),
        (amount(), time_of_day(), month_day())
            .prop_map(|(amount, time, date)| Trade::OfflineSale { amount, time, date }),
        (amount(), time_of_day(), month_day(), icc()).prop_map(
            |(amount, time, date, certificate)| {
                Trade::ECash { amount, time, date, certificate }
            }
        ),
    ]
    .boxed()
}

/// The six trades that are reversed when unanswered (no filter: rejects
/// would count against proptest's limit at 100000 cases).
fn reversible_trade() -> BoxedStrategy<Trade> {
    prop_oneof![sale(), void_of(false), pre_auth(), pre_auth_cancel(), completion(), void_of(true)]
        .boxed()
}

fn financial_request(
    trade: impl Strategy<Value = Trade> + 'static,
) -> BoxedStrategy<FinancialRequest> {
    trade
        .prop_flat_map(|trade| {
            // An e-cash upload's chip data is its certificate; the card's own
            // ICC field is not carried (it would be lost on the way).
            let with_icc = trade.kind() != TradeKind::ECashUpload;
            (
                Just(trade),
                card(with_icc),
                option::of(any::<[u8; 8]>()),
                stan(),
                batch(),
                terminal(),
                merchant(),
            )
        })
        .prop_map(|(trade, card, pin_block, stan, batch, terminal, merchant)| FinancialRequest {
            trade,
            card,
            pin_block,
            stan,
            batch,
            terminal,
            merchant,
        })
        .boxed()
}

fn reversal() -> BoxedStrategy<ReversalRequest> {
    (financial_request(reversible_trade()), response_code())
        .prop_map(|(original, reason)| ReversalRequest::new(&original, reason))
        .boxed()
}

fn trade_response() -> BoxedStrategy<TradeResponse> {
    let ids = (pan(), stan(), terminal(), merchant(), batch());
    let when = (time_of_day(), month_day(), option::of(month_day()));
    let host = (option::of(rrn()), option::of(auth_code()), response_code());
    let money = (
        option::of(amount()),
        option::of(prop_oneof![
            -100_000i64..=100_000,
            -(AmountFen::MAX as i64)..=AmountFen::MAX as i64
        ]),
    );
    (select(TradeKind::ALL.to_vec()), any::<bool>(), ids, when, host, money)
        .prop_map(
            |(
                kind,
                reversal,
                (pan, stan, terminal, merchant, batch),
                (time, date, settlement_date),
                (rrn, auth_code, response_code),
                (amount, balance),
            )| {
                TradeResponse {
                    kind,
                    // Only a reversible trade is reversed, so only it has an 0410.
                    reversal: reversal && kind.is_reversible(),
                    pan,
                    amount,
                    stan,
                    time,
                    date,
                    settlement_date,
                    rrn,
                    auth_code,
                    response_code,
                    terminal,
                    merchant,
                    batch,
                    balance,
                }
            },
        )
        .boxed()
}

fn network_code() -> BoxedStrategy<NetworkCode> {
    select(vec![
        NetworkCode::SignIn(KeyMode::Single),
        NetworkCode::SignIn(KeyMode::Double),
        NetworkCode::SignIn(KeyMode::DoubleWithTrackKey),
        NetworkCode::SignOff,
        NetworkCode::Echo,
    ])
    .boxed()
}

fn network_request() -> BoxedStrategy<NetworkRequest> {
    (network_code(), stan(), batch(), terminal(), merchant(), option::of(operator()))
        .prop_map(|(code, stan, batch, terminal, merchant, operator)| NetworkRequest {
            code,
            stan,
            batch,
            terminal,
            merchant,
            operator,
        })
        .boxed()
}

fn network_response() -> BoxedStrategy<NetworkResponse> {
    let keys = prop_oneof![
        select(vec![24usize, 40, 60]).prop_flat_map(|n| vec(any::<u8>(), n)),
        vec(any::<u8>(), 0..=NetworkResponse::KEYS_BYTES_MAX),
    ];
    (
        (network_code(), stan(), batch(), terminal(), merchant()),
        (time_of_day(), month_day(), option::of(rrn()), response_code(), option::of(keys)),
    )
        .prop_map(
            |((code, stan, batch, terminal, merchant), (time, date, rrn, response_code, keys))| {
                NetworkResponse {
                    code,
                    stan,
                    batch,
                    terminal,
                    merchant,
                    time,
                    date,
                    rrn,
                    response_code,
                    keys,
                }
            },
        )
        .boxed()
}

fn totals() -> BoxedStrategy<BatchTotals> {
    (fen(), 0u32..=BatchTotals::COUNT_MAX, fen(), 0u32..=BatchTotals::COUNT_MAX)
        .prop_map(|(debit_amount, debit_count, credit_amount, credit_count)| BatchTotals {
            debit_amount,
            debit_count,
            credit_amount,
            credit_count,
        })
        .boxed()
}

fn settlement_request() -> BoxedStrategy<SettlementRequest> {
    (stan(), batch(), terminal(), merchant(), totals(), option::of(operator()))
        .prop_map(|(stan, batch, terminal, merchant, totals, operator)| SettlementRequest {
            stan,
            batch,
            terminal,
            merchant,
            totals,
            operator,
        })
        .boxed()
}

fn settlement_result() -> BoxedStrategy<SettlementResult> {
    select(vec![
        SettlementResult::NotChecked,
        SettlementResult::Balanced,
        SettlementResult::NotBalanced,
        SettlementResult::Error,
    ])
    .boxed()
}

fn settlement_response() -> BoxedStrategy<SettlementResponse> {
    (
        (stan(), batch(), terminal(), merchant()),
        (
            time_of_day(),
            month_day(),
            option::of(month_day()),
            option::of(rrn()),
            totals(),
            settlement_result(),
        ),
    )
        .prop_map(
            |(
                (stan, batch, terminal, merchant),
                (time, date, settlement_date, rrn, totals, result),
            )| {
                SettlementResponse {
                    stan,
                    batch,
                    terminal,
                    merchant,
                    time,
                    date,
                    settlement_date,
                    rrn,
                    totals,
                    result,
                }
            },
        )
        .boxed()
}

fn batch_upload() -> BoxedStrategy<BatchUploadRequest> {
    // Card organisation is n2 on the wire (see
    // `batch_detail_card_organisation_over_99_does_not_encode_silently`).
    let entry =
        (0u8..=99, stan(), pan(), amount()).prop_map(|(card_organisation, stan, pan, amount)| {
            BatchDetailEntry { card_organisation, stan, pan, amount }
        });
    (stan(), batch(), terminal(), merchant(), vec(entry, 0..=BatchDetail::ENTRIES_MAX))
        .prop_map(|(stan, batch, terminal, merchant, entries)| BatchUploadRequest {
            stan,
            batch,
            terminal,
            merchant,
            detail: BatchDetail { entries },
        })
        .boxed()
}

fn batch_upload_end() -> BoxedStrategy<BatchUploadEnd> {
    (stan(), batch(), terminal(), merchant(), 0u16..=BatchUploadEnd::COUNT_MAX, any::<bool>())
        .prop_map(|(stan, batch, terminal, merchant, total_count, balanced)| BatchUploadEnd {
            stan,
            batch,
            terminal,
            merchant,
            total_count,
            balanced,
        })
        .boxed()
}

fn batch_upload_response() -> BoxedStrategy<BatchUploadResponse> {
    (
        stan(),
        batch(),
        terminal(),
        merchant(),
        prop_oneof![select(vec![201u16, 202, 207]), 0u16..=999],
        response_code(),
    )
        .prop_map(|(stan, batch, terminal, merchant, network_code, response_code)| {
            BatchUploadResponse { stan, batch, terminal, merchant, network_code, response_code }
        })
        .boxed()
}

/// Any valid typed message, every kind about equally often.
fn cup_message() -> BoxedStrategy<CupMessage> {
    prop_oneof![
        3 => financial_request(trade()).prop_map(CupMessage::Trade),
        2 => trade_response().prop_map(CupMessage::TradeAnswer),
        1 => reversal().prop_map(CupMessage::Reversal),
        1 => network_request().prop_map(CupMessage::Network),
        1 => network_response().prop_map(CupMessage::NetworkAnswer),
        1 => settlement_request().prop_map(CupMessage::Settlement),
        1 => settlement_response().prop_map(CupMessage::SettlementAnswer),
        1 => batch_upload().prop_map(CupMessage::BatchUpload),
        1 => batch_upload_end().prop_map(CupMessage::BatchUploadEnd),
        1 => batch_upload_response().prop_map(CupMessage::BatchUploadAnswer),
    ]
    .boxed()
}

/// The kinds that carry a MAC (no filter: 100000 cases would hit proptest's
/// reject limit).
fn maced_message() -> BoxedStrategy<CupMessage> {
    prop_oneof![
        financial_request(trade()).prop_map(CupMessage::Trade),
        trade_response().prop_map(CupMessage::TradeAnswer),
        reversal().prop_map(CupMessage::Reversal),
    ]
    .boxed()
}

fn tpdu() -> BoxedStrategy<Tpdu> {
    (any::<u16>(), any::<u16>())
        .prop_map(|(destination, source)| Tpdu::new(destination, source))
        .boxed()
}

fn header() -> BoxedStrategy<Header> {
    (
        prop_oneof![Just(Header::APPLICATION_POS), any::<u8>()],
        prop_oneof![Just(Header::VERSION), any::<u8>()],
        0u8..=0x0F,
        0u8..=0x0F,
        0..=Header::SOFTWARE_VERSION_MAX,
    )
        .prop_map(|(application, version, terminal_status, processing, software_version)| Header {
            application,
            version,
            terminal_status,
            processing: ProcessingRequirement(processing),
            software_version,
        })
        .boxed()
}

/// The wire bytes of `typed` in a frame, sealed when it carries a MAC.
fn wire_of(typed: &CupMessage, tpdu: Tpdu, header: Header, key: &MacKey) -> (Frame, Vec<u8>) {
    let mut frame = Frame { tpdu, header, message: typed.to_message() };
    let mut wire = Vec::new();
    if typed.carries_mac() {
        key.seal(&mut frame, &mut wire);
    } else {
        frame.encode(&mut wire);
    }
    (frame, wire)
}

fn valid_frame() -> BoxedStrategy<Vec<u8>> {
    (cup_message(), tpdu(), header(), any::<[u8; 8]>())
        .prop_map(|(typed, tpdu, header, mak)| wire_of(&typed, tpdu, header, &MacKey::new(mak)).1)
        .boxed()
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/// One change to a frame's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Index,
        xor: u8,
    },
    Overwrite {
        at: Index,
        byte: u8,
    },
    Truncate {
        keep: Index,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Remove {
        at: Index,
        count: u8,
    },
    /// A random length prefix.
    SetLength(u16),
    /// Toggles one bit of the primary bitmap: a field appears or vanishes.
    ToggleField {
        field: u8,
    },
    /// Rewrites one field's length prefix (found by walking the fields).
    Relength {
        field: Index,
        delta: i8,
    },
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite { at, byte }),
        1 => any::<Index>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<Index>(), 1u8..8).prop_map(|(at, count)| Mutation::Remove { at, count }),
        1 => any::<u16>().prop_map(Mutation::SetLength),
        2 => (2u8..=64).prop_map(|field| Mutation::ToggleField { field }),
        2 => (any::<Index>(), any::<i8>()).prop_map(|(field, delta)| Mutation::Relength { field, delta }),
    ]
        .boxed()
}

/// Offsets (in the frame) of the length prefixes of the variable fields of a
/// well-formed frame, with their width.
fn length_prefixes(wire: &[u8]) -> Vec<(usize, usize)> {
    let Ok(frame) = Frame::decode(wire) else { return Vec::new() };
    let mut offset = MESSAGE_OFFSET + 10;
    let mut prefixes = Vec::new();
    for (field, value) in frame.message.fields() {
        let spec = field_spec(field).unwrap();
        let prefix = spec.length.prefix_bytes();
        if prefix > 0 {
            prefixes.push((offset, prefix));
        }
        let units = match spec.length {
            LengthRule::Fixed(units) => usize::from(units),
            _ => value.len(),
        };
        offset += prefix + spec.value_bytes(units);
    }
    prefixes
}

fn bcd_length(value: usize, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if width == 2 {
        let hundreds = (value / 100) % 100;
        out.push(((hundreds / 10) << 4 | hundreds % 10) as u8);
    }
    let low = value % 100;
    out.push(((low / 10) << 4 | low % 10) as u8);
    out
}

fn apply(wire: &mut Vec<u8>, mutation: &Mutation) {
    let len = wire.len();
    match mutation {
        Mutation::Flip { at, xor } if len > 0 => wire[at.index(len)] ^= xor,
        Mutation::Overwrite { at, byte } if len > 0 => wire[at.index(len)] = *byte,
        Mutation::Truncate { keep } if len > 0 => wire.truncate(keep.index(len)),
        Mutation::Insert { at, bytes } => {
            let at = at.index(len + 1);
            wire.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove { at, count } if len > 0 => {
            let at = at.index(len);
            let end = (at + usize::from(*count)).min(len);
            wire.drain(at..end);
        }
        Mutation::SetLength(value) if len >= 2 => wire[..2].copy_from_slice(&value.to_be_bytes()),
        Mutation::ToggleField { field } => {
            let bit = usize::from(*field) - 1;
            let at = MESSAGE_OFFSET + 2 + bit / 8;
            if at < len {
                wire[at] ^= 0x80 >> (bit % 8);
            }
        }
        Mutation::Relength { field, delta } => {
            let prefixes = length_prefixes(wire);
            if prefixes.is_empty() {
                return;
            }
            let (at, width) = prefixes[field.index(prefixes.len())];
            let old = wire[at..at + width].iter().fold(0usize, |acc, b| {
                acc * 100 + usize::from(b >> 4) * 10 + usize::from(b & 0x0F)
            });
            let new = old.saturating_add_signed(isize::from(*delta));
            wire[at..at + width].copy_from_slice(&bcd_length(new, width));
        }
        _ => {}
    }
}

/// A valid frame with one mutation (a quarter of the time 2 to 4); half the
/// time the length prefix is then fixed so that decoding gets past the frame
/// check.
fn mutated_frame() -> BoxedStrategy<Vec<u8>> {
    (
        valid_frame(),
        prop_oneof![3 => vec(mutation(), 1), 1 => vec(mutation(), 2..=4)],
        any::<bool>(),
    )
        .prop_map(|(mut wire, mutations, fix_length)| {
            for mutation in &mutations {
                apply(&mut wire, mutation);
            }
            if fix_length && wire.len() >= 2 {
                let declared = (wire.len() - 2).min(usize::from(u16::MAX)) as u16;
                wire[..2].copy_from_slice(&declared.to_be_bytes());
            }
            wire
        })
        .boxed()
}

/// Random bytes, half of them dressed with a matching length and a TPDU id
/// so that decoding reaches the header and the message.
fn random_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..600),
        vec(any::<u8>(), 7..600).prop_map(|mut bytes| {
            let declared = (bytes.len() - 2) as u16;
            bytes[..2].copy_from_slice(&declared.to_be_bytes());
            bytes[2] = Tpdu::ID;
            bytes
        }),
    ]
    .boxed()
}

fn any_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![random_bytes(), mutated_frame()].boxed()
}

/// One change made through the untyped `Message` API (so the frame still
/// decodes) to a valid typed message: what the typed parsers must survive.
#[derive(Debug, Clone)]
enum FieldChange {
    Remove {
        field: u8,
    },
    /// A valid value for the field, drawn from `seed`; `sparse` makes digits
    /// mostly zeros (closer to real codes and sub-fields).
    Set {
        field: u8,
        length: Index,
        seed: u64,
        sparse: bool,
    },
    Mti(Mti),
}

const CUP_MTIS: [Mti; 16] = [
    Mti::AUTHORIZATION,
    Mti::AUTHORIZATION_RESPONSE,
    Mti::FINANCIAL,
    Mti::FINANCIAL_RESPONSE,
    Mti::ADVICE,
    Mti::ADVICE_RESPONSE,
    Mti::BATCH,
    Mti::BATCH_RESPONSE,
    Mti::REVERSAL,
    Mti::REVERSAL_RESPONSE,
    Mti::SETTLEMENT,
    Mti::SETTLEMENT_RESPONSE,
    Mti::NETWORK,
    Mti::NETWORK_RESPONSE,
    Mti::NETWORK_ADVICE,
    Mti::NETWORK_ADVICE_RESPONSE,
];

fn table_fields() -> Vec<u8> {
    all_fields().map(|spec| spec.number).collect()
}

fn field_change() -> BoxedStrategy<FieldChange> {
    prop_oneof![
        2 => select(table_fields()).prop_map(|field| FieldChange::Remove { field }),
        4 => (select(table_fields()), any::<Index>(), any::<u64>(), any::<bool>())
            .prop_map(|(field, length, seed, sparse)| FieldChange::Set { field, length, seed, sparse }),
        1 => select(CUP_MTIS.to_vec()).prop_map(FieldChange::Mti),
    ]
        .boxed()
}

/// A value field `field` accepts, drawn deterministically from `seed`.
fn field_value(field: u8, length: Index, seed: u64, sparse: bool) -> Vec<u8> {
    let spec = field_spec(field).unwrap();
    let units = match spec.length {
        LengthRule::Fixed(units) => usize::from(units),
        LengthRule::Ll { max } | LengthRule::Lll { max } => length.index(usize::from(max) + 1),
    };
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64: a cheap deterministic stream from the seed.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..units)
        .map(|_| {
            let r = next();
            match spec.alphabet {
                Alphabet::Numeric if sparse && r % 4 != 0 => b'0',
                Alphabet::Numeric => b'0' + (r % 10) as u8,
                Alphabet::Track => b"0123456789="[(r % 11) as usize],
                Alphabet::Alphanumeric => {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
                        [(r % 63) as usize]
                }
                Alphabet::Text => 0x20 + (r % 95) as u8,
                Alphabet::Binary => r as u8,
            }
        })
        .collect()
}

fn changed_message() -> BoxedStrategy<Vec<u8>> {
    (cup_message(), tpdu(), header(), vec(field_change(), 1..=4), any::<[u8; 8]>())
        .prop_map(|(typed, tpdu, header, changes, mak)| {
            let original = typed.to_message();
            let mut mti = original.mti();
            let mut fields: BTreeMap<u8, Vec<u8>> =
                original.fields().map(|(field, value)| (field, value.to_vec())).collect();
            for change in &changes {
                match change {
                    FieldChange::Remove { field } => {
                        fields.remove(field);
                    }
                    FieldChange::Set { field, length, seed, sparse } => {
                        fields.insert(*field, field_value(*field, *length, *seed, *sparse));
                    }
                    FieldChange::Mti(new) => mti = *new,
                }
            }
            // Built afresh in field order rather than edited in place with
            // `Message::remove`, which corrupts a message holding an empty
            // field (see `message_remove_keeps_a_later_empty_field_in_range`).
            let mut message = Message::new(mti);
            for (field, value) in &fields {
                message.set(*field, value).expect("a value of the field's alphabet and length");
            }
            let mut frame = Frame { tpdu, header, message };
            let mut wire = Vec::new();
            if frame.message.has(64) {
                MacKey::new(mak).seal(&mut frame, &mut wire);
            } else {
                frame.encode(&mut wire);
            }
            wire
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------

/// A typed message that parsed must encode (no panic) and parse back to itself,
/// in a message and through a whole frame.
fn check_typed_fixpoint(typed: &CupMessage) -> Result<(), TestCaseError> {
    let message = catch_unwind(AssertUnwindSafe(|| typed.to_message())).map_err(|_| {
        TestCaseError::fail(format!("to_message panicked on a parsed message: {typed:?}"))
    })?;
    prop_assert_eq!(&CupMessage::parse(&message), &Ok(typed.clone()));
    let (_, wire) = wire_of(typed, Tpdu::new(1, 2), Header::new(1), &MacKey::new([7; 8]));
    let (frame, _) =
        Frame::decode_with_mac_span(&wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&CupMessage::parse(&frame.message), &Ok(typed.clone()));
    Ok(())
}

/// Decoding `bytes`: never a panic; an error names an offset inside the input;
/// a success re-encodes to exactly `bytes`, and its typed parse (if any) is a
/// fixpoint.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Frame::decode_with_mac_span(bytes) {
        Ok((frame, mac_span)) => {
            prop_assert!(bytes.len() <= FRAME_BYTES_MAX);
            let mut again = Vec::with_capacity(bytes.len());
            frame.encode(&mut again);
            prop_assert_eq!(again.as_slice(), bytes, "decode then encode is not the identity");
            match (&mac_span, frame.message.has(64)) {
                (Some(span), true) => {
                    prop_assert_eq!(span.start, MESSAGE_OFFSET);
                    prop_assert_eq!(span.end, bytes.len() - 8);
                }
                (None, false) => {}
                other => prop_assert!(false, "MAC span {:?} vs F64 present {}", other.0, other.1),
            }
            let plain = Frame::decode(bytes);
            prop_assert_eq!(plain.as_ref(), Ok(&frame));
            check_parse(&frame.message)?;
        }
        Err(error) => {
            let _ = error.to_string();
            if let Some(offset) = error.offset() {
                prop_assert!(offset <= bytes.len(), "{error}: offset past the input");
            }
        }
    }
    Ok(())
}

fn check_parse(message: &Message) -> Result<(), TestCaseError> {
    match CupMessage::parse(message) {
        Ok(typed) => check_typed_fixpoint(&typed),
        Err(error) => {
            let _ = error.to_string();
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Property 1: every valid typed message survives the wire, MAC and all.
    #[test]
    fn every_typed_message_round_trips(
        typed in cup_message(),
        tpdu in tpdu(),
        header in header(),
        mak in any::<[u8; 8]>(),
    ) {
        let key = MacKey::new(mak);
        let (frame, wire) = wire_of(&typed, tpdu, header, &key);
        let (decoded, mac_span) = Frame::decode_with_mac_span(&wire)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(decoded.tpdu, tpdu);
        prop_assert_eq!(decoded.header, header);
        if typed.carries_mac() {
            prop_assert_eq!(key.verify(&wire, mac_span, &decoded), MacCheck::Valid);
        } else {
            prop_assert!(mac_span.is_none());
            prop_assert!(!decoded.message.has(64));
            prop_assert_eq!(key.verify(&wire, mac_span, &decoded), MacCheck::Missing);
        }
        let parsed = CupMessage::parse(&decoded.message)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&parsed, &typed);
        prop_assert_eq!(parsed.stan(), typed.stan());
        prop_assert_eq!(parsed.terminal(), typed.terminal());
        // Canonical: the bytes we decoded are the bytes we would send.
        prop_assert_eq!(decoded.to_bytes(), wire);
    }

    /// Property 2: decoding arbitrary bytes never panics; what decodes is canonical.
    #[test]
    fn decoding_any_bytes_never_panics_and_is_canonical(bytes in any_bytes()) {
        check_decode(&bytes)?;
    }

    /// Property 3: parsing whatever decodes never panics; what parses is a fixpoint.
    #[test]
    fn parsing_any_decoded_message_never_panics(
        bytes in prop_oneof![changed_message(), mutated_frame()],
    ) {
        check_decode(&bytes)?;
    }

    /// A MAC'd frame with any one byte of the MAC'd span changed fails the check
    /// (when it still decodes): `Wrong`, or `Missing` when the change toggled
    /// bit 64 off and the frame still happens to decode (the old MAC bytes read
    /// as other fields). A receiver must treat `Missing` as a failure for the
    /// types that carry a MAC.
    #[test]
    fn one_changed_byte_fails_the_mac(
        typed in maced_message(),
        mak in any::<[u8; 8]>(),
        at in any::<Index>(),
        xor in 1u8..=255,
    ) {
        let key = MacKey::new(mak);
        let (_, mut wire) = wire_of(&typed, Tpdu::new(3, 0), Header::new(1), &key);
        let at = MESSAGE_OFFSET + at.index(wire.len() - MESSAGE_OFFSET);
        wire[at] ^= xor;
        if let Ok((frame, span)) = Frame::decode_with_mac_span(&wire) {
            let check = key.verify(&wire, span, &frame);
            prop_assert!(!check.is_valid(), "byte {}: {:?}", at, check);
            if frame.message.has(64) {
                prop_assert!(matches!(check, MacCheck::Wrong { .. }), "byte {}: {:?}", at, check);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The strategies cover every kind
// ---------------------------------------------------------------------------

#[test]
fn the_typed_strategy_covers_every_kind() {
    assert_eq!(PRINTABLE.len(), 95);
    assert!(PRINTABLE.iter().all(|b| (0x20..=0x7E).contains(b)));
    assert_eq!(ALNUM_SPACE.len(), 63);
    let mut runner = TestRunner::deterministic();
    let strategy = cup_message();
    let mut variants = std::collections::BTreeSet::new();
    let mut trades = std::collections::BTreeSet::new();
    let mut answers = std::collections::BTreeSet::new();
    let mut reversals = std::collections::BTreeSet::new();
    let mut reversal_answers = 0;
    let mut balances = 0;
    let mut codes = Vec::new();
    let mut upload_sizes = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let typed = strategy.new_tree(&mut runner).unwrap().current();
        let name = format!("{typed:?}");
        variants.insert(name[..name.find('(').unwrap()].to_owned());
        match &typed {
            CupMessage::Trade(request) => {
                trades.insert(request.kind());
            }
            CupMessage::TradeAnswer(answer) => {
                answers.insert(answer.kind);
                reversal_answers += usize::from(answer.reversal);
                balances += usize::from(answer.balance.is_some());
            }
            CupMessage::Reversal(reversal) => {
                reversals.insert(reversal.original().kind());
            }
            CupMessage::Network(request) => codes.push(request.code),
            CupMessage::NetworkAnswer(answer) => codes.push(answer.code),
            CupMessage::BatchUpload(upload) => {
                upload_sizes.insert(upload.detail.entries.len());
            }
            _ => {}
        }
    }
    assert_eq!(variants.len(), 10, "{variants:?}");
    assert_eq!(trades.len(), TradeKind::ALL.len(), "{trades:?}");
    assert_eq!(answers.len(), TradeKind::ALL.len(), "{answers:?}");
    assert_eq!(reversals.len(), 6, "{reversals:?}");
    assert!(reversal_answers > 0 && balances > 0);
    for code in [
        NetworkCode::SignIn(KeyMode::Single),
        NetworkCode::SignIn(KeyMode::Double),
        NetworkCode::SignIn(KeyMode::DoubleWithTrackKey),
        NetworkCode::SignOff,
        NetworkCode::Echo,
    ] {
        assert!(codes.contains(&code), "{code:?}");
    }
    assert!(upload_sizes.contains(&0) && upload_sizes.contains(&8), "{upload_sizes:?}");
}

// ---------------------------------------------------------------------------
// Codec bugs found while writing these tests (they fail until fixed)
// ---------------------------------------------------------------------------

/// `values.rs` promises "each constructor checks what the wire allows, so a
/// typed message built from these values always encodes". `Rrn::new` admits any
/// printable ASCII, but field 37 is `an` (letters, digits, space): an answer
/// carrying `Rrn::new("0000-0000001")` panics in `to_message` ("typed value
/// rejected by the field table").
#[test]
fn rrn_new_admits_only_what_field_37_carries() {
    for byte in 0x20u8..=0x7E {
        let text = [b'1', b'2', byte];
        let text = std::str::from_utf8(&text).unwrap();
        if let Some(rrn) = Rrn::new(text) {
            let mut message = Message::new(Mti::FINANCIAL_RESPONSE);
            assert!(
                message.set(37, rrn.as_bytes()).is_ok(),
                "Rrn::new({text:?}) is accepted but field 37 (an12) refuses it"
            );
        }
    }
}

/// Same as above for `AuthCode::new` and field 38 (`an6`).
#[test]
fn auth_code_new_admits_only_what_field_38_carries() {
    for byte in 0x20u8..=0x7E {
        let text = [b'A', byte];
        let text = std::str::from_utf8(&text).unwrap();
        if let Some(auth) = AuthCode::new(text) {
            let mut message = Message::new(Mti::FINANCIAL_RESPONSE);
            assert!(
                message.set(38, auth.as_bytes()).is_ok(),
                "AuthCode::new({text:?}) is accepted but field 38 (an6) refuses it"
            );
        }
    }
}

/// `BatchDetailEntry::card_organisation` is a `u8`, but the wire has two
/// digits. `BatchDetail::to_digits` writes `{:02}`, so 100..=255 becomes three
/// digits: the entry is 41 digits instead of 40, field 48 still passes the
/// table (n..322), and the 0320 goes out malformed without any error; the
/// receiver's `BatchDetail::parse` then refuses it ("count 1 does not match 41
/// digits"). Encoding must refuse it loudly (or the type must not admit it).
#[test]
fn batch_detail_card_organisation_over_99_does_not_encode_silently() {
    let upload = BatchUploadRequest {
        stan: Stan::new(1).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: TerminalId::new("12345678").unwrap(),
        merchant: MerchantId::new("123456789012345").unwrap(),
        detail: BatchDetail {
            entries: vec![BatchDetailEntry {
                card_organisation: 100,
                stan: Stan::new(7).unwrap(),
                pan: Pan::new("6222021234567890123").unwrap(),
                amount: AmountFen::new(1).unwrap(),
            }],
        },
    };
    let Ok(message) = catch_unwind(|| upload.to_message()) else {
        return; // refused loudly: fine
    };
    assert_eq!(
        CupMessage::parse(&message),
        Ok(CupMessage::BatchUpload(upload.clone())),
        "an 0320 that encodes must parse back; F48 went out as {:?}",
        message.get_str(48)
    );
}

/// `Message::remove` takes a fast path when the removed value is the last in
/// its buffer: `data.truncate(start)`. A field set after it with an *empty*
/// value (an LLVAR/LLLVAR of length 0: empty track 2, F55, F62, F63 ...)
/// starts exactly at the old end, so after the truncation its span points past
/// the end of the buffer, and `get`, `fields`, `encode`, `==` and `Debug` panic
/// ("range start index 16 out of range for slice of length 0"). The slow path
/// (`drain`) shifts only spans with `start > removed start`, which is right; the
/// truncate path must also pull back any span with `start > new length` (or
/// use the same shifting). `set` calls `remove` first, so replacing a value can
/// trigger it too.
#[test]
fn message_remove_keeps_a_later_empty_field_in_range() {
    let mut message = Message::new(Mti::FINANCIAL);
    message.set(2, b"6222021234567890").unwrap();
    message.set(35, b"").unwrap(); // empty track 2, set after the PAN
    assert!(message.remove(2));
    assert_eq!(message.get(35), Some(&b""[..]));
    let mut wire = Vec::new();
    message.encode(&mut wire);
    assert_eq!(Message::decode(&wire).unwrap(), message);
}

/// One operation of the untyped message API.
#[derive(Debug, Clone)]
enum MessageOp {
    Set { field: u8, length: Index, seed: u64 },
    Remove { field: u8 },
}

proptest! {
    #![proptest_config(config())]

    /// `Message::set`/`remove` behave like a map from field to value, and
    /// every state encodes and decodes back to itself.
    #[test]
    fn message_set_and_remove_agree_with_a_map_model(
        ops in vec(
            prop_oneof![
                (select(table_fields()), any::<Index>(), any::<u64>())
                    .prop_map(|(field, length, seed)| MessageOp::Set { field, length, seed }),
                select(table_fields()).prop_map(|field| MessageOp::Remove { field }),
            ],
            1..24,
        ),
    ) {
        let mut message = Message::new(Mti::FINANCIAL);
        let mut model: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for op in &ops {
            match op {
                MessageOp::Set { field, length, seed } => {
                    // A quarter of the variable fields are set empty.
                    let variable = !matches!(field_spec(*field).unwrap().length, LengthRule::Fixed(_));
                    let value = if variable && seed % 4 == 0 {
                        Vec::new()
                    } else {
                        field_value(*field, *length, *seed, false)
                    };
                    message.set(*field, &value).expect("valid value");
                    model.insert(*field, value);
                }
                MessageOp::Remove { field } => {
                    prop_assert_eq!(message.remove(*field), model.remove(field).is_some());
                }
            }
            let got = catch_unwind(AssertUnwindSafe(|| {
                message.fields().map(|(f, v)| (f, v.to_vec())).collect::<BTreeMap<_, _>>()
            }))
            .map_err(|_| TestCaseError::fail(format!("fields() panicked after {op:?}")))?;
            prop_assert_eq!(&got, &model, "after {:?}", op);
        }
        let mut wire = Vec::new();
        message.encode(&mut wire);
        let back = Message::decode(&wire);
        prop_assert_eq!(back.as_ref(), Ok(&message));
    }
}

/// The input strategies of properties 2 and 3 reach past the frame check and
/// into the typed parsers often enough to be worth their cases.
#[test]
fn the_input_strategies_reach_the_parsers() {
    let mut runner = TestRunner::deterministic();
    let mut rates = Vec::new();
    for (name, strategy) in [
        ("random_bytes", random_bytes()),
        ("mutated_frame", mutated_frame()),
        ("changed_message", changed_message()),
    ] {
        let (mut decoded, mut parsed) = (0, 0);
        for _ in 0..2000 {
            let bytes = strategy.new_tree(&mut runner).unwrap().current();
            if let Ok(frame) = Frame::decode(&bytes) {
                decoded += 1;
                parsed += usize::from(CupMessage::parse(&frame.message).is_ok());
            }
        }
        eprintln!("{name}: {decoded}/2000 decode, {parsed}/2000 parse");
        rates.push((name, decoded, parsed));
    }
    let [(_, _, _), (_, mutated_decoded, mutated_parsed), (_, changed_decoded, changed_parsed)] =
        rates[..]
    else {
        unreachable!()
    };
    assert!(mutated_decoded >= 200 && mutated_parsed >= 100, "{rates:?}");
    assert!(changed_decoded == 2000 && changed_parsed >= 200, "{rates:?}");
}
