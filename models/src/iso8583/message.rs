//! A CUP POS message: the MTI, the bitmap and the fields, untyped.
//!
//! Values are held as they travel, in text: numeric fields as ASCII digits at
//! full width, track fields with `=`, text fields with their space padding;
//! binary fields as raw bytes. Setting a value checks it against the field
//! table, so a `Message` can always be encoded.
//!
//! ```
//! use possim_models::iso8583::{Message, Mti};
//! let mut message = Message::new(Mti::FINANCIAL);
//! message.set(3, b"000000").unwrap();
//! message.set(4, b"000000001000").unwrap();
//! assert!(message.set(4, b"12").is_err()); // n12 is fixed
//! let mut wire = Vec::new();
//! message.encode(&mut wire);
//! let back = Message::decode(&wire).unwrap();
//! assert_eq!(back, message);
//! ```

use super::bcd::{self, BcdError};
use super::error::{DecodeError, FieldError, FieldFault};
use super::mti::Mti;
use super::spec::{field_spec, Alphabet, FieldSpec, LengthRule};

/// The most value bytes one message holds: the table's maxima summed, as text.
pub const MESSAGE_VALUE_BYTES_MAX: usize = 2048;
/// Bytes of MTI plus bitmap.
pub const MESSAGE_PREFIX_BYTES: usize = 10;
/// The MAC's field number.
pub const MAC_FIELD: u8 = 64;
/// Value bytes a new message makes room for: a chip sale holds about 320
/// (141 of them ICC data), so 512 spares it a reallocation and a copy.
const MESSAGE_VALUE_BYTES_INITIAL: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u16,
    len: u16,
}

/// A decoded or built message. See the module docs.
#[derive(Clone)]
pub struct Message {
    mti: Mti,
    spans: [Option<Span>; 65],
    /// The primary bitmap: bit `64 - field` set exactly when `spans[field]`
    /// is. Kept beside the spans so encode and decode visit only the fields
    /// present (about 18 of 63) instead of testing every slot.
    present: u64,
    data: Vec<u8>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_map();
        list.entry(&"mti", &self.mti.to_string());
        for (field, value) in self.fields() {
            match std::str::from_utf8(value) {
                Ok(text) if field_spec(field).is_some_and(|s| s.alphabet != Alphabet::Binary) => {
                    list.entry(&field, &text)
                }
                _ => list.entry(&field, &super::hex::encode_upper(value)),
            };
        }
        list.finish()
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.mti == other.mti && (2..=64).all(|field| self.get(field) == other.get(field))
    }
}
impl Eq for Message {}

fn check_value(spec: &FieldSpec, value: &[u8]) -> Result<(), FieldFault> {
    let length = value.len();
    match spec.length {
        LengthRule::Fixed(units) if length != usize::from(units) => {
            return Err(FieldFault::WrongLength { length, expected: usize::from(units) })
        }
        LengthRule::Ll { max } | LengthRule::Lll { max } if length > usize::from(max) => {
            return Err(FieldFault::LengthOverMax { length, max: usize::from(max) })
        }
        _ => {}
    }
    if spec.alphabet != Alphabet::Binary {
        if let Some(position) = value.iter().position(|&byte| !spec.alphabet.allows(byte)) {
            return Err(FieldFault::BadCharacter { position, byte: value[position] });
        }
    }
    Ok(())
}

impl Message {
    pub fn new(mti: Mti) -> Message {
        Message {
            mti,
            spans: [None; 65],
            present: 0,
            data: Vec::with_capacity(MESSAGE_VALUE_BYTES_INITIAL),
        }
    }

    pub fn mti(&self) -> Mti {
        self.mti
    }

    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// Sets field `field` to `value`, replacing any value it had.
    pub fn set(&mut self, field: u8, value: &[u8]) -> Result<(), FieldError> {
        let spec = field_spec(field).ok_or(FieldError::NotInTable { field })?;
        check_value(spec, value).map_err(|fault| FieldError::Invalid { field, fault })?;
        if let Some(span) = self.spans[usize::from(field)] {
            if usize::from(span.len) == value.len() {
                // Same length (a MAC written over its placeholder): overwrite
                // in place rather than compact the buffer and append.
                let start = usize::from(span.start);
                self.data[start..start + value.len()].copy_from_slice(value);
                return Ok(());
            }
        }
        self.remove(field);
        assert!(self.data.len() + value.len() <= MESSAGE_VALUE_BYTES_MAX);
        let start = self.data.len() as u16;
        self.data.extend_from_slice(value);
        self.spans[usize::from(field)] = Some(Span { start, len: value.len() as u16 });
        self.present |= field_bit(field);
        Ok(())
    }

    /// Sets a fixed numeric field from a number, zero-padded to the field's width.
    pub fn set_number(&mut self, field: u8, value: u64) -> Result<(), FieldError> {
        let spec = field_spec(field).ok_or(FieldError::NotInTable { field })?;
        let LengthRule::Fixed(width) = spec.length else {
            return Err(FieldError::Invalid {
                field,
                fault: FieldFault::WrongLength { length: 0, expected: 0 },
            });
        };
        let mut digits = [b'0'; 20];
        let width = usize::from(width);
        let mut rest = value;
        for slot in digits[..width].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        if rest != 0 {
            return Err(FieldError::Invalid {
                field,
                fault: FieldFault::LengthOverMax { length: value.to_string().len(), max: width },
            });
        }
        self.set(field, &digits[..width])
    }

    /// Removes field `field`; returns whether it was present.
    pub fn remove(&mut self, field: u8) -> bool {
        let Some(span) = self.spans.get_mut(usize::from(field)).and_then(Option::take) else {
            return false;
        };
        self.present &= !field_bit(field);
        let (start, len) = (usize::from(span.start), usize::from(span.len));
        // Compact so the buffer stays bounded, and pull back every span after
        // the removed one — an empty value set later starts exactly at the old
        // end, so even removing the last bytes must move it (a regression test
        // in tests/roundtrip.rs holds this).
        self.data.drain(start..start + len);
        for other in self.spans.iter_mut().flatten() {
            if usize::from(other.start) > start {
                other.start -= span.len;
            }
        }
        true
    }

    /// The value of field `field` as it travels (digits, text or raw bytes).
    #[inline]
    pub fn get(&self, field: u8) -> Option<&[u8]> {
        let span = (*self.spans.get(usize::from(field))?)?;
        let start = usize::from(span.start);
        Some(&self.data[start..start + usize::from(span.len)])
    }

    /// The value of a non-binary field as text.
    pub fn get_str(&self, field: u8) -> Option<&str> {
        let spec = field_spec(field)?;
        if spec.alphabet == Alphabet::Binary {
            return None;
        }
        // Non-binary values are checked ASCII on the way in.
        std::str::from_utf8(self.get(field)?).ok()
    }

    /// The value of a numeric field as a number (at most 19 digits).
    pub fn get_number(&self, field: u8) -> Option<u64> {
        let digits = self.get(field)?;
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
    }

    pub fn has(&self, field: u8) -> bool {
        self.get(field).is_some()
    }

    /// Present fields, ascending.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        fields_of(self.bitmap())
            .map(move |field| (field, self.get(field).expect("the bitmap names only set fields")))
    }

    /// The primary bitmap of the present fields.
    pub fn bitmap(&self) -> u64 {
        debug_assert_eq!(
            self.present,
            (2..=64u8)
                .filter(|&field| self.spans[usize::from(field)].is_some())
                .fold(0, |bits, field| bits | field_bit(field)),
            "the bitmap and the spans disagree"
        );
        self.present
    }

    /// Appends MTI, bitmap and fields to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(MESSAGE_PREFIX_BYTES + self.data.len());
        out.extend_from_slice(&self.mti.to_bcd());
        out.extend_from_slice(&self.bitmap().to_be_bytes());
        for field in fields_of(self.bitmap()) {
            let span = self.spans[usize::from(field)].expect("the bitmap names only set fields");
            let spec = field_spec(field).expect("set() admits only table fields");
            let start = usize::from(span.start);
            encode_field(spec, &self.data[start..start + usize::from(span.len)], out);
        }
    }

    /// Decodes MTI, bitmap and fields; `bytes` must hold exactly one message.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        Message::decode_at(bytes).map(|(message, _)| message)
    }

    /// As [`Message::decode`], also returning where field 64 starts, if present:
    /// the end of the bytes the MAC covers.
    pub fn decode_at(bytes: &[u8]) -> Result<(Message, Option<usize>), DecodeError> {
        if bytes.len() < MESSAGE_PREFIX_BYTES {
            return Err(DecodeError::TooShort {
                length: bytes.len(),
                minimum: MESSAGE_PREFIX_BYTES,
            });
        }
        let mti = Mti::from_bcd([bytes[0], bytes[1]]).ok_or(DecodeError::BadMti { offset: 0 })?;
        let mut bitmap_bytes = [0u8; 8];
        bitmap_bytes.copy_from_slice(&bytes[2..10]);
        let bitmap = u64::from_be_bytes(bitmap_bytes);
        if bitmap & (1u64 << 63) != 0 {
            return Err(DecodeError::SecondaryBitmap { offset: 2 });
        }
        // Text takes at most twice the packed bytes, so this bounds the buffer by the input.
        let mut message = Message {
            mti,
            spans: [None; 65],
            present: bitmap,
            data: Vec::with_capacity((bytes.len() * 2).min(MESSAGE_VALUE_BYTES_MAX)),
        };
        let mut offset = MESSAGE_PREFIX_BYTES;
        let mut mac_start = None;
        for field in fields_of(bitmap) {
            let spec = field_spec(field).ok_or(DecodeError::UnknownField {
                offset: 2 + usize::from((field - 1) / 8),
                field,
            })?;
            if field == MAC_FIELD {
                mac_start = Some(offset);
            }
            let start = message.data.len();
            let consumed = decode_field(spec, &bytes[offset..], &mut message.data)
                .map_err(|fault| DecodeError::Field { offset, field, fault })?;
            let len = message.data.len() - start;
            assert!(message.data.len() <= MESSAGE_VALUE_BYTES_MAX);
            message.spans[usize::from(field)] = Some(Span { start: start as u16, len: len as u16 });
            offset += consumed;
        }
        if offset != bytes.len() {
            return Err(DecodeError::TrailingBytes { offset, extra: bytes.len() - offset });
        }
        Ok((message, mac_start))
    }
}

/// The bitmap bit of `field` (2..=64): the most significant bit is field 1.
#[inline]
fn field_bit(field: u8) -> u64 {
    debug_assert!((1..=64).contains(&field));
    1u64 << (64 - u32::from(field))
}

/// The fields whose bits are set in `bitmap`, ascending.
#[inline]
fn fields_of(bitmap: u64) -> impl Iterator<Item = u8> {
    let mut rest = bitmap;
    std::iter::from_fn(move || {
        if rest == 0 {
            return None;
        }
        let field = rest.leading_zeros() as u8 + 1;
        rest &= !field_bit(field);
        Some(field)
    })
}

fn encode_field(spec: &FieldSpec, value: &[u8], out: &mut Vec<u8>) {
    match spec.length {
        LengthRule::Fixed(_) => {}
        LengthRule::Ll { .. } => bcd::write_length(value.len(), 1, out),
        LengthRule::Lll { .. } => bcd::write_length(value.len(), 2, out),
    }
    if spec.alphabet.is_packed() {
        bcd::pack(value, spec.justify, spec.alphabet == Alphabet::Track, out);
    } else {
        out.extend_from_slice(value);
    }
}

/// Decodes one field from the front of `bytes`, appending its value to `data`.
/// Returns the bytes consumed.
fn decode_field(spec: &FieldSpec, bytes: &[u8], data: &mut Vec<u8>) -> Result<usize, FieldFault> {
    let prefix = spec.length.prefix_bytes();
    if bytes.len() < prefix {
        return Err(FieldFault::Truncated { needed: prefix, remaining: bytes.len() });
    }
    let units = match spec.length {
        LengthRule::Fixed(units) => usize::from(units),
        LengthRule::Ll { max } | LengthRule::Lll { max } => {
            let units = bcd::read_length(&bytes[..prefix]).ok_or(FieldFault::LengthPrefixNotBcd)?;
            if units > usize::from(max) {
                return Err(FieldFault::LengthOverMax { length: units, max: usize::from(max) });
            }
            units
        }
    };
    let needed = spec.value_bytes(units);
    let body = &bytes[prefix..];
    if body.len() < needed {
        return Err(FieldFault::Truncated { needed, remaining: body.len() });
    }
    let body = &body[..needed];
    if spec.alphabet.is_packed() {
        let track = spec.alphabet == Alphabet::Track;
        bcd::unpack(body, units, spec.justify, track, data).map_err(|error| match error {
            BcdError::BadNibble { position, nibble } => FieldFault::BadNibble { position, nibble },
            BcdError::PadNotZero { nibble } => FieldFault::PadNotZero { nibble },
        })?;
    } else {
        if spec.alphabet != Alphabet::Binary {
            if let Some(position) = body.iter().position(|&b| !spec.alphabet.allows(b)) {
                return Err(FieldFault::BadCharacter { position, byte: body[position] });
            }
        }
        data.extend_from_slice(body);
    }
    Ok(prefix + needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_bit_numbering_is_msb_first() {
        let mut message = Message::new(Mti::FINANCIAL);
        message.set(2, b"6222").unwrap();
        message.set(64, &[0; 8]).unwrap();
        assert_eq!(message.bitmap(), 0x4000_0000_0000_0001);
    }

    #[test]
    fn fields_of_a_bitmap_ascend() {
        assert_eq!(fields_of(0).count(), 0);
        assert_eq!(fields_of(u64::MAX).collect::<Vec<_>>(), (1..=64).collect::<Vec<u8>>());
        assert_eq!(fields_of(0x4000_0000_0000_0001).collect::<Vec<_>>(), [2, 64]);
        let mut message = Message::new(Mti::FINANCIAL);
        message.set(64, &[0; 8]).unwrap();
        message.set(3, b"000000").unwrap();
        message.remove(64);
        assert_eq!(message.bitmap(), field_bit(3));
    }

    #[test]
    fn replacing_with_an_equal_length_overwrites_in_place() {
        let mut message = Message::new(Mti::FINANCIAL);
        message.set(11, b"000001").unwrap();
        message.set(64, &[0; 8]).unwrap();
        message.set(41, b"T0000001").unwrap();
        message.set(64, b"ABCDEFGH").unwrap();
        message.set(11, b"000002").unwrap();
        assert_eq!(message.get(64), Some(&b"ABCDEFGH"[..]));
        assert_eq!(message.get(11), Some(&b"000002"[..]));
        assert_eq!(message.get(41), Some(&b"T0000001"[..]));
        assert_eq!(message.data.len(), 6 + 8 + 8, "nothing appended");
        let mut wire = Vec::new();
        message.encode(&mut wire);
        assert_eq!(Message::decode(&wire).unwrap(), message);
    }

    #[test]
    fn replacing_a_middle_field_keeps_the_others() {
        let mut message = Message::new(Mti::FINANCIAL);
        message.set(3, b"000000").unwrap();
        message.set(11, b"000001").unwrap();
        message.set(41, b"T0000001").unwrap();
        message.set(11, b"000002").unwrap();
        assert_eq!(message.get(3), Some(&b"000000"[..]));
        assert_eq!(message.get(11), Some(&b"000002"[..]));
        assert_eq!(message.get(41), Some(&b"T0000001"[..]));
    }

    #[test]
    fn secondary_bitmap_is_a_typed_error() {
        let mut bytes = vec![0x02, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(Message::decode(&bytes), Err(DecodeError::SecondaryBitmap { offset: 2 }));
    }

    #[test]
    fn field_outside_the_table_is_a_typed_error() {
        // Bit 5 set: field 5 is not used by CUP POS.
        let bytes = [0x02, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Message::decode(&bytes), Err(DecodeError::UnknownField { offset: 2, field: 5 }));
    }

    #[test]
    fn length_over_the_maximum_is_rejected_before_reading() {
        // Field 2 with LL = 99 (max 19).
        let bytes = [0x02, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x99];
        assert_eq!(
            Message::decode(&bytes),
            Err(DecodeError::Field {
                offset: 10,
                field: 2,
                fault: FieldFault::LengthOverMax { length: 99, max: 19 }
            })
        );
    }

    #[test]
    fn set_number_pads_and_rejects_overflow() {
        let mut message = Message::new(Mti::FINANCIAL);
        message.set_number(11, 42).unwrap();
        assert_eq!(message.get(11), Some(&b"000042"[..]));
        assert!(message.set_number(11, 1_000_000).is_err());
    }
}
