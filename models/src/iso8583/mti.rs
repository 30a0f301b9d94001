//! The message type indicator: four BCD digits in two bytes.

use std::fmt;

/// A message type such as `0200`. Always four decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mti(u16);

impl Mti {
    pub const AUTHORIZATION: Mti = Mti(100);
    pub const AUTHORIZATION_RESPONSE: Mti = Mti(110);
    pub const FINANCIAL: Mti = Mti(200);
    pub const FINANCIAL_RESPONSE: Mti = Mti(210);
    pub const ADVICE: Mti = Mti(220);
    pub const ADVICE_RESPONSE: Mti = Mti(230);
    pub const BATCH: Mti = Mti(320);
    pub const BATCH_RESPONSE: Mti = Mti(330);
    pub const REVERSAL: Mti = Mti(400);
    pub const REVERSAL_RESPONSE: Mti = Mti(410);
    pub const SETTLEMENT: Mti = Mti(500);
    pub const SETTLEMENT_RESPONSE: Mti = Mti(510);
    pub const NETWORK: Mti = Mti(800);
    pub const NETWORK_RESPONSE: Mti = Mti(810);
    pub const NETWORK_ADVICE: Mti = Mti(820);
    pub const NETWORK_ADVICE_RESPONSE: Mti = Mti(830);

    /// `None` when `value` has more than four digits.
    pub const fn new(value: u16) -> Option<Mti> {
        if value <= 9999 {
            Some(Mti(value))
        } else {
            None
        }
    }

    pub const fn value(self) -> u16 {
        self.0
    }

    /// The answer's type: the request's plus 10 (`0200` -> `0210`).
    pub const fn response(self) -> Mti {
        Mti(self.0 + 10)
    }

    /// Whether the third digit marks a response (`xx1x`, `xx3x`).
    pub const fn is_response(self) -> bool {
        (self.0 / 10) % 2 == 1
    }

    pub(crate) fn to_bcd(self) -> [u8; 2] {
        let hi = self.0 / 100;
        let lo = self.0 % 100;
        [((hi / 10) << 4 | hi % 10) as u8, ((lo / 10) << 4 | lo % 10) as u8]
    }

    pub(crate) fn from_bcd(bytes: [u8; 2]) -> Option<Mti> {
        let value = super::bcd::read_length(&bytes)?;
        Mti::new(value as u16)
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

// Recorded as its four digits, as the trace always has.
crate::text::serialize_as_display!(Mti);

impl std::str::FromStr for Mti {
    type Err = &'static str;
    fn from_str(text: &str) -> Result<Mti, Self::Err> {
        if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a message type is four digits");
        }
        Ok(Mti(text.parse().map_err(|_| "a message type is four digits")?))
    }
}
