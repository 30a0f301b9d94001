//! Packed BCD as CUP uses it.
//!
//! Two justifications exist on the wire. Fixed-length numeric fields are
//! right-justified: an odd digit count gets a leading `0` nibble. Variable-length
//! numeric and track fields (and field 22) are left-justified: an odd digit count
//! gets a trailing `0` pad nibble. Track data (`z`) writes `=` as nibble `D`.
//!
//! ```
//! use possim_models::iso8583::bcd;
//! let mut out = Vec::new();
//! bcd::pack(b"021", bcd::Justify::Left, false, &mut out);
//! assert_eq!(out, [0x02, 0x10]);
//! let mut digits = Vec::new();
//! bcd::unpack(&out, 3, bcd::Justify::Left, false, &mut digits).unwrap();
//! assert_eq!(digits, b"021");
//! ```

/// Where the digits sit when their count is odd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Justify {
    /// Leading pad nibble (fixed-length `n`).
    Right,
    /// Trailing pad nibble (variable `n`, `z`, field 22).
    Left,
}

/// Why a run of nibbles is not valid packed BCD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BcdError {
    /// A nibble outside the field's alphabet, at this digit position.
    BadNibble { position: usize, nibble: u8 },
    /// The pad nibble was not zero.
    PadNotZero { nibble: u8 },
}

/// Number of bytes that `digits` decimal digits occupy.
#[inline]
pub const fn packed_len(digits: usize) -> usize {
    digits.div_ceil(2)
}

#[inline]
fn nibble_of(ch: u8, track: bool) -> u8 {
    match ch {
        b'0'..=b'9' => ch - b'0',
        b'=' if track => 0x0D,
        // The caller validates the alphabet before packing; reaching here is a bug.
        _ => unreachable!("pack called with unvalidated character {ch:#04x}"),
    }
}

/// Packs ASCII digits (and `=` when `track`) into `out`. The input must already
/// be validated against the field's alphabet.
pub fn pack(digits: &[u8], justify: Justify, track: bool, out: &mut Vec<u8>) {
    let odd = digits.len() % 2 == 1;
    let mut rest = digits;
    if odd && justify == Justify::Right {
        out.push(nibble_of(rest[0], track));
        rest = &rest[1..];
    }
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        out.push(nibble_of(pair[0], track) << 4 | nibble_of(pair[1], track));
    }
    if let [last] = pairs.remainder() {
        out.push(nibble_of(*last, track) << 4);
    }
}

#[inline]
fn char_of(nibble: u8, track: bool, position: usize) -> Result<u8, BcdError> {
    match nibble {
        0..=9 => Ok(b'0' + nibble),
        0x0D if track => Ok(b'='),
        _ => Err(BcdError::BadNibble { position, nibble }),
    }
}

/// Unpacks `digits` digits from `bytes` (which must hold exactly
/// `packed_len(digits)` bytes) into ASCII, appending to `out`.
pub fn unpack(
    bytes: &[u8],
    digits: usize,
    justify: Justify,
    track: bool,
    out: &mut Vec<u8>,
) -> Result<(), BcdError> {
    assert_eq!(bytes.len(), packed_len(digits));
    let odd = digits % 2 == 1;
    let skip_first = odd && justify == Justify::Right;
    if skip_first && bytes[0] >> 4 != 0 {
        return Err(BcdError::PadNotZero { nibble: bytes[0] >> 4 });
    }
    if odd && justify == Justify::Left && bytes[bytes.len() - 1] & 0x0F != 0 {
        return Err(BcdError::PadNotZero { nibble: bytes[bytes.len() - 1] & 0x0F });
    }
    let mut position = 0;
    for (index, byte) in bytes.iter().enumerate() {
        let high = byte >> 4;
        let low = byte & 0x0F;
        if !(index == 0 && skip_first) {
            out.push(char_of(high, track, position)?);
            position += 1;
        }
        if position < digits {
            out.push(char_of(low, track, position)?);
            position += 1;
        }
    }
    debug_assert_eq!(position, digits);
    Ok(())
}

/// Reads a BCD-coded length prefix of one (`LL`) or two (`LLL`) bytes.
pub fn read_length(bytes: &[u8]) -> Option<usize> {
    let mut value = 0usize;
    for byte in bytes {
        let (high, low) = (byte >> 4, byte & 0x0F);
        if high > 9 || low > 9 {
            return None;
        }
        value = value * 100 + usize::from(high) * 10 + usize::from(low);
    }
    Some(value)
}

/// Writes a BCD length prefix of `width` bytes (1 or 2).
pub fn write_length(value: usize, width: usize, out: &mut Vec<u8>) {
    debug_assert!(width == 1 || width == 2);
    debug_assert!(value < 10usize.pow(2 * width as u32));
    if width == 2 {
        let hundreds = value / 100;
        out.push(((hundreds / 10) << 4 | hundreds % 10) as u8);
    }
    let low = value % 100;
    out.push(((low / 10) << 4 | low % 10) as u8);
}

/// Packs a number into `out` as right-justified BCD of `digits` digits.
pub fn pack_u64(mut value: u64, digits: usize, out: &mut Vec<u8>) {
    let mut buffer = [0u8; 20];
    assert!(digits <= buffer.len());
    for slot in buffer[..digits].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    assert_eq!(value, 0, "value does not fit in {digits} digits");
    pack(&buffer[..digits], Justify::Right, false, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_justified_odd_gets_leading_zero() {
        let mut out = Vec::new();
        pack(b"123", Justify::Right, false, &mut out);
        assert_eq!(out, [0x01, 0x23]);
    }

    #[test]
    fn track_equals_is_nibble_d() {
        let mut out = Vec::new();
        pack(b"12=3", Justify::Left, true, &mut out);
        assert_eq!(out, [0x12, 0xD3]);
        let mut back = Vec::new();
        unpack(&out, 4, Justify::Left, true, &mut back).unwrap();
        assert_eq!(back, b"12=3");
    }

    #[test]
    fn d_nibble_is_not_a_digit_in_n_fields() {
        let mut back = Vec::new();
        let err = unpack(&[0x1D], 2, Justify::Left, false, &mut back).unwrap_err();
        assert_eq!(err, BcdError::BadNibble { position: 1, nibble: 0xD });
    }

    #[test]
    fn nonzero_pad_nibble_is_rejected() {
        let mut back = Vec::new();
        assert_eq!(
            unpack(&[0x12, 0x3F], 3, Justify::Left, false, &mut back),
            Err(BcdError::PadNotZero { nibble: 0xF })
        );
        assert_eq!(
            unpack(&[0x51, 0x23], 3, Justify::Right, false, &mut back),
            Err(BcdError::PadNotZero { nibble: 0x5 })
        );
    }

    #[test]
    fn lengths_round_trip() {
        let mut out = Vec::new();
        write_length(322, 2, &mut out);
        assert_eq!(out, [0x03, 0x22]);
        assert_eq!(read_length(&out), Some(322));
        assert_eq!(read_length(&[0x1A]), None);
    }
}
