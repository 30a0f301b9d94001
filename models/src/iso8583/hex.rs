//! Hex text for binary fields, keys and whole frames, as engineers paste them.

/// Uppercase hex of `bytes`.
pub fn encode_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
    text
}

/// Why a text is not hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("character {character:?} at position {position} is not a hex digit")]
    BadDigit { position: usize, character: char },
    #[error("odd number of hex digits ({digits})")]
    OddLength { digits: usize },
}

/// Parses hex, ignoring ASCII white space (captures are often spaced or wrapped).
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let mut bytes = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0;
    for (position, character) in text.char_indices() {
        if character.is_ascii_whitespace() {
            continue;
        }
        let nibble =
            character.to_digit(16).ok_or(HexError::BadDigit { position, character })? as u8;
        digits += 1;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => bytes.push(h << 4 | nibble),
        }
    }
    if high.is_some() {
        return Err(HexError::OddLength { digits });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_spaces() {
        assert_eq!(decode("0a 1B\n2c").unwrap(), [0x0A, 0x1B, 0x2C]);
        assert_eq!(encode_upper(&[0x0A, 0x1B]), "0A1B");
        assert_eq!(decode("abc"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(decode("zz"), Err(HexError::BadDigit { position: 0, character: 'z' }));
    }
}
