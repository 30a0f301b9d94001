//! PIN blocks: ISO 9564 format 0, encrypted under a PIN key (PIK).
//!
//! The terminal encrypts the block under its PIK; each hop decrypts it with the
//! key of the link it came in on and encrypts it under the key of the link it
//! goes out on (PIN translation); the issuer decrypts and checks the PIN.
//!
//! ```
//! use possim_models::iso8583::keys::DesKey;
//! use possim_models::iso8583::pin::{decrypt_pin, encrypt_pin};
//! use possim_models::iso8583::values::Pan;
//! let pik = DesKey::from_hex("0123456789ABCDEF").unwrap();
//! let pan = Pan::new("6222021234567890123").unwrap();
//! let block = encrypt_pin(&pik, &pan, "123456").unwrap();
//! assert_eq!(decrypt_pin(&pik, &pan, &block).unwrap(), "123456");
//! ```

use super::keys::DesKey;
use super::values::Pan;

/// Why a PIN block does not decode (the host answers 99, PIN format error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("a PIN is 4 to 12 digits")]
    BadPin,
    #[error("the PIN block is not ISO 9564 format 0")]
    BadFormat,
}

fn pan_block(pan: &Pan) -> [u8; 8] {
    // The 12 rightmost digits excluding the check digit, behind four zero nibbles.
    let digits = pan.as_bytes();
    let body = &digits[digits.len() - 13..digits.len() - 1];
    let mut block = [0u8; 8];
    for (index, pair) in body.chunks_exact(2).enumerate() {
        block[2 + index] = (pair[0] - b'0') << 4 | (pair[1] - b'0');
    }
    block
}

/// The clear format-0 block of `pin` for `pan`.
pub fn clear_block(pan: &Pan, pin: &str) -> Result<[u8; 8], PinError> {
    let digits = pin.as_bytes();
    if !(4..=12).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return Err(PinError::BadPin);
    }
    let mut nibbles = [0x0Fu8; 16];
    nibbles[0] = 0;
    nibbles[1] = digits.len() as u8;
    for (index, digit) in digits.iter().enumerate() {
        nibbles[2 + index] = digit - b'0';
    }
    let pan = pan_block(pan);
    let mut block = [0u8; 8];
    for index in 0..8 {
        block[index] = (nibbles[2 * index] << 4 | nibbles[2 * index + 1]) ^ pan[index];
    }
    Ok(block)
}

pub fn encrypt_pin(pik: &DesKey, pan: &Pan, pin: &str) -> Result<[u8; 8], PinError> {
    let mut block = clear_block(pan, pin)?;
    pik.encrypt_block(&mut block);
    Ok(block)
}

pub fn decrypt_pin(pik: &DesKey, pan: &Pan, encrypted: &[u8; 8]) -> Result<String, PinError> {
    let mut block = *encrypted;
    pik.decrypt_block(&mut block);
    let pan = pan_block(pan);
    let mut nibbles = [0u8; 16];
    for index in 0..8 {
        let byte = block[index] ^ pan[index];
        nibbles[2 * index] = byte >> 4;
        nibbles[2 * index + 1] = byte & 0x0F;
    }
    let length = usize::from(nibbles[1]);
    if nibbles[0] != 0 || !(4..=12).contains(&length) {
        return Err(PinError::BadFormat);
    }
    let (pin, pad) = nibbles[2..].split_at(length);
    if !pin.iter().all(|n| *n <= 9) || !pad.iter().all(|n| *n == 0x0F) {
        return Err(PinError::BadFormat);
    }
    Ok(pin.iter().map(|n| char::from(b'0' + n)).collect())
}

/// Re-encrypts a PIN block from the key of one link to the key of the next.
pub fn translate_pin(
    from: &DesKey,
    to: &DesKey,
    pan: &Pan,
    encrypted: &[u8; 8],
) -> Result<[u8; 8], PinError> {
    let pin = decrypt_pin(from, pan, encrypted)?;
    encrypt_pin(to, pan, &pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_format_0_clear_block_by_hand() {
        // PIN 1234, PAN 4111111111111111: 041234FFFFFFFFFF ^ 0000111111111111.
        let pan = Pan::new("4111111111111111").unwrap();
        assert_eq!(
            clear_block(&pan, "1234").unwrap(),
            [0x04, 0x12, 0x25, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE]
        );
    }

    #[test]
    fn the_wrong_key_gives_a_format_error_or_another_pin() {
        let pan = Pan::new("6222021234567890123").unwrap();
        let right = DesKey::from_hex("0123456789ABCDEF").unwrap();
        let wrong = DesKey::from_hex("FEDCBA9876543210").unwrap();
        let block = encrypt_pin(&right, &pan, "1234").unwrap();
        assert_ne!(decrypt_pin(&wrong, &pan, &block), Ok("1234".to_string()));
    }
}
