//! ASCII digit strings built on the stack, for the composite fields (48, 60,
//! 61) that are written on every message: `format!` allocated a `String`
//! and ran the formatting machinery for a dozen digits.
//!
//! ```
//! use possim_models::iso8583::digits::Digits;
//! let mut digits = Digits::<8>::new();
//! digits.push_number(22, 2);
//! digits.push_number(1, 6);
//! assert_eq!(digits, "22000001");
//! ```

/// Up to `CAPACITY` ASCII digits (or other bytes pushed as they are).
#[derive(Clone, Copy)]
pub struct Digits<const CAPACITY: usize> {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl<const CAPACITY: usize> Default for Digits<CAPACITY> {
    fn default() -> Self {
        Digits::new()
    }
}

impl<const CAPACITY: usize> Digits<CAPACITY> {
    pub const fn new() -> Self {
        Digits { bytes: [0; CAPACITY], len: 0 }
    }

    /// Appends `value` in decimal, zero-padded to at least `width_min` digits:
    /// what `format!("{value:0width_min$}")` writes, wider values included.
    pub fn push_number(&mut self, value: u64, width_min: usize) {
        // u64::MAX has 20 digits.
        let mut scratch = [b'0'; 20];
        let mut rest = value;
        let mut width = 0;
        while rest != 0 || width == 0 {
            width += 1;
            scratch[20 - width] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let width = width.max(width_min);
        assert!(width <= 20, "zero padding to {width_min} digits");
        self.push_bytes(&scratch[20 - width..]);
    }

    /// Appends `bytes` after enough `fill` to make at least `width_min` bytes:
    /// `format!("{text:0>width_min$}")` for a text of ASCII digits.
    pub fn push_right_aligned(&mut self, bytes: &[u8], width_min: usize, fill: u8) {
        for _ in bytes.len()..width_min {
            self.push_bytes(&[fill]);
        }
        self.push_bytes(bytes);
    }

    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        assert!(end <= CAPACITY, "{end} digits overflow a buffer of {CAPACITY}");
        self.bytes[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("digits are ASCII")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const CAPACITY: usize> std::fmt::Debug for Digits<CAPACITY> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const CAPACITY: usize> std::fmt::Display for Digits<CAPACITY> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const CAPACITY: usize> PartialEq<&str> for Digits<CAPACITY> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_equal_format_at_every_width() {
        let values = [0, 1, 9, 10, 99, 100, 999, 1000, 123_456, 999_999, 1_000_000, u64::MAX];
        for value in values {
            for width_min in 0..=20 {
                let mut digits = Digits::<40>::new();
                digits.push_number(value, width_min);
                assert_eq!(digits.as_str(), format!("{value:0width_min$}"), "{value} {width_min}");
            }
        }
    }

    #[test]
    fn right_alignment_equals_format() {
        for text in
            ["", "1", "6222021234567890123", "12345678901234567890", "123456789012345678901"]
        {
            let mut digits = Digits::<40>::new();
            digits.push_right_aligned(text.as_bytes(), 20, b'0');
            assert_eq!(digits.as_str(), format!("{text:0>20}"));
        }
    }

    #[test]
    #[should_panic(expected = "overflow a buffer of 4")]
    fn overflow_is_refused() {
        let mut digits = Digits::<4>::new();
        digits.push_number(12_345, 0);
    }
}
