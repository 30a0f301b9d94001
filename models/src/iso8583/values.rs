//! Typed values of single fields: trace numbers, batch numbers, amounts,
//! terminal and merchant ids, card numbers, reference numbers.
//!
//! Each constructor checks what the wire allows, so a typed message built from
//! these values always encodes.
//!
//! ```
//! use possim_models::iso8583::values::{Stan, TerminalId};
//! assert_eq!(Stan::new(999_999).unwrap().next(), Stan::new(1).unwrap());
//! assert!(Stan::new(0).is_none());
//! assert_eq!(TerminalId::new("T1").unwrap().as_str(), "T1      ");
//! ```

use std::fmt;

/// System trace audit number (field 11): 1..=999999, wrapping to 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Stan(u32);

impl Stan {
    pub const MAX: u32 = 999_999;

    pub const fn new(value: u32) -> Option<Stan> {
        if value >= 1 && value <= Stan::MAX {
            Some(Stan(value))
        } else {
            None
        }
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    /// The next trace number: 999999 wraps to 1 (0 is never used).
    pub const fn next(self) -> Stan {
        if self.0 == Stan::MAX {
            Stan(1)
        } else {
            Stan(self.0 + 1)
        }
    }
}

impl fmt::Display for Stan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// Batch number (field 60.2): 0..=999999; increments after each settlement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct BatchNo(u32);

impl BatchNo {
    pub const MAX: u32 = 999_999;

    pub const fn new(value: u32) -> Option<BatchNo> {
        if value <= BatchNo::MAX {
            Some(BatchNo(value))
        } else {
            None
        }
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    /// The next batch; 999999 wraps to 1.
    pub const fn next(self) -> BatchNo {
        if self.0 == BatchNo::MAX {
            BatchNo(1)
        } else {
            BatchNo(self.0 + 1)
        }
    }
}

impl fmt::Display for BatchNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// An amount in fen (field 4, n12). Never negative, never a float.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AmountFen(u64);

impl AmountFen {
    pub const MAX: u64 = 999_999_999_999;
    pub const ZERO: AmountFen = AmountFen(0);

    pub const fn new(fen: u64) -> Option<AmountFen> {
        if fen <= AmountFen::MAX {
            Some(AmountFen(fen))
        } else {
            None
        }
    }

    pub const fn fen(self) -> u64 {
        self.0
    }
}

impl fmt::Display for AmountFen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Printable ASCII, what `ans` fields carry.
fn printable(byte: &u8) -> bool {
    (0x20..=0x7E).contains(byte)
}

/// Letters, digits and the padding space, what `an` fields carry.
fn alphanumeric(byte: &u8) -> bool {
    byte.is_ascii_alphanumeric() || *byte == b' '
}

macro_rules! fixed_text {
    ($(#[$doc:meta])* $name:ident, $width:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $width]);

        impl $name {
            pub const WIDTH: usize = $width;

            /// Right-pads with spaces; `None` if too long or not in the field's alphabet.
            pub fn new(text: &str) -> Option<$name> {
                let bytes = text.as_bytes();
                if bytes.len() > $width || !bytes.iter().all($allowed) {
                    return None;
                }
                let mut value = [b' '; $width];
                value[..bytes.len()].copy_from_slice(bytes);
                Some($name(value))
            }

            /// From the exact wire value (already padded).
            pub fn from_wire(bytes: &[u8]) -> Option<$name> {
                let array: [u8; $width] = bytes.try_into().ok()?;
                array.iter().all($allowed).then_some($name(array))
            }

            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// The value with its padding, as it travels.
            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).expect("checked ASCII")
            }

            /// The value without trailing padding.
            pub fn trimmed(&self) -> &str {
                self.as_str().trim_end_matches(' ')
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.trimmed())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.trimmed())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.trimmed())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::new(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{} is at most {} printable ASCII characters",
                        stringify!($name),
                        $width
                    ))
                })
            }
        }
    };
}

fixed_text!(
    /// Card acceptor terminal id (field 41, ans8).
    TerminalId, 8, printable
);
fixed_text!(
    /// Card acceptor (merchant) id (field 42, ans15).
    MerchantId, 15, printable
);
fixed_text!(
    /// Retrieval reference number (field 37, an12), assigned by the host.
    Rrn, 12, alphanumeric
);
fixed_text!(
    /// Authorization id response (field 38, an6), assigned by the issuer.
    AuthCode, 6, alphanumeric
);

/// Primary account number (field 2): 12 to 19 digits, never starting with 0.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pan {
    digits: [u8; 19],
    len: u8,
}

impl Pan {
    pub const LEN_MIN: usize = 12;
    pub const LEN_MAX: usize = 19;

    pub fn new(text: &str) -> Option<Pan> {
        Pan::from_wire(text.as_bytes())
    }

    pub fn from_wire(bytes: &[u8]) -> Option<Pan> {
        if !(Pan::LEN_MIN..=Pan::LEN_MAX).contains(&bytes.len())
            || !bytes.iter().all(u8::is_ascii_digit)
            || bytes[0] == b'0'
        {
            return None;
        }
        let mut digits = [b'0'; 19];
        digits[..bytes.len()].copy_from_slice(bytes);
        Some(Pan { digits, len: bytes.len() as u8 })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("digits")
    }

    /// The first six digits: the issuer identification number the network routes by.
    pub fn bin(&self) -> &str {
        &self.as_str()[..6]
    }

    /// As a receipt prints it: first six, last four.
    pub fn masked(&self) -> String {
        let text = self.as_str();
        let len = text.len();
        format!("{}{}{}", &text[..6], "*".repeat(len - 10), &text[len - 4..])
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.as_str())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Pan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Pan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pan, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Pan::new(&text).ok_or_else(|| {
            serde::de::Error::custom("a card number is 12 to 19 digits, not starting with 0")
        })
    }
}

/// A month and day, `MMDD` (fields 13, 15, 61.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthDay {
    pub month: u8,
    pub day: u8,
}

impl MonthDay {
    pub fn new(month: u8, day: u8) -> Option<MonthDay> {
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(MonthDay { month, day })
    }

    pub fn number(self) -> u64 {
        u64::from(self.month) * 100 + u64::from(self.day)
    }

    pub fn from_digits(digits: &[u8]) -> Option<MonthDay> {
        let (month, day) = two_pairs(digits)?;
        MonthDay::new(month, day)
    }
}

/// Card expiry, `YYMM` (field 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry {
    pub year: u8,
    pub month: u8,
}

impl Expiry {
    pub fn new(year: u8, month: u8) -> Option<Expiry> {
        (year <= 99 && (1..=12).contains(&month)).then_some(Expiry { year, month })
    }

    pub fn number(self) -> u64 {
        u64::from(self.year) * 100 + u64::from(self.month)
    }

    pub fn from_digits(digits: &[u8]) -> Option<Expiry> {
        let (year, month) = two_pairs(digits)?;
        Expiry::new(year, month)
    }
}

/// A local time of day, `hhmmss` (field 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8, second: u8) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60 && second < 60).then_some(TimeOfDay { hour, minute, second })
    }

    pub fn number(self) -> u64 {
        u64::from(self.hour) * 10_000 + u64::from(self.minute) * 100 + u64::from(self.second)
    }

    pub fn from_digits(digits: &[u8]) -> Option<TimeOfDay> {
        if digits.len() != 6 {
            return None;
        }
        let (hour, minute) = two_pairs(&digits[..4])?;
        let (second, _) = two_pairs(&[digits[4], digits[5], b'0', b'0'])?;
        TimeOfDay::new(hour, minute, second)
    }
}

fn two_pairs(digits: &[u8]) -> Option<(u8, u8)> {
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let d = |i: usize| digits[i] - b'0';
    Some((d(0) * 10 + d(1), d(2) * 10 + d(3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_rules() {
        assert!(Pan::new("6222021234567890123").is_some());
        assert!(Pan::new("12345678901").is_none(), "11 digits");
        assert!(Pan::new("0222021234567890").is_none(), "leading zero");
        assert_eq!(Pan::new("6222021234567890").unwrap().masked(), "622202******7890");
    }

    #[test]
    fn batch_wraps_past_the_max() {
        assert_eq!(BatchNo::new(999_999).unwrap().next(), BatchNo::new(1).unwrap());
    }

    #[test]
    fn dates_reject_nonsense() {
        assert!(MonthDay::from_digits(b"1231").is_some());
        assert!(MonthDay::from_digits(b"1301").is_none());
        assert!(TimeOfDay::from_digits(b"235959").is_some());
        assert!(TimeOfDay::from_digits(b"240000").is_none());
    }
}
