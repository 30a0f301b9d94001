//! Fuzz target: any bytes through `Frame::decode_with_mac_span` and
//! `CupMessage::parse`.
//!
//! Asserted:
//! - nothing panics;
//! - a frame that decodes is canonical: encoding it again gives exactly the
//!   input, and the MAC span is `MTI .. last 8 bytes` exactly when F64 is there;
//! - a message that parses is a fixpoint of the typed layer: `to_message`
//!   does not panic and parses back to the same typed value, also through a
//!   whole (sealed) frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::frame::MESSAGE_OFFSET;
use possim_models::iso8583::mac::MacKey;
use possim_models::iso8583::Frame;

fuzz_target!(|data: &[u8]| {
    let Ok((frame, mac_span)) = Frame::decode_with_mac_span(data) else {
        return;
    };
    let mut again = Vec::with_capacity(data.len());
    frame.encode(&mut again);
    assert_eq!(again, data, "decode then encode must give the input back");
    match mac_span {
        Some(span) => {
            assert!(frame.message.has(64));
            assert_eq!(span, MESSAGE_OFFSET..data.len() - 8);
        }
        None => assert!(!frame.message.has(64)),
    }

    let Ok(typed) = CupMessage::parse(&frame.message) else {
        return;
    };
    let message = typed.to_message();
    assert_eq!(CupMessage::parse(&message).as_ref(), Ok(&typed), "typed fixpoint");

    let key = MacKey::new([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
    let mut resent = Frame { tpdu: frame.tpdu, header: frame.header, message };
    let mut wire = Vec::new();
    if typed.carries_mac() {
        key.seal(&mut resent, &mut wire);
    } else {
        resent.encode(&mut wire);
    }
    let (back, span) = Frame::decode_with_mac_span(&wire).expect("our own frame decodes");
    if typed.carries_mac() {
        assert!(key.verify(&wire, span, &back).is_valid());
    }
    assert_eq!(CupMessage::parse(&back.message).as_ref(), Ok(&typed), "through a frame");
});
