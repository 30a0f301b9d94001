//! DES keys, check values, and the working keys a sign-in delivers.
//!
//! The terminal master key (TMK) is loaded into the terminal by hand; each
//! sign-in answer (0810) carries fresh working keys in field 62, encrypted
//! under the TMK, each followed by a 4-byte check value: the first four bytes of
//! the key encrypting eight zero bytes. A terminal that computes a different
//! check value must refuse the keys.
//!
//! ```
//! use possim_models::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
//! let tmk = DesKey::from_hex("1122334455667788").unwrap();
//! let keys = WorkingKeys {
//!     pik: DesKey::from_hex("0123456789ABCDEF").unwrap(),
//!     mak: DesKey::from_hex("FEDCBA9876543210").unwrap(),
//!     tdk: None,
//! };
//! let field_62 = keys.wrap(&tmk, KeyMode::Single);
//! assert_eq!(field_62.len(), 24);
//! assert_eq!(WorkingKeys::unwrap(&tmk, KeyMode::Single, &field_62).unwrap(), keys);
//! ```

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::{Des, TdesEde2};
use thiserror::Error;

/// A single (8-byte) or double-length (16-byte, 3DES EDE2) DES key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DesKey {
    Single([u8; 8]),
    Double([u8; 16]),
}

impl std::fmt::Debug for DesKey {
    // Key material never goes to logs; the check value identifies a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DesKey(kcv {})", super::hex::encode_upper(&self.check_value()))
    }
}

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("key is {length} bytes; a DES key is 8 or 16")]
    BadKeyLength { length: usize },
    #[error("key is not hex: {0}")]
    NotHex(#[from] super::hex::HexError),
    #[error("field 62 is {length} bytes; sign-in mode {mode} delivers {expected}")]
    BadField62Length { mode: &'static str, length: usize, expected: usize },
    #[error("{key} check value is {received}, the key gives {computed}")]
    CheckValueMismatch { key: &'static str, received: String, computed: String },
}

impl DesKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<DesKey, KeyError> {
        match bytes.len() {
            8 => Ok(DesKey::Single(bytes.try_into().expect("length checked"))),
            16 => Ok(DesKey::Double(bytes.try_into().expect("length checked"))),
            length => Err(KeyError::BadKeyLength { length }),
        }
    }

    pub fn from_hex(text: &str) -> Result<DesKey, KeyError> {
        DesKey::from_bytes(&super::hex::decode(text)?)
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            DesKey::Single(bytes) => bytes,
            DesKey::Double(bytes) => bytes,
        }
    }

    /// A double-length key whose halves are equal: 3DES with it equals single DES.
    pub fn widened(&self) -> DesKey {
        match *self {
            DesKey::Single(k) => {
                let mut both = [0u8; 16];
                both[..8].copy_from_slice(&k);
                both[8..].copy_from_slice(&k);
                DesKey::Double(both)
            }
            double => double,
        }
    }

    /// The first eight bytes: the single-DES key used for the POS ECB MAC.
    pub fn first_half(&self) -> [u8; 8] {
        let mut half = [0u8; 8];
        half.copy_from_slice(&self.as_bytes()[..8]);
        half
    }

    pub fn encrypt_block(&self, block: &mut [u8; 8]) {
        let block = GenericArray::from_mut_slice(block);
        match self {
            DesKey::Single(k) => Des::new(GenericArray::from_slice(k)).encrypt_block(block),
            DesKey::Double(k) => TdesEde2::new(GenericArray::from_slice(k)).encrypt_block(block),
        }
    }

    pub fn decrypt_block(&self, block: &mut [u8; 8]) {
        let block = GenericArray::from_mut_slice(block);
        match self {
            DesKey::Single(k) => Des::new(GenericArray::from_slice(k)).decrypt_block(block),
            DesKey::Double(k) => TdesEde2::new(GenericArray::from_slice(k)).decrypt_block(block),
        }
    }

    /// ECB over whole 8-byte blocks.
    pub fn encrypt_ecb(&self, data: &[u8]) -> Vec<u8> {
        self.ecb(data, DesKey::encrypt_block)
    }

    pub fn decrypt_ecb(&self, data: &[u8]) -> Vec<u8> {
        self.ecb(data, DesKey::decrypt_block)
    }

    fn ecb(&self, data: &[u8], step: fn(&DesKey, &mut [u8; 8])) -> Vec<u8> {
        assert_eq!(data.len() % 8, 0, "ECB takes whole blocks");
        let mut out = Vec::with_capacity(data.len());
        for chunk in data.chunks_exact(8) {
            let mut block: [u8; 8] = chunk.try_into().expect("chunks_exact(8)");
            step(self, &mut block);
            out.extend_from_slice(&block);
        }
        out
    }

    /// The first four bytes of this key encrypting eight zero bytes.
    pub fn check_value(&self) -> [u8; 4] {
        let mut block = [0u8; 8];
        self.encrypt_block(&mut block);
        [block[0], block[1], block[2], block[3]]
    }
}

/// Sign-in mode, field 60.3 of the 0800: which keys come back and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyMode {
    /// `001`: single-length PIK and MAK under a single-length TMK.
    #[serde(rename = "001")]
    Single,
    /// `003`: double-length PIK and MAK under a double-length TMK.
    #[serde(rename = "003")]
    Double,
    /// `004`: as `003`, plus a track-data key (TDK).
    #[serde(rename = "004")]
    DoubleWithTrackKey,
}

impl KeyMode {
    pub const fn code(self) -> u16 {
        match self {
            KeyMode::Single => 1,
            KeyMode::Double => 3,
            KeyMode::DoubleWithTrackKey => 4,
        }
    }

    pub const fn from_code(code: u16) -> Option<KeyMode> {
        match code {
            1 => Some(KeyMode::Single),
            3 => Some(KeyMode::Double),
            4 => Some(KeyMode::DoubleWithTrackKey),
            _ => None,
        }
    }

    const fn label(self) -> &'static str {
        match self {
            KeyMode::Single => "001",
            KeyMode::Double => "003",
            KeyMode::DoubleWithTrackKey => "004",
        }
    }

    /// Bytes of one encrypted key in field 62.
    const fn key_bytes(self) -> usize {
        match self {
            KeyMode::Single => 8,
            _ => 16,
        }
    }

    const fn key_count(self) -> usize {
        match self {
            KeyMode::DoubleWithTrackKey => 3,
            _ => 2,
        }
    }

    /// Bytes of field 62 in the 0810 for this mode.
    pub const fn field_62_bytes(self) -> usize {
        self.key_count() * (self.key_bytes() + 4)
    }
}

/// The working keys of one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingKeys {
    pub pik: DesKey,
    pub mak: DesKey,
    pub tdk: Option<DesKey>,
}

impl WorkingKeys {
    /// Field 62 of the 0810: each key encrypted under `tmk`, then its check value.
    pub fn wrap(&self, tmk: &DesKey, mode: KeyMode) -> Vec<u8> {
        let mut out = Vec::with_capacity(mode.field_62_bytes());
        let width = |key: &DesKey| match mode {
            KeyMode::Single => *key,
            _ => key.widened(),
        };
        let mut keys = vec![width(&self.pik), width(&self.mak)];
        if mode == KeyMode::DoubleWithTrackKey {
            keys.push(width(&self.tdk.unwrap_or(self.pik)));
        }
        for key in keys {
            assert_eq!(key.as_bytes().len(), mode.key_bytes(), "key length fits the mode");
            out.extend_from_slice(&tmk.encrypt_ecb(key.as_bytes()));
            out.extend_from_slice(&key.check_value());
        }
        assert_eq!(out.len(), mode.field_62_bytes());
        out
    }

    /// Decrypts field 62 under `tmk`, verifying every check value.
    pub fn unwrap(tmk: &DesKey, mode: KeyMode, field_62: &[u8]) -> Result<WorkingKeys, KeyError> {
        WorkingKeys::unwrap_checking(tmk, mode, field_62, true)
    }

    /// Decrypts field 62 without looking at the check values: what a
    /// terminal with the `accept_bad_key_check` mutation does. Never safe.
    pub fn unwrap_unverified(
        tmk: &DesKey,
        mode: KeyMode,
        field_62: &[u8],
    ) -> Result<WorkingKeys, KeyError> {
        WorkingKeys::unwrap_checking(tmk, mode, field_62, false)
    }

    fn unwrap_checking(
        tmk: &DesKey,
        mode: KeyMode,
        field_62: &[u8],
        verify: bool,
    ) -> Result<WorkingKeys, KeyError> {
        if field_62.len() != mode.field_62_bytes() {
            return Err(KeyError::BadField62Length {
                mode: mode.label(),
                length: field_62.len(),
                expected: mode.field_62_bytes(),
            });
        }
        const NAMES: [&str; 3] = ["PIK", "MAK", "TDK"];
        let slot = mode.key_bytes() + 4;
        let mut keys = [None; 3];
        for (index, chunk) in field_62.chunks_exact(slot).enumerate() {
            let (encrypted, received) = chunk.split_at(mode.key_bytes());
            let key = DesKey::from_bytes(&tmk.decrypt_ecb(encrypted))?;
            let computed = key.check_value();
            if verify && computed != received {
                return Err(KeyError::CheckValueMismatch {
                    key: NAMES[index],
                    received: super::hex::encode_upper(received),
                    computed: super::hex::encode_upper(&computed),
                });
            }
            keys[index] = Some(key);
        }
        Ok(WorkingKeys {
            pik: keys[0].expect("two keys in every mode"),
            mak: keys[1].expect("two keys in every mode"),
            tdk: keys[2],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_classic_test_key() {
        // 0123456789ABCDEF encrypting zeros gives D5D44FF720683D0D (FIPS 81 test data).
        let key = DesKey::from_hex("0123456789ABCDEF").unwrap();
        assert_eq!(key.check_value(), [0xD5, 0xD4, 0x4F, 0xF7]);
        assert_eq!(key.widened().check_value(), key.check_value());
    }

    #[test]
    fn a_bad_check_value_fails_the_unwrap() {
        let tmk = DesKey::from_hex("11223344556677881122334455667799").unwrap();
        let keys = WorkingKeys {
            pik: DesKey::from_hex("0123456789ABCDEF").unwrap(),
            mak: DesKey::from_hex("FEDCBA9876543210").unwrap(),
            tdk: Some(DesKey::from_hex("0F1E2D3C4B5A6978").unwrap()),
        };
        let mut field_62 = keys.wrap(&tmk, KeyMode::DoubleWithTrackKey);
        assert_eq!(field_62.len(), 60);
        let back = WorkingKeys::unwrap(&tmk, KeyMode::DoubleWithTrackKey, &field_62).unwrap();
        assert_eq!(back.mak.first_half(), keys.mak.first_half());
        field_62[16 + 4 + 16] ^= 0x01; // MAK's check value
        assert!(matches!(
            WorkingKeys::unwrap(&tmk, KeyMode::DoubleWithTrackKey, &field_62),
            Err(KeyError::CheckValueMismatch { key: "MAK", .. })
        ));
    }
}
