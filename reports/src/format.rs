//! How reports write times, durations and money, the same way on every page.
//!
//! ```
//! use possim_reports::format::{clock, fen, span};
//! assert_eq!(clock(33_292_120), "9:14:52.120");
//! assert_eq!(fen(162_528), "1,625.28");
//! assert_eq!(fen(-5), "-0.05");
//! assert_eq!(span(58_200), "58.2 s");
//! assert_eq!(span(3_725_000), "1 h 2 min");
//! ```

/// Simulated business time, milliseconds since midnight of the first day,
/// as `H:MM:SS.mmm` (the trace's own notation).
pub fn clock(ms: u64) -> String {
    format!("{}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Simulated time to the second, `H:MM:SS`, where milliseconds are noise.
pub fn clock_seconds(ms: u64) -> String {
    format!("{}:{:02}:{:02}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60)
}

/// Simulated time as `H:MM`, for axis ticks.
pub fn clock_minutes(ms: u64) -> String {
    format!("{}:{:02}", ms / 3_600_000, ms / 60_000 % 60)
}

/// An amount in fen as yuan with thousands separators: `1,625.28`.
pub fn fen(amount: i64) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    let yuan = (magnitude / 100).to_string();
    let mut grouped = String::with_capacity(yuan.len() + yuan.len() / 3);
    for (index, digit) in yuan.chars().enumerate() {
        if index > 0 && (yuan.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02}", magnitude % 100)
}

/// A duration for people: `850 ms`, `58.2 s`, `14 min 3 s`, `1 h 2 min`.
pub fn span(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{}.{} s", ms / 1000, ms % 1000 / 100),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_the_sign() {
        assert_eq!(fen(0), "0.00");
        assert_eq!(fen(100), "1.00");
        assert_eq!(fen(123_456_789), "1,234,567.89");
        assert_eq!(fen(-100_000), "-1,000.00");
    }

    #[test]
    fn spans_pick_a_unit() {
        assert_eq!(span(999), "999 ms");
        assert_eq!(span(60_000), "1 min 0 s");
        assert_eq!(span(843_000), "14 min 3 s");
    }
}
