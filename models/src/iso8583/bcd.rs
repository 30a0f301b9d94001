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

/// Marks a byte outside the alphabet in the nibble tables; any bit above the
/// low four will do, so one OR over a whole field tells whether all packed.
const NOT_PACKABLE: u8 = 0xFF;

/// The nibble of every ASCII byte, [`NOT_PACKABLE`] outside the alphabet:
/// the arithmetic of `nibble_of` done once at compile time, because packing
/// is per character on every encode.
const fn nibble_table(track: bool) -> [u8; 256] {
    let mut table = [NOT_PACKABLE; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    if track {
        table[b'=' as usize] = 0x0D;
    }
    table
}

static NIBBLES_NUMERIC: [u8; 256] = nibble_table(false);
static NIBBLES_TRACK: [u8; 256] = nibble_table(true);

/// Packs ASCII digits (and `=` when `track`) into `out`. The input must already
/// be validated against the field's alphabet.
pub fn pack(digits: &[u8], justify: Justify, track: bool, out: &mut Vec<u8>) {
    let nibbles = if track { &NIBBLES_TRACK } else { &NIBBLES_NUMERIC };
    // Reserve once, then push: a resize would zero the bytes (a memset call)
    // only to overwrite them, and most packed fields are 1 to 10 bytes.
    out.reserve(packed_len(digits.len()));
    let mut rest = digits;
    let odd = digits.len() % 2 == 1;
    // OR of every nibble looked up: above 0x0F exactly when one was not packable.
    let mut seen = 0u8;
    if odd && justify == Justify::Right {
        let nibble = nibbles[usize::from(rest[0])];
        seen |= nibble;
        out.push(nibble);
        rest = &rest[1..];
    }
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        let (high, low) = (nibbles[usize::from(pair[0])], nibbles[usize::from(pair[1])]);
        seen |= high | low;
        out.push(high << 4 | low);
    }
    if let [last] = pairs.remainder() {
        let nibble = nibbles[usize::from(*last)];
        seen |= nibble;
        out.push(nibble << 4);
    }
    if seen > 0x0F {
        // Name the first offender as the arithmetic packer did.
        for &ch in digits {
            nibble_of(ch, track);
        }
        unreachable!("a character outside the alphabet went unnamed");
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

/// The two characters of every packed byte, `0` for a nibble outside the
/// alphabet (no character is `0`): `char_of` done once at compile time.
const fn pair_table(track: bool) -> [[u8; 2]; 256] {
    const fn char_or_zero(nibble: u8, track: bool) -> u8 {
        match nibble {
            0..=9 => b'0' + nibble,
            0x0D if track => b'=',
            _ => 0,
        }
    }
    let mut table = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] =
            [char_or_zero((byte >> 4) as u8, track), char_or_zero(byte as u8 & 0x0F, track)];
        byte += 1;
    }
    table
}

static PAIRS_NUMERIC: [[u8; 2]; 256] = pair_table(false);
static PAIRS_TRACK: [[u8; 2]; 256] = pair_table(true);

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
    // A trailing pad nibble is zero by now, a valid digit, so it unpacks with
    // its byte and is dropped after: the loop needs no per-nibble position test.
    let pairs = if track { &PAIRS_TRACK } else { &PAIRS_NUMERIC };
    let start = out.len();
    let head = usize::from(skip_first);
    let body = &bytes[head..];
    out.reserve(head + 2 * body.len());
    let mut valid = true;
    if skip_first {
        let low = pairs[usize::from(bytes[0])][1];
        valid &= low != 0;
        out.push(low);
    }
    for &byte in body {
        let pair = pairs[usize::from(byte)];
        valid &= (pair[0] != 0) & (pair[1] != 0);
        out.extend_from_slice(&pair);
    }
    if !valid {
        // Errors are rare: the nibble-by-nibble walk names the first bad one
        // and leaves `out` as it always did.
        out.truncate(start);
        return unpack_by_nibble(bytes, digits, skip_first, track, out);
    }
    if odd && justify == Justify::Left {
        out.pop();
    }
    debug_assert_eq!(out.len() - start, digits);
    Ok(())
}

/// The arithmetic unpacker: the reference the tables are tested against, and
/// the path that reports a bad nibble.
fn unpack_by_nibble(
    bytes: &[u8],
    digits: usize,
    skip_first: bool,
    track: bool,
    out: &mut Vec<u8>,
) -> Result<(), BcdError> {
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

/// `value` as right-justified BCD filling `BYTES` bytes (`2 * BYTES`
/// digits), on the stack: for fixed parts of a frame such as the header.
pub fn pack_u64_array<const BYTES: usize>(value: u64) -> [u8; BYTES] {
    let mut packed = [0u8; BYTES];
    let mut rest = value;
    for byte in packed.iter_mut().rev() {
        let pair = (rest % 100) as u8;
        *byte = (pair / 10) << 4 | pair % 10;
        rest /= 100;
    }
    assert_eq!(rest, 0, "{value} does not fit in {} digits", 2 * BYTES);
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibble_tables_equal_the_arithmetic_for_every_byte() {
        for track in [false, true] {
            let table = if track { &NIBBLES_TRACK } else { &NIBBLES_NUMERIC };
            for ch in 0..=255u8 {
                let packable = ch.is_ascii_digit() || (track && ch == b'=');
                if packable {
                    assert_eq!(table[usize::from(ch)], nibble_of(ch, track), "{ch:#04x}");
                } else {
                    assert!(table[usize::from(ch)] > 0x0F, "{ch:#04x}");
                }
            }
        }
    }

    #[test]
    fn pair_tables_equal_the_arithmetic_for_every_byte() {
        for track in [false, true] {
            let table = if track { &PAIRS_TRACK } else { &PAIRS_NUMERIC };
            for byte in 0..=255u8 {
                for (slot, nibble) in [(0, byte >> 4), (1, byte & 0x0F)] {
                    let expected = char_of(nibble, track, 0).unwrap_or(0);
                    assert_eq!(table[usize::from(byte)][slot], expected, "{byte:#04x}");
                }
            }
        }
    }

    /// Every one- and two-byte input, every justification, both alphabets:
    /// the table unpacker's output and error equal the arithmetic one's,
    /// including what it leaves in `out` on error.
    #[test]
    fn table_unpack_equals_the_nibble_walk_on_every_short_input() {
        let mut inputs: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        inputs.extend((0..=0xFFFFu16).map(|w| w.to_be_bytes().to_vec()));
        for bytes in &inputs {
            for digits in [2 * bytes.len() - 1, 2 * bytes.len()] {
                for justify in [Justify::Left, Justify::Right] {
                    for track in [false, true] {
                        let mut fast = b"prefix".to_vec();
                        let fast_result = unpack(bytes, digits, justify, track, &mut fast);
                        let mut slow = b"prefix".to_vec();
                        let odd = digits % 2 == 1;
                        let slow_result = if odd && justify == Justify::Right && bytes[0] >> 4 != 0
                        {
                            Err(BcdError::PadNotZero { nibble: bytes[0] >> 4 })
                        } else if odd
                            && justify == Justify::Left
                            && bytes[bytes.len() - 1] & 0x0F != 0
                        {
                            Err(BcdError::PadNotZero { nibble: bytes[bytes.len() - 1] & 0x0F })
                        } else {
                            let skip_first = odd && justify == Justify::Right;
                            unpack_by_nibble(bytes, digits, skip_first, track, &mut slow)
                        };
                        assert_eq!(fast_result, slow_result, "{bytes:02x?} {digits} {justify:?}");
                        assert_eq!(fast, slow, "{bytes:02x?} {digits} {justify:?} {track}");
                    }
                }
            }
        }
    }

    /// The table packer against the arithmetic one, on every digit string
    /// of up to three characters from the track alphabet.
    #[test]
    fn table_pack_equals_the_arithmetic() {
        const ALPHABET: &[u8] = b"0123456789=";
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<u8>> = strings
                .iter()
                .flat_map(|s| ALPHABET.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
                .collect();
            strings.extend(longer.into_iter().filter(|s| s.len() <= 3));
            strings.sort();
            strings.dedup();
        }
        for digits in &strings {
            for justify in [Justify::Left, Justify::Right] {
                for track in [false, true] {
                    if !track && digits.contains(&b'=') {
                        continue;
                    }
                    let mut expected = vec![0xAA];
                    let odd = digits.len() % 2 == 1;
                    let mut rest = &digits[..];
                    if odd && justify == Justify::Right {
                        expected.push(nibble_of(rest[0], track));
                        rest = &rest[1..];
                    }
                    for pair in rest.chunks(2) {
                        let low = pair.get(1).map_or(0, |&c| nibble_of(c, track));
                        expected.push(nibble_of(pair[0], track) << 4 | low);
                    }
                    let mut packed = vec![0xAA];
                    pack(digits, justify, track, &mut packed);
                    assert_eq!(packed, expected, "{digits:?} {justify:?} {track}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "unvalidated character 0x3d")]
    fn packing_a_character_outside_the_alphabet_panics() {
        pack(b"1=", Justify::Left, false, &mut Vec::new());
    }

    #[test]
    fn stack_packing_equals_the_vec_packing() {
        for value in [0, 1, 9, 10, 99, 100, 123_456, 310_001, 999_999] {
            let mut packed = Vec::new();
            pack_u64(value, 6, &mut packed);
            assert_eq!(pack_u64_array::<3>(value).as_slice(), packed);
        }
    }

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
