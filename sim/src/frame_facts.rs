//! What the trace says of one frame, decoded once where the frame is
//! recorded: its MTI and STAN, the terminal it is from or for (field 41, on
//! every hop), the amount (field 4), the response code (field 39), and a
//! short listing of its other fields for the report's hover text.
//!
//! The listing masks what a report must not show: the card number keeps
//! its first six and last four digits, the expiry and track data are
//! hidden (`****`, `track[31]`: its length), PIN blocks, IC data and key
//! blocks show only their length in bytes (`b[8]`). The
//! MAC is shown in hex: it is what a failed check is about. Spaces inside a
//! value are written `_`, so the listing splits on spaces; a value longer
//! than [`VALUE_CHARS_MAX`] is cut with `…`.
//!
//! ```
//! use possim_models::iso8583::{Message, Mti};
//! use possim_sim::frame_facts::FrameFacts;
//! let mut answer = Message::new(Mti::FINANCIAL_RESPONSE);
//! answer.set(11, b"000003").unwrap();
//! answer.set(39, b"00").unwrap();
//! let facts = FrameFacts::of_message(&answer, 40);
//! assert_eq!((facts.stan, facts.code.map(|c| c.to_string())), (Some(3), Some("00".into())));
//! ```

use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::spec::{field_spec, Alphabet};
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::{Frame, Message};

/// The longest value the listing shows whole.
pub const VALUE_CHARS_MAX: usize = 32;

/// The decoded facts of one frame; all `None` when it does not decode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameFacts {
    pub mti: Option<String>,
    pub stan: Option<u32>,
    pub terminal: Option<TerminalId>,
    pub amount_fen: Option<u64>,
    pub code: Option<ResponseCode>,
    /// `N=value` for the other fields, separated by spaces.
    pub fields: String,
    /// The frame's length on the wire.
    pub bytes: usize,
}

impl FrameFacts {
    pub fn of(bytes: &[u8]) -> FrameFacts {
        FrameFacts::of_decoded(Frame::decode(bytes).ok().as_ref().map(|f| &f.message), bytes.len())
    }

    /// The facts of a frame already decoded (`None`: it did not decode).
    pub fn of_decoded(message: Option<&Message>, bytes: usize) -> FrameFacts {
        match message {
            Some(message) => FrameFacts::of_message(message, bytes),
            None => FrameFacts { bytes, ..FrameFacts::default() },
        }
    }

    pub fn of_message(message: &Message, bytes: usize) -> FrameFacts {
        FrameFacts {
            mti: Some(message.mti().to_string()),
            stan: message.get_number(11).map(|n| n as u32),
            terminal: message.get(41).and_then(TerminalId::from_wire),
            amount_fen: message.get_number(4),
            code: message.get(39).and_then(ResponseCode::from_wire),
            fields: listing(message),
            bytes,
        }
    }
}

/// The fields a report may show, masked; without 4, 11, 39 and 41, which
/// the record carries on their own.
pub fn listing(message: &Message) -> String {
    thread_local! {
        /// Built here, then copied out at its exact size: one allocation a
        /// frame, and no slack kept for the whole run.
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|scratch| {
        let mut out = scratch.borrow_mut();
        out.clear();
        for (field, value) in message.fields() {
            if matches!(field, 4 | 11 | 39 | 41) {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            push_number(&mut out, field as usize);
            out.push('=');
            let mut shown = Shown { out: &mut out, count: 0, cut: false };
            match field {
                2 => mask_pan(value, &mut shown),
                14 => shown.push_str("****"),
                35 | 36 => shown.sized("track", value.len()),
                64 => {
                    for byte in value {
                        shown.push(HEX_UPPER[usize::from(byte >> 4)] as char);
                        shown.push(HEX_UPPER[usize::from(byte & 0x0F)] as char);
                    }
                }
                _ if field_spec(field).is_some_and(|spec| spec.alphabet == Alphabet::Binary) => {
                    shown.sized("b", value.len())
                }
                _ => shown.push_str(&String::from_utf8_lossy(value)),
            }
        }
        out.as_str().to_owned()
    })
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// One value as the listing shows it: whitespace as `_`, cut with `…`
/// after [`VALUE_CHARS_MAX`] characters.
struct Shown<'a> {
    out: &'a mut String,
    count: usize,
    cut: bool,
}

impl Shown<'_> {
    fn push(&mut self, c: char) {
        if self.cut {
            return;
        }
        if self.count == VALUE_CHARS_MAX {
            self.out.push('…');
            self.cut = true;
            return;
        }
        self.out.push(if c.is_whitespace() { '_' } else { c });
        self.count += 1;
    }

    fn push_str(&mut self, text: &str) {
        for c in text.chars() {
            self.push(c);
        }
    }

    /// `name[length]`.
    fn sized(&mut self, name: &str, length: usize) {
        self.push_str(name);
        self.push('[');
        let (digits, at) = decimal(length);
        for &digit in &digits[at..] {
            self.push(digit as char);
        }
        self.push(']');
    }
}

/// `number` in decimal, without the formatting machinery.
fn push_number(out: &mut String, number: usize) {
    let (digits, at) = decimal(number);
    for &digit in &digits[at..] {
        out.push(digit as char);
    }
}

/// The decimal digits of `number`: `digits[at..]`.
fn decimal(number: usize) -> ([u8; 20], usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = number;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    (digits, at)
}

fn mask_pan(value: &[u8], shown: &mut Shown<'_>) {
    let text = String::from_utf8_lossy(value);
    if text.len() < 11 || !text.is_ascii() {
        for _ in text.chars() {
            shown.push('*');
        }
        return;
    }
    shown.push_str(&text[..6]);
    for _ in 0..text.len() - 10 {
        shown.push('*');
    }
    shown.push_str(&text[text.len() - 4..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_models::iso8583::Mti;

    fn sale() -> Message {
        let mut message = Message::new(Mti::FINANCIAL);
        message.set(2, b"6222020000000013").unwrap();
        message.set(4, b"000000162528").unwrap();
        message.set(11, b"000003").unwrap();
        message.set(14, b"3012").unwrap();
        message.set(35, b"6222020000000013=30121010000000").unwrap();
        message.set(41, b"QS000002").unwrap();
        message.set(42, b"898100000000001").unwrap();
        message.set(52, &[0x11; 8]).unwrap();
        message.set(64, &[0xAB; 8]).unwrap();
        message
    }

    #[test]
    fn the_facts_name_the_trade_on_every_hop() {
        let facts = FrameFacts::of_message(&sale(), 120);
        assert_eq!(facts.mti.as_deref(), Some("0200"));
        assert_eq!(facts.stan, Some(3));
        assert_eq!(facts.terminal.map(|t| t.to_string()).as_deref(), Some("QS000002"));
        assert_eq!(facts.amount_fen, Some(162_528));
        assert_eq!(facts.code, None);
        assert_eq!(facts.bytes, 120);
    }

    #[test]
    fn the_listing_masks_card_data_and_keys() {
        let listing = listing(&sale());
        assert_eq!(
            listing,
            "2=622202******0013 14=**** 35=track[31] 42=898100000000001 52=b[8] \
             64=ABABABABABABABAB"
        );
        assert!(!listing.contains("6222020000000013"));
    }

    #[test]
    fn undecodable_bytes_give_only_their_length() {
        let facts = FrameFacts::of(&[0x00, 0x02, 0xFF, 0xFF]);
        assert_eq!(facts, FrameFacts { bytes: 4, ..FrameFacts::default() });
    }
}
