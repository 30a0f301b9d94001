//! Interoperability with an independent implementation: the pyiso8583-based
//! reference in `tests/interop/` (installed by `.ci/run` with pip). Messages
//! go both ways, and the MAC and key check values are computed by both.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
use possim_models::iso8583::mac::MacKey;
use possim_models::iso8583::network::{NetworkCode, NetworkResponse};
use possim_models::iso8583::settlement::{BatchUploadEnd, BatchUploadRequest, SettlementResponse};
use possim_models::iso8583::subfields::{
    BatchDetail, BatchDetailEntry, BatchTotals, SettlementResult,
};
use possim_models::iso8583::trade::*;
use possim_models::iso8583::values::*;
use possim_models::iso8583::{hex, Frame, Header, ResponseCode, Tpdu};
use possim_sim::frame_json;

const MAK: &str = "0123456789ABCDEF";

fn tool() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/cup_tool.py")
}

/// Runs the Python reference; a missing Python or pyiso8583 fails the test
/// with the command that installs it.
fn python(args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new("python3")
        .arg(tool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (pip install -r tests/interop/requirements.txt)");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the reference needs its packages: pip install -r tests/interop/requirements.txt\n{stderr}"
    );
    let code = output.status.code().unwrap_or(-1);
    assert_ne!(code, 2, "python reference refused its input: {stderr}");
    (code, String::from_utf8(output.stdout).unwrap().trim().to_string())
}

fn ids() -> (TerminalId, MerchantId) {
    (TerminalId::new("12345678").unwrap(), MerchantId::new("123456789012345").unwrap())
}

fn sale() -> FinancialRequest {
    let (terminal, merchant) = ids();
    FinancialRequest {
        trade: Trade::Sale { amount: AmountFen::new(12_345).unwrap() },
        card: CardRead {
            pan: Pan::new("6222021234567890123").unwrap(),
            expiry: Expiry::new(30, 12),
            entry_mode: EntryMode::CHIP_PIN,
            sequence: Some(1),
            track2: Track::new("6222021234567890123=30121010000000"),
            track3: None,
            icc: IccData::new(vec![0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]),
        },
        pin_block: Some([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]),
        stan: Stan::new(123).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal,
        merchant,
    }
}

fn messages() -> Vec<CupMessage> {
    let (terminal, merchant) = ids();
    let time = TimeOfDay::new(10, 30, 5).unwrap();
    let date = MonthDay::new(11, 21).unwrap();
    let stan = Stan::new(7).unwrap();
    let batch = BatchNo::new(1).unwrap();
    let mut approval = TradeResponse::answering(&sale(), ResponseCode::APPROVED, time, date);
    approval.rrn = Rrn::new("000000000001");
    approval.auth_code = AuthCode::new("A1B2C3");
    let mut refund = sale();
    refund.trade = Trade::Refund {
        amount: AmountFen::new(500).unwrap(),
        original_rrn: Rrn::new("000000000001").unwrap(),
        original_date: date,
    };
    let tmk = DesKey::from_hex("11223344556677888877665544332211").unwrap();
    let keys = WorkingKeys {
        pik: DesKey::from_hex("0123456789ABCDEF").unwrap(),
        mak: DesKey::from_hex(MAK).unwrap(),
        tdk: Some(DesKey::from_hex("FEDCBA9876543210").unwrap()),
    };
    vec![
        CupMessage::Trade(sale()),
        CupMessage::TradeAnswer(approval),
        CupMessage::Trade(refund),
        CupMessage::Reversal(ReversalRequest::new(&sale(), ResponseCode::ISSUER_TIMEOUT)),
        CupMessage::NetworkAnswer(NetworkResponse {
            code: NetworkCode::SignIn(KeyMode::DoubleWithTrackKey),
            stan,
            batch,
            terminal,
            merchant,
            time,
            date,
            rrn: None,
            response_code: ResponseCode::APPROVED,
            keys: Some(keys.wrap(&tmk, KeyMode::DoubleWithTrackKey)),
        }),
        CupMessage::SettlementAnswer(SettlementResponse {
            stan,
            batch,
            terminal,
            merchant,
            time,
            date,
            settlement_date: Some(date),
            rrn: None,
            totals: BatchTotals {
                debit_amount: 12_345,
                debit_count: 1,
                credit_amount: 500,
                credit_count: 1,
            },
            result: SettlementResult::NotBalanced,
        }),
        CupMessage::BatchUpload(BatchUploadRequest {
            stan,
            batch,
            terminal,
            merchant,
            detail: BatchDetail {
                entries: vec![BatchDetailEntry {
                    card_organisation: 0,
                    stan: Stan::new(123).unwrap(),
                    pan: Pan::new("6222021234567890123").unwrap(),
                    amount: AmountFen::new(12_345).unwrap(),
                }],
            },
        }),
        CupMessage::BatchUploadEnd(BatchUploadEnd {
            stan,
            batch,
            terminal,
            merchant,
            total_count: 1,
            balanced: false,
        }),
    ]
}

fn wire(message: &CupMessage) -> Vec<u8> {
    let mut frame = Frame {
        tpdu: Tpdu::new(3, 0),
        header: Header::new(310_001),
        message: message.to_message(),
    };
    let mut out = Vec::new();
    if message.carries_mac() {
        MacKey::new(DesKey::from_hex(MAK).unwrap().first_half()).seal(&mut frame, &mut out);
    } else {
        frame.encode(&mut out);
    }
    out
}

#[test]
fn python_decodes_what_rust_encodes() {
    for message in messages() {
        let bytes = wire(&message);
        let (code, json) = python(&["decode"], &hex::encode_upper(&bytes));
        assert_eq!(code, 0);
        let theirs: serde_json::Value = serde_json::from_str(&json).unwrap();
        let ours = frame_json::to_json(&Frame::decode(&bytes).unwrap());
        assert_eq!(theirs, ours, "{message:?}");
    }
}

#[test]
fn rust_decodes_what_python_encodes_and_the_macs_agree() {
    let key = MacKey::new(DesKey::from_hex(MAK).unwrap().first_half());
    for message in messages() {
        let json = frame_json::to_json(&Frame::decode(&wire(&message)).unwrap());
        let args: &[&str] =
            if message.carries_mac() { &["encode", "--mak", MAK] } else { &["encode"] };
        let (code, text) = python(args, &json.to_string());
        assert_eq!(code, 0);
        let bytes = hex::decode(&text).unwrap();
        assert_eq!(bytes, wire(&message), "byte-identical encoding of {message:?}");
        let (frame, span) = Frame::decode_with_mac_span(&bytes).unwrap();
        if message.carries_mac() {
            assert!(key.verify(&bytes, span, &frame).is_valid());
            let (code, theirs) = python(&["mac", "--mak", MAK], &text);
            assert_eq!(code, 0, "python agrees the MAC is right");
            assert_eq!(theirs, hex::encode_upper(frame.message.get(64).unwrap()));
        }
        assert_eq!(CupMessage::parse(&frame.message).unwrap(), message);
    }
}

#[test]
fn python_rejects_the_mac_of_a_frame_corrupted_after_sealing() {
    let mut bytes = wire(&CupMessage::Trade(sale()));
    let amount_at = bytes.len() - 60;
    bytes[amount_at] ^= 0x01;
    let (code, _) = python(&["mac", "--mak", MAK], &hex::encode_upper(&bytes));
    assert_eq!(code, 1);
}

#[test]
fn key_delivery_agrees_with_python_for_modes_001_and_004() {
    let cases = [
        ("001", "1122334455667788", None, KeyMode::Single),
        (
            "004",
            "11223344556677888877665544332211",
            Some("FEDCBA9876543210FEDCBA9876543210"),
            KeyMode::DoubleWithTrackKey,
        ),
    ];
    for (mode, tmk, tdk, key_mode) in cases {
        let (pik, mak) = if key_mode == KeyMode::Single {
            ("0123456789ABCDEF", "1032547698BADCFE")
        } else {
            ("0123456789ABCDEF0123456789ABCDEF", "1032547698BADCFE1032547698BADCFE")
        };
        let mut args = vec!["keys", "--tmk", tmk, "--mode", mode, "--pik", pik, "--mak", mak];
        if let Some(tdk) = tdk {
            args.extend(["--tdk", tdk]);
        }
        let (code, field_62) = python(&args, "");
        assert_eq!(code, 0);
        let tmk = DesKey::from_hex(tmk).unwrap();
        let keys = WorkingKeys::unwrap(&tmk, key_mode, &hex::decode(&field_62).unwrap()).unwrap();
        assert_eq!(keys.pik, DesKey::from_hex(pik).unwrap());
        assert_eq!(keys.mak, DesKey::from_hex(mak).unwrap());
        let (_, kcv) = python(&["kcv", "--key", mak], "");
        assert_eq!(kcv, hex::encode_upper(&keys.mak.check_value()));
    }
}

#[test]
fn possim_frame_decode_prints_every_field_of_a_python_built_sale() {
    let json = frame_json::to_json(&Frame::decode(&wire(&CupMessage::Trade(sale()))).unwrap());
    let (_, text) = python(&["encode", "--mak", MAK], &json.to_string());
    let output = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["frame", "decode", &text])
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("sale request"), "{printed}");
    for (key, value) in json.as_object().unwrap() {
        if let Ok(field) = key.parse::<u8>() {
            let value = value.as_str().unwrap();
            let line = printed
                .lines()
                .find(|line| line.trim_start().starts_with(&format!("{field} ")))
                .unwrap_or_else(|| panic!("field {field} not printed:\n{printed}"));
            assert!(line.contains(value), "field {field} shows {value}: {line}");
        }
    }
    assert!(printed.contains("60.2 batch number"));
}
