//! The CUP POS field table: number, name, alphabet, length rule.
//!
//! Lengths are counted the way CUP counts them: in digits for `n` and `z`
//! fields, in bytes for `an`, `ans` and `b` fields. Field 22 is the one fixed
//! numeric field sent left-justified.
//!
//! ```
//! use possim_models::iso8583::spec::{field_spec, Alphabet, LengthRule};
//! let pan = field_spec(2).unwrap();
//! assert_eq!(pan.alphabet, Alphabet::Numeric);
//! assert_eq!(pan.length, LengthRule::Ll { max: 19 });
//! assert!(field_spec(5).is_none());
//! ```

use super::bcd::Justify;

/// What characters a field may hold, and how they travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `n`: decimal digits, packed BCD.
    Numeric,
    /// `z`: track data, digits and `=` (nibble D), packed BCD.
    Track,
    /// `an`: letters, digits and the space used for padding, ASCII.
    Alphanumeric,
    /// `ans`: printable ASCII.
    Text,
    /// `b`: raw bytes.
    Binary,
}

impl Alphabet {
    /// Whether the field travels as packed BCD.
    pub const fn is_packed(self) -> bool {
        matches!(self, Alphabet::Numeric | Alphabet::Track)
    }

    /// Whether one value byte is allowed in this alphabet.
    #[inline]
    pub fn allows(self, byte: u8) -> bool {
        ALPHABETS_OF_BYTE[usize::from(byte)] & self.bit() != 0
    }

    /// The rule `allows` looks up, written out: the table is built from it.
    const fn allows_by_rule(self, byte: u8) -> bool {
        match self {
            Alphabet::Numeric => byte.is_ascii_digit(),
            Alphabet::Track => byte.is_ascii_digit() || byte == b'=',
            Alphabet::Alphanumeric => byte.is_ascii_alphanumeric() || byte == b' ',
            Alphabet::Text => byte >= 0x20 && byte <= 0x7E,
            Alphabet::Binary => true,
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The short name used in field listings: `n`, `z`, `an`, `ans`, `b`.
    pub const fn code(self) -> &'static str {
        match self {
            Alphabet::Numeric => "n",
            Alphabet::Track => "z",
            Alphabet::Alphanumeric => "an",
            Alphabet::Text => "ans",
            Alphabet::Binary => "b",
        }
    }
}

const ALPHABETS: [Alphabet; 5] =
    [Alphabet::Numeric, Alphabet::Track, Alphabet::Alphanumeric, Alphabet::Text, Alphabet::Binary];

/// For every byte, one bit per alphabet that allows it: every value byte set
/// or decoded is checked, and one load beats a match per byte.
static ALPHABETS_OF_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut index = 0;
        while index < ALPHABETS.len() {
            if ALPHABETS[index].allows_by_rule(byte as u8) {
                table[byte] |= ALPHABETS[index].bit();
            }
            index += 1;
        }
        byte += 1;
    }
    table
};

/// How long a field is and how its length travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthRule {
    /// Exactly this many units (digits for packed alphabets, else bytes).
    Fixed(u16),
    /// One BCD byte of length, then up to `max` units.
    Ll { max: u16 },
    /// Two BCD bytes of length, then up to `max` units.
    Lll { max: u16 },
}

impl LengthRule {
    /// The most units the field may hold.
    pub const fn max(self) -> u16 {
        match self {
            LengthRule::Fixed(units) => units,
            LengthRule::Ll { max } | LengthRule::Lll { max } => max,
        }
    }

    /// Bytes of length prefix on the wire.
    pub const fn prefix_bytes(self) -> usize {
        match self {
            LengthRule::Fixed(_) => 0,
            LengthRule::Ll { .. } => 1,
            LengthRule::Lll { .. } => 2,
        }
    }
}

/// One row of the field table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub number: u8,
    pub name: &'static str,
    pub alphabet: Alphabet,
    pub length: LengthRule,
    /// For packed fields with an odd digit count: where the pad nibble goes.
    pub justify: Justify,
}

impl FieldSpec {
    /// Bytes the value of `units` units occupies on the wire, prefix excluded.
    #[inline]
    pub const fn value_bytes(&self, units: usize) -> usize {
        if self.alphabet.is_packed() {
            units.div_ceil(2)
        } else {
            units
        }
    }

    /// The most bytes this field can take on the wire, prefix included.
    pub const fn wire_bytes_max(&self) -> usize {
        self.length.prefix_bytes() + self.value_bytes(self.length.max() as usize)
    }

    /// The format as CUP documents write it: `n12`, `ans..25`, `b8`.
    pub fn format_label(&self) -> String {
        match self.length {
            LengthRule::Fixed(units) => format!("{}{}", self.alphabet.code(), units),
            LengthRule::Ll { max } => format!("{}..{} LLVAR", self.alphabet.code(), max),
            LengthRule::Lll { max } => format!("{}..{} LLLVAR", self.alphabet.code(), max),
        }
    }
}

const fn row(
    number: u8,
    name: &'static str,
    alphabet: Alphabet,
    length: LengthRule,
) -> Option<FieldSpec> {
    let justify = match length {
        LengthRule::Fixed(_) => Justify::Right,
        _ => Justify::Left,
    };
    Some(FieldSpec { number, name, alphabet, length, justify })
}

use Alphabet::{Alphanumeric as AN, Binary as B, Numeric as N, Text as ANS, Track as Z};
use LengthRule::{Fixed, Ll, Lll};

/// The table, indexed by field number. Index 0 and 1 (bitmap) are never fields.
pub static FIELDS: [Option<FieldSpec>; 65] = {
    let mut table: [Option<FieldSpec>; 65] = [None; 65];
    table[2] = row(2, "primary account number", N, Ll { max: 19 });
    table[3] = row(3, "processing code", N, Fixed(6));
    table[4] = row(4, "amount, transaction", N, Fixed(12));
    table[11] = row(11, "system trace audit number", N, Fixed(6));
    table[12] = row(12, "time, local transaction", N, Fixed(6));
    table[13] = row(13, "date, local transaction", N, Fixed(4));
    table[14] = row(14, "date, expiration", N, Fixed(4));
    table[15] = row(15, "date, settlement", N, Fixed(4));
    table[22] = Some(FieldSpec {
        number: 22,
        name: "point of service entry mode",
        alphabet: N,
        length: Fixed(3),
        // CUP sends this n3 left-justified: "021" travels as 02 10.
        justify: Justify::Left,
    });
    table[23] = row(23, "card sequence number", N, Fixed(3));
    table[25] = row(25, "point of service condition code", N, Fixed(2));
    table[26] = row(26, "point of service PIN capture code", N, Fixed(2));
    table[32] = row(32, "acquiring institution id", N, Ll { max: 11 });
    table[35] = row(35, "track 2 data", Z, Ll { max: 37 });
    table[36] = row(36, "track 3 data", Z, Lll { max: 104 });
    table[37] = row(37, "retrieval reference number", AN, Fixed(12));
    table[38] = row(38, "authorization id response", AN, Fixed(6));
    table[39] = row(39, "response code", AN, Fixed(2));
    table[41] = row(41, "card acceptor terminal id", ANS, Fixed(8));
    table[42] = row(42, "card acceptor id", ANS, Fixed(15));
    table[44] = row(44, "additional response data", ANS, Ll { max: 25 });
    table[48] = row(48, "additional data, private", N, Lll { max: 322 });
    table[49] = row(49, "currency code, transaction", AN, Fixed(3));
    table[52] = row(52, "PIN data", B, Fixed(8));
    table[53] = row(53, "security related control information", N, Fixed(16));
    table[54] = row(54, "balance amount", ANS, Lll { max: 20 });
    table[55] = row(55, "ICC system related data", B, Lll { max: 255 });
    table[60] = row(60, "reserved private", N, Lll { max: 17 });
    table[61] = row(61, "original message", N, Lll { max: 29 });
    table[62] = row(62, "reserved private", B, Lll { max: 512 });
    table[63] = row(63, "reserved private", ANS, Lll { max: 63 });
    table[64] = row(64, "message authentication code", B, Fixed(8));
    table
};

/// The spec of field `number`, or `None` when CUP POS does not use it.
#[inline]
pub fn field_spec(number: u8) -> Option<&'static FieldSpec> {
    FIELDS.get(usize::from(number)).and_then(Option::as_ref)
}

/// Every field in the table, ascending.
pub fn all_fields() -> impl Iterator<Item = &'static FieldSpec> {
    FIELDS.iter().filter_map(Option::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_know_their_own_number() {
        for (index, spec) in FIELDS.iter().enumerate() {
            if let Some(spec) = spec {
                assert_eq!(usize::from(spec.number), index);
            }
        }
        assert!(FIELDS[0].is_none() && FIELDS[1].is_none());
    }

    #[test]
    fn the_alphabet_table_equals_the_rules_for_every_byte() {
        for alphabet in ALPHABETS {
            for byte in 0..=255u8 {
                assert_eq!(
                    alphabet.allows(byte),
                    alphabet.allows_by_rule(byte),
                    "{alphabet:?} {byte}"
                );
            }
        }
        assert!(Alphabet::Text.allows(b'~') && !Alphabet::Text.allows(0x7F));
        assert!(Alphabet::Track.allows(b'=') && !Alphabet::Numeric.allows(b'='));
    }

    #[test]
    fn variable_lengths_fit_their_prefix() {
        for spec in all_fields() {
            match spec.length {
                LengthRule::Ll { max } => assert!(max <= 99, "field {}", spec.number),
                LengthRule::Lll { max } => assert!(max <= 999, "field {}", spec.number),
                LengthRule::Fixed(units) => assert!(units > 0),
            }
        }
    }
}
