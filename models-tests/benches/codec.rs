//! Throughput of the CUP POS codec on the sale of
//! `tests/interop/bench_pyiso8583.py` (fields 2, 3, 4, 11, 14, 22, 23, 25, 26,
//! 35, 41, 42, 49, 52, 53, 55 [141-byte ICC TLV], 60, 64: a 273-byte frame), so
//! the figures compare with the pyiso8583 baseline.
//!
//! ```text
//! cargo bench -p possim-models-tests --bench codec -- --warm-up-time 1 --measurement-time 3
//! python3 tests/interop/bench_pyiso8583.py 100000
//! ```
//!
//! - `sale_full`: typed sale -> `to_message` -> `MacKey::seal` into a reused
//!   buffer -> `Frame::decode_with_mac_span` -> `MacKey::verify` ->
//!   `CupMessage::parse` (the Python "round trip", plus the typed parse);
//! - `encode_only`, `decode_only`: `Frame::encode` / `Frame::decode_with_mac_span`
//!   of the same frame;
//! - `mac_only`: `MacKey::compute` over the MAC'd span;
//! - `mac_empty_input`: the MAC of nothing, i.e. its two DES blocks;
//! - `to_message_only`, `seal_only`, `parse_only`: the other steps of
//!   `sale_full`, to see where its time goes;
//! - `des_key_schedule`, `des_block`: the `des` crate alone, a key schedule
//!   (`Des::new`) and one block under a schedule built beforehand, so the
//!   MAC's DES time splits into the part a cached key saves and the part no
//!   codec change can;
//! - `mac_key_new`: `MacKey::new`, what a caller pays to build a key per message.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockEncrypt, KeyInit};
use des::Des;
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::hex;
use possim_models::iso8583::mac::MacKey;
use possim_models::iso8583::trade::{CardRead, EntryMode, FinancialRequest, IccData, Track, Trade};
use possim_models::iso8583::values::{
    AmountFen, BatchNo, Expiry, MerchantId, Pan, Stan, TerminalId,
};
use possim_models::iso8583::{Frame, Header, Tpdu};

/// The ICC TLV block of `bench_pyiso8583.py` (141 bytes).
const F55: &str = "9F260811223344556677889F2701809F100F07010103A0A802010A0100000000009F3704\
5A3B2C1D9F36020010950500000000009A032405219C01009F02060000000010005F2A02015682027C009F1A02\
01569F03060000000000009F3303E0E1C89F34034203009F3501229F1E0831323334353637388408A00000033301\
01019F090200209F410400000001";

const MAK: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];

/// The typed sale; `icc` is the chip data as the card reader hands it over
/// (bytes, copied into the request as a terminal would).
fn sale(stan: Stan, icc: &[u8]) -> FinancialRequest {
    FinancialRequest {
        trade: Trade::Sale { amount: AmountFen::new(1000).unwrap() },
        card: CardRead {
            pan: Pan::new("6222021234567890123").unwrap(),
            expiry: Expiry::new(30, 12),
            entry_mode: EntryMode::CHIP_PIN,
            sequence: Some(1),
            track2: Track::new("6222021234567890123=30121010000000"),
            track3: None,
            icc: IccData::new(icc.to_vec()),
        },
        pin_block: Some([0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81]),
        stan,
        batch: BatchNo::new(1).unwrap(),
        terminal: TerminalId::new("12345678").unwrap(),
        merchant: MerchantId::new("123456789012345").unwrap(),
    }
}

fn tpdu() -> Tpdu {
    Tpdu::new(0x0003, 0x0000)
}

fn header() -> Header {
    Header::new(1)
}

fn codec(c: &mut Criterion) {
    let key = MacKey::new(MAK);
    let icc = hex::decode(F55).unwrap();
    let request = sale(Stan::new(1).unwrap(), &icc);

    // The frame every "only" benchmark works on, checked once.
    let mut sealed = Frame { tpdu: tpdu(), header: header(), message: request.to_message() };
    let mut wire = Vec::with_capacity(512);
    key.seal(&mut sealed, &mut wire);
    assert_eq!(wire.len(), 273, "the frame of bench_pyiso8583.py");
    let (decoded, span) = Frame::decode_with_mac_span(&wire).unwrap();
    assert!(key.verify(&wire, span.clone(), &decoded).is_valid());
    assert_eq!(CupMessage::parse(&decoded.message).unwrap(), CupMessage::Trade(request.clone()));
    let span = span.unwrap();

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));

    group.bench_function("sale_full", |b| {
        let mut out = Vec::with_capacity(512);
        let mut stan = Stan::new(1).unwrap();
        b.iter(|| {
            stan = stan.next();
            let typed = sale(stan, &icc);
            let mut frame = Frame { tpdu: tpdu(), header: header(), message: typed.to_message() };
            out.clear();
            key.seal(&mut frame, &mut out);
            let (received, mac_span) = Frame::decode_with_mac_span(&out).unwrap();
            assert!(key.verify(&out, mac_span, &received).is_valid());
            let parsed = CupMessage::parse(&received.message).unwrap();
            black_box(parsed)
        })
    });

    group.bench_function("encode_only", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            out.clear();
            black_box(&sealed).encode(&mut out);
            black_box(out.len())
        })
    });

    group.bench_function("decode_only", |b| {
        b.iter(|| black_box(Frame::decode_with_mac_span(black_box(&wire)).unwrap()))
    });

    group.bench_function("mac_only", |b| {
        b.iter(|| black_box(key.compute(black_box(&wire[span.clone()]))))
    });

    // Two DES block encryptions and the hex expansions, nothing to fold: the
    // floor of every MAC.
    group.bench_function("mac_empty_input", |b| b.iter(|| black_box(key.compute(black_box(&[])))));

    group.bench_function("to_message_only", |b| {
        b.iter(|| black_box(black_box(&request).to_message()))
    });

    group.bench_function("seal_only", |b| {
        let mut out = Vec::with_capacity(512);
        let mut frame = sealed.clone();
        b.iter(|| {
            out.clear();
            key.seal(&mut frame, &mut out);
            black_box(out.len())
        })
    });

    group.bench_function("parse_only", |b| {
        b.iter(|| black_box(CupMessage::parse(black_box(&decoded.message)).unwrap()))
    });

    group.bench_function("des_key_schedule", |b| {
        b.iter(|| black_box(Des::new(GenericArray::from_slice(black_box(&MAK)))))
    });

    group.bench_function("des_block", |b| {
        let cipher = Des::new(GenericArray::from_slice(&MAK));
        let mut block = GenericArray::from([0u8; 8]);
        b.iter(|| {
            cipher.encrypt_block(black_box(&mut block));
            black_box(block[0])
        })
    });

    group.bench_function("mac_key_new", |b| b.iter(|| black_box(MacKey::new(black_box(MAK)))));

    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
