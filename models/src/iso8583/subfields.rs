//! The composite fields: 60 (message type, batch, network code, ...), 61
//! (original trade), and 48 (settlement totals; batch upload detail).
//!
//! ```
//! use possim_models::iso8583::subfields::Field60;
//! use possim_models::iso8583::values::BatchNo;
//! let field = Field60::new(22, BatchNo::new(1).unwrap(), 0);
//! assert_eq!(field.to_digits(), "22000001000");
//! assert_eq!(Field60::parse(b"22000001000").unwrap(), field);
//! ```

use super::digits::Digits;
use super::values::{AmountFen, BatchNo, MonthDay, Pan, Stan};

fn digits_value(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
}

fn all_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

/// Field 60: 60.1 message type n2, 60.2 batch n6, 60.3 network management
/// code n3, then optional one-digit 60.4 (terminal read capability), 60.5 (IC
/// condition), 60.6 (partial approval) and 60.7 account type n3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field60 {
    pub message_type: u8,
    pub batch: BatchNo,
    pub network_code: u16,
    /// 60.4 to 60.7 as they travel, if present (1, 2, 3 or 6 digits).
    pub tail: Tail,
}

/// Up to six trailing digits of field 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tail {
    digits: [u8; 6],
    len: u8,
}

impl Tail {
    pub fn new(digits: &[u8]) -> Option<Tail> {
        if !matches!(digits.len(), 0..=3 | 6) || !all_digits(digits) {
            return None;
        }
        let mut tail = Tail { digits: [0; 6], len: digits.len() as u8 };
        tail.digits[..digits.len()].copy_from_slice(digits);
        Some(tail)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

impl Field60 {
    pub fn new(message_type: u8, batch: BatchNo, network_code: u16) -> Field60 {
        assert!(message_type <= 99 && network_code <= 999);
        Field60 { message_type, batch, network_code, tail: Tail::default() }
    }

    /// Digits of field 60 at its longest: 60.1 to 60.3, then a 6-digit tail.
    pub const DIGITS_MAX: usize = 17;

    pub fn to_digits(&self) -> Digits<{ Field60::DIGITS_MAX }> {
        let mut digits = Digits::new();
        digits.push_number(u64::from(self.message_type), 2);
        digits.push_number(u64::from(self.batch.value()), 6);
        digits.push_number(u64::from(self.network_code), 3);
        digits.push_bytes(self.tail.as_bytes());
        digits
    }

    /// At least 60.1 to 60.3 (11 digits) must be present.
    pub fn parse(digits: &[u8]) -> Result<Field60, String> {
        if digits.len() < 11 || !all_digits(digits) {
            return Err(format!("needs at least 11 digits (60.1 to 60.3), has {}", digits.len()));
        }
        let tail = Tail::new(&digits[11..]).ok_or_else(|| {
            format!("60.4 to 60.7 take 1, 2, 3 or 6 digits, not {}", digits.len() - 11)
        })?;
        Ok(Field60 {
            message_type: digits_value(&digits[..2]) as u8,
            batch: BatchNo::new(digits_value(&digits[2..8]) as u32).expect("six digits"),
            network_code: digits_value(&digits[8..11]) as u16,
            tail,
        })
    }
}

/// Field 61: the original trade a void, refund, completion or reversal refers
/// to. 61.1 batch n6, 61.2 STAN n6, 61.3 date MMDD n4 (refunds, completions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field61 {
    pub batch: u32,
    pub stan: u32,
    pub date: Option<MonthDay>,
}

impl Field61 {
    /// Digits this crate writes at most (61.1 to 61.3); the field allows 29.
    pub const DIGITS_MAX: usize = 16;

    pub fn to_digits(&self) -> Digits<{ Field61::DIGITS_MAX }> {
        let mut digits = Digits::new();
        digits.push_number(u64::from(self.batch), 6);
        digits.push_number(u64::from(self.stan), 6);
        if let Some(date) = self.date {
            digits.push_number(date.number(), 4);
        }
        digits
    }

    /// 12 digits, or 16 and more (digits past 61.3 are carried, not read).
    pub fn parse(digits: &[u8]) -> Result<Field61, String> {
        if !all_digits(digits) || !(digits.len() == 12 || digits.len() >= 16) {
            return Err(format!("needs 12 or at least 16 digits, has {}", digits.len()));
        }
        let date = if digits.len() >= 16 {
            Some(MonthDay::from_digits(&digits[12..16]).ok_or("61.3 is not a date MMDD")?)
        } else {
            None
        };
        Ok(Field61 {
            batch: digits_value(&digits[..6]) as u32,
            stan: digits_value(&digits[6..12]) as u32,
            date,
        })
    }
}

/// Debits and credits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BatchTotals {
    pub debit_amount: u64,
    pub debit_count: u32,
    pub credit_amount: u64,
    pub credit_count: u32,
}

impl BatchTotals {
    pub const COUNT_MAX: u32 = 999;

    pub fn add_debit(&mut self, amount: AmountFen) {
        self.debit_amount += amount.fen();
        self.debit_count += 1;
    }

    pub fn add_credit(&mut self, amount: AmountFen) {
        self.credit_amount += amount.fen();
        self.credit_count += 1;
    }

    fn fits(&self) -> bool {
        self.debit_amount <= AmountFen::MAX
            && self.credit_amount <= AmountFen::MAX
            && self.debit_count <= Self::COUNT_MAX
            && self.credit_count <= Self::COUNT_MAX
    }
}

/// The result flag of a settlement (48, position 30 of each half).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SettlementResult {
    /// `0`: what the terminal sends in its 0500.
    NotChecked,
    /// `1`
    Balanced,
    /// `2`
    NotBalanced,
    /// `3`
    Error,
}

impl SettlementResult {
    pub fn digit(self) -> u8 {
        match self {
            SettlementResult::NotChecked => b'0',
            SettlementResult::Balanced => b'1',
            SettlementResult::NotBalanced => b'2',
            SettlementResult::Error => b'3',
        }
    }

    pub fn from_digit(digit: u8) -> Option<SettlementResult> {
        match digit {
            b'0' => Some(SettlementResult::NotChecked),
            b'1' => Some(SettlementResult::Balanced),
            b'2' => Some(SettlementResult::NotBalanced),
            b'3' => Some(SettlementResult::Error),
            _ => None,
        }
    }
}

/// Field 48 of the 0500 / 0510: domestic totals and flag (31 digits), then
/// optionally the same for foreign cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementTotals {
    pub domestic: BatchTotals,
    pub domestic_result: SettlementResult,
    pub foreign: Option<(BatchTotals, SettlementResult)>,
}

impl SettlementTotals {
    /// Digits of one half: amounts n12, counts n3, flag n1.
    pub const HALF_DIGITS: usize = 31;
    /// Where the result flag sits in each half (0-based).
    pub const FLAG_POSITION: usize = 30;

    pub fn to_digits(&self) -> Digits<{ 2 * SettlementTotals::HALF_DIGITS }> {
        let mut digits = Digits::new();
        let mut half = |totals: &BatchTotals, result: SettlementResult| {
            assert!(totals.fits(), "batch totals over the wire's limits: {totals:?}");
            digits.push_number(totals.debit_amount, 12);
            digits.push_number(u64::from(totals.debit_count), 3);
            digits.push_number(totals.credit_amount, 12);
            digits.push_number(u64::from(totals.credit_count), 3);
            digits.push_bytes(&[result.digit()]);
        };
        half(&self.domestic, self.domestic_result);
        if let Some((totals, result)) = &self.foreign {
            half(totals, *result);
        }
        assert!(matches!(digits.len(), Self::HALF_DIGITS | 62), "{} digits", digits.len());
        digits
    }

    pub fn parse(digits: &[u8]) -> Result<SettlementTotals, String> {
        if !(digits.len() == Self::HALF_DIGITS || digits.len() == 2 * Self::HALF_DIGITS)
            || !all_digits(digits)
        {
            return Err(format!("settlement totals take 31 or 62 digits, not {}", digits.len()));
        }
        let half = |d: &[u8]| -> Result<(BatchTotals, SettlementResult), String> {
            let totals = BatchTotals {
                debit_amount: digits_value(&d[0..12]),
                debit_count: digits_value(&d[12..15]) as u32,
                credit_amount: digits_value(&d[15..27]),
                credit_count: digits_value(&d[27..30]) as u32,
            };
            let result = SettlementResult::from_digit(d[Self::FLAG_POSITION])
                .ok_or_else(|| format!("result flag {} is not 0 to 3", char::from(d[30])))?;
            Ok((totals, result))
        };
        let (domestic, domestic_result) = half(&digits[..Self::HALF_DIGITS])?;
        let foreign = if digits.len() == 2 * Self::HALF_DIGITS {
            Some(half(&digits[Self::HALF_DIGITS..])?)
        } else {
            None
        };
        Ok(SettlementTotals { domestic, domestic_result, foreign })
    }
}

/// One trade in a batch upload: card organisation n2 (at most 99, asserted
/// when encoded), STAN n6, PAN n20 (right-justified, zero-filled), amount n12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDetailEntry {
    pub card_organisation: u8,
    pub stan: Stan,
    pub pan: Pan,
    pub amount: AmountFen,
}

/// Field 48 of a batch upload 0320: a count n2, then up to eight entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDetail {
    pub entries: Vec<BatchDetailEntry>,
}

impl BatchDetail {
    pub const ENTRIES_MAX: usize = 8;
    const ENTRY_DIGITS: usize = 40;

    /// Digits of a full upload: the count, then eight entries.
    pub const DIGITS_MAX: usize = 2 + Self::ENTRIES_MAX * Self::ENTRY_DIGITS;

    pub fn to_digits(&self) -> Digits<{ BatchDetail::DIGITS_MAX }> {
        assert!(self.entries.len() <= Self::ENTRIES_MAX);
        let mut digits = Digits::new();
        digits.push_number(self.entries.len() as u64, 2);
        for entry in &self.entries {
            assert!(entry.card_organisation <= 99, "card organisation is n2");
            digits.push_number(u64::from(entry.card_organisation), 2);
            digits.push_number(u64::from(entry.stan.value()), 6);
            digits.push_right_aligned(entry.pan.as_str().as_bytes(), 20, b'0');
            digits.push_number(entry.amount.fen(), 12);
        }
        digits
    }

    pub fn parse(digits: &[u8]) -> Result<BatchDetail, String> {
        if digits.len() < 2 || !all_digits(digits) {
            return Err("a batch detail starts with a two-digit count".into());
        }
        let count = digits_value(&digits[..2]) as usize;
        if count > Self::ENTRIES_MAX || digits.len() != 2 + count * Self::ENTRY_DIGITS {
            return Err(format!(
                "count {count} does not match {} digits of entries (at most {} entries)",
                digits.len() - 2,
                Self::ENTRIES_MAX
            ));
        }
        let mut entries = Vec::with_capacity(count);
        for chunk in digits[2..].chunks_exact(Self::ENTRY_DIGITS) {
            let pan_digits = &chunk[8..28];
            let first = pan_digits.iter().position(|&d| d != b'0').unwrap_or(20);
            entries.push(BatchDetailEntry {
                card_organisation: digits_value(&chunk[..2]) as u8,
                stan: Stan::new(digits_value(&chunk[2..8]) as u32).ok_or("STAN 000000")?,
                pan: Pan::from_wire(&pan_digits[first..])
                    .ok_or("card number is not 12 to 19 digits")?,
                amount: AmountFen::new(digits_value(&chunk[28..40])).expect("twelve digits"),
            });
        }
        Ok(BatchDetail { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_flag_is_at_position_30() {
        let totals = SettlementTotals {
            domestic: BatchTotals {
                debit_amount: 1000,
                debit_count: 1,
                credit_amount: 0,
                credit_count: 0,
            },
            domestic_result: SettlementResult::NotBalanced,
            foreign: None,
        };
        let digits = totals.to_digits();
        assert_eq!(digits.len(), 31);
        assert_eq!(digits.as_bytes()[30], b'2');
        assert_eq!(SettlementTotals::parse(digits.as_bytes()).unwrap(), totals);
    }

    #[test]
    fn full_batch_detail_is_exactly_322_digits() {
        let entry = BatchDetailEntry {
            card_organisation: 0,
            stan: Stan::new(7).unwrap(),
            pan: Pan::new("6222021234567890123").unwrap(),
            amount: AmountFen::new(1).unwrap(),
        };
        let detail = BatchDetail { entries: vec![entry; 8] };
        let digits = detail.to_digits();
        assert_eq!(digits.len(), 322);
        assert_eq!(BatchDetail::parse(digits.as_bytes()).unwrap(), detail);
    }

    /// The stack writers against the `format!` strings they replaced.
    #[test]
    fn digit_writers_equal_the_format_strings() {
        for (message_type, batch, code, tail) in [
            (0, 0, 0, &b""[..]),
            (22, 1, 0, b"6"),
            (99, 999_999, 999, b"601000"),
            (36, 42, 201, b"60"),
        ] {
            let mut field = Field60::new(message_type, BatchNo::new(batch).unwrap(), code);
            field.tail = Tail::new(tail).unwrap();
            let old = format!(
                "{message_type:02}{batch:06}{code:03}{}",
                std::str::from_utf8(tail).unwrap()
            );
            assert_eq!(field.to_digits().as_str(), old);
        }
        for (batch, stan, date) in
            [(0, 0, None), (1, 999_999, MonthDay::new(12, 31)), (7, 1234567, None)]
        {
            let field = Field61 { batch, stan, date };
            let mut old = format!("{batch:06}{stan:06}");
            if let Some(date) = date {
                old.push_str(&format!("{:04}", date.number()));
            }
            assert_eq!(field.to_digits().as_str(), old);
        }
        let totals = BatchTotals {
            debit_amount: 123_456,
            debit_count: 7,
            credit_amount: 0,
            credit_count: 999,
        };
        let both = SettlementTotals {
            domestic: totals,
            domestic_result: SettlementResult::Balanced,
            foreign: Some((BatchTotals::default(), SettlementResult::Error)),
        };
        let old_half = |t: &BatchTotals, flag: char| {
            format!(
                "{:012}{:03}{:012}{:03}{}",
                t.debit_amount, t.debit_count, t.credit_amount, t.credit_count, flag
            )
        };
        let old = old_half(&totals, '1') + &old_half(&BatchTotals::default(), '3');
        assert_eq!(both.to_digits().as_str(), old);
        let entry = BatchDetailEntry {
            card_organisation: 3,
            stan: Stan::new(42).unwrap(),
            pan: Pan::new("622202123456").unwrap(),
            amount: AmountFen::new(99).unwrap(),
        };
        let detail = BatchDetail { entries: vec![entry; 2] };
        let old_entry = format!("{:02}{}{:0>20}{:012}", 3, entry.stan, "622202123456", 99);
        assert_eq!(detail.to_digits().as_str(), format!("02{old_entry}{old_entry}"));
    }

    #[test]
    fn field_60_tail_lengths() {
        assert!(Field60::parse(b"220000010006").is_ok());
        assert!(Field60::parse(b"22000001000601").is_ok());
        assert!(Field60::parse(b"22000001000601").unwrap().tail.as_bytes() == b"601");
        assert!(Field60::parse(b"220000010006012").is_err(), "a 4-digit tail splits 60.7");
        assert!(Field60::parse(b"2200000100060123").is_err());
        assert!(Field60::parse(b"22000001000601000").is_ok());
    }
}
