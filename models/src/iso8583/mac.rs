//! The CUP "POS ECB" MAC of field 64.
//!
//! Over the message from the MTI to the last byte before field 64 (no length,
//! TPDU or header): zero-pad to 8; XOR all blocks; expand the result to 16
//! uppercase ASCII hex; DES-encrypt the first 8 under the MAK; XOR with the last
//! 8; encrypt again; expand to hex; the MAC is the first 8 ASCII characters.
//!
//! ```
//! use possim_models::iso8583::mac::MacKey;
//! let key = MacKey::new([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
//! let mac = key.compute(b"\x02\x00some message bytes");
//! assert!(mac.iter().all(u8::is_ascii_hexdigit));
//! ```

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockEncrypt, KeyInit};
use des::Des;

use super::frame::Frame;
use super::message::MAC_FIELD;

/// A MAC key with its DES key schedule prepared once, not per message.
///
/// The check value is computed when asked for, not here: callers that build a
/// key per message (the actors do) would otherwise pay a third DES block per
/// MAC for a value only logs and tests read.
#[derive(Clone)]
pub struct MacKey {
    cipher: Des,
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MacKey(kcv {})", super::hex::encode_upper(&self.check_value()))
    }
}

/// The outcome of checking a frame's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCheck {
    Valid,
    /// The frame has no field 64.
    Missing,
    Wrong {
        received: [u8; 8],
        computed: [u8; 8],
    },
}

impl MacCheck {
    pub fn is_valid(self) -> bool {
        self == MacCheck::Valid
    }
}

fn expand_hex(block: [u8; 8]) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = [0u8; 16];
    for (index, byte) in block.iter().enumerate() {
        out[2 * index] = DIGITS[usize::from(byte >> 4)];
        out[2 * index + 1] = DIGITS[usize::from(byte & 0x0F)];
    }
    out
}

impl MacKey {
    pub fn new(key: [u8; 8]) -> MacKey {
        MacKey { cipher: Des::new(GenericArray::from_slice(&key)) }
    }

    /// The first four bytes of the key encrypting eight zero bytes.
    pub fn check_value(&self) -> [u8; 4] {
        let zero = self.encrypt([0u8; 8]);
        [zero[0], zero[1], zero[2], zero[3]]
    }

    fn encrypt(&self, block: [u8; 8]) -> [u8; 8] {
        let mut array = GenericArray::from(block);
        self.cipher.encrypt_block(&mut array);
        array.into()
    }

    /// The MAC of `data` (MTI through the byte before field 64).
    pub fn compute(&self, data: &[u8]) -> [u8; 8] {
        let mut folded = [0u8; 8];
        let mut blocks = data.chunks_exact(8);
        for block in &mut blocks {
            for (acc, byte) in folded.iter_mut().zip(block) {
                *acc ^= byte;
            }
        }
        for (acc, byte) in folded.iter_mut().zip(blocks.remainder()) {
            *acc ^= byte;
        }
        let text = expand_hex(folded);
        let mut left = [0u8; 8];
        left.copy_from_slice(&text[..8]);
        let mut step = self.encrypt(left);
        for (acc, byte) in step.iter_mut().zip(&text[8..]) {
            *acc ^= byte;
        }
        let result = expand_hex(self.encrypt(step));
        let mut mac = [0u8; 8];
        mac.copy_from_slice(&result[..8]);
        mac
    }

    /// Encodes `frame` with field 64 computed, writing the wire bytes to `out`.
    /// The frame's message keeps the MAC it now carries.
    pub fn seal(&self, frame: &mut Frame, out: &mut Vec<u8>) {
        frame.message.set(MAC_FIELD, &[0u8; 8]).expect("field 64 takes 8 bytes");
        let start = out.len();
        frame.encode(out);
        let mac_at = out.len() - 8;
        let mac = self.compute(&out[start + super::frame::MESSAGE_OFFSET..mac_at]);
        out[mac_at..].copy_from_slice(&mac);
        frame.message.set(MAC_FIELD, &mac).expect("field 64 takes 8 bytes");
    }

    /// Checks the MAC of a frame decoded from `bytes` with
    /// [`Frame::decode_with_mac_span`].
    pub fn verify(
        &self,
        bytes: &[u8],
        mac_span: Option<std::ops::Range<usize>>,
        frame: &Frame,
    ) -> MacCheck {
        let (Some(span), Some(received)) = (mac_span, frame.message.get(MAC_FIELD)) else {
            return MacCheck::Missing;
        };
        let computed = self.compute(&bytes[span]);
        let received: [u8; 8] = received.try_into().expect("field 64 is fixed at 8 bytes");
        if computed == received {
            MacCheck::Valid
        } else {
            MacCheck::Wrong { received, computed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_worked_by_hand() {
        // data: 16 bytes 0x00..0x0F -> blocks 0001020304050607 ^ 08090A0B0C0D0E0F
        // = 0808080808080808 -> "0808080808080808"; the rest is DES under the key.
        let key = MacKey::new([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
        let data: Vec<u8> = (0u8..16).collect();
        let direct = {
            let left = *b"08080808";
            let mut step = key.encrypt(left);
            for (acc, byte) in step.iter_mut().zip(b"08080808") {
                *acc ^= byte;
            }
            let text = expand_hex(key.encrypt(step));
            let mut mac = [0u8; 8];
            mac.copy_from_slice(&text[..8]);
            mac
        };
        assert_eq!(key.compute(&data), direct);
    }

    /// The schedule kept in the key must give what a schedule built per
    /// block gives (`DesKey` builds one per call): same MAC, same check value.
    #[test]
    fn the_kept_schedule_equals_a_fresh_one_per_block() {
        use super::super::keys::DesKey;
        let fresh_mac = |key: [u8; 8], data: &[u8]| {
            let fresh = DesKey::Single(key);
            let mut folded = [0u8; 8];
            for chunk in data.chunks(8) {
                for (acc, byte) in folded.iter_mut().zip(chunk) {
                    *acc ^= byte;
                }
            }
            let text = expand_hex(folded);
            let mut step: [u8; 8] = text[..8].try_into().unwrap();
            fresh.encrypt_block(&mut step);
            for (acc, byte) in step.iter_mut().zip(&text[8..]) {
                *acc ^= byte;
            }
            fresh.encrypt_block(&mut step);
            let mut mac = [0u8; 8];
            mac.copy_from_slice(&expand_hex(step)[..8]);
            mac
        };
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for key in [
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF],
            [0x5A; 8],
            *b"\x13\x57\x9B\xDF\x02\x46\x8A\xCE",
        ] {
            let kept = MacKey::new(key);
            assert_eq!(kept.check_value(), DesKey::Single(key).check_value());
            for length in [0, 1, 7, 8, 9, 64, 273, 700] {
                assert_eq!(kept.compute(&data[..length]), fresh_mac(key, &data[..length]));
            }
        }
    }

    #[test]
    fn zero_padding_means_trailing_zeros_do_not_change_the_mac() {
        // A documented weakness of the POS ECB MAC, kept because the field uses it.
        let key = MacKey::new(*b"\x11\x22\x33\x44\x55\x66\x77\x88");
        assert_eq!(key.compute(b"abc"), key.compute(b"abc\0\0"));
        assert_ne!(key.compute(b"abc"), key.compute(b"abd"));
    }
}
