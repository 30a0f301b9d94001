//! Simulated time, passed into every model. Models never read a clock.
//!
//! An [`Instant`] counts milliseconds from the start of a run; a [`Calendar`]
//! turns it into the business date and time that travel in fields 12, 13 and
//! 15 (the run starts at midnight of the calendar's first day).
//!
//! ```
//! use possim_models::time::{Calendar, Instant};
//! use std::time::Duration;
//! let calendar = Calendar::new(12, 31);
//! let now = Instant::from_millis(0) + Duration::from_secs(25 * 3600 + 61);
//! assert_eq!(calendar.month_day(now).number(), 101); // 1 January
//! assert_eq!(calendar.time_of_day(now).number(), 10101); // 01:01:01
//! ```

use std::ops::{Add, Sub};
use std::time::Duration;

use crate::iso8583::values::{MonthDay, TimeOfDay};

/// Milliseconds since the start of the run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Panics past `u64::MAX` ms rather than wrap: a wrapped instant lies in
    /// the past, and a run built on it would pass having done nothing
    /// (scenario bounds keep every run far below; this guards the models).
    fn add(self, duration: Duration) -> Instant {
        let ms = u64::try_from(duration.as_millis()).ok();
        Instant(ms.and_then(|ms| self.0.checked_add(ms)).expect("simulated time past u64 ms"))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        assert!(self >= earlier, "time runs forward: {self:?} - {earlier:?}");
        Duration::from_millis(self.0 - earlier.0)
    }
}

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0;
        write!(
            f,
            "{}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    }
}

const DAY_MS: u64 = 86_400_000;
const DAYS_IN_MONTH: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// The business calendar of a run: the month and day it starts on (a non-leap
/// year; CUP dates carry no year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Calendar {
    pub start_month: u8,
    pub start_day: u8,
}

impl Default for Calendar {
    fn default() -> Calendar {
        Calendar::new(11, 21)
    }
}

impl Calendar {
    pub fn new(start_month: u8, start_day: u8) -> Calendar {
        assert!((1..=12).contains(&start_month));
        assert!(start_day >= 1 && start_day <= DAYS_IN_MONTH[usize::from(start_month - 1)]);
        Calendar { start_month, start_day }
    }

    /// Whole days since the run started.
    pub fn day_index(&self, now: Instant) -> u64 {
        now.as_millis() / DAY_MS
    }

    pub fn month_day(&self, now: Instant) -> MonthDay {
        let (mut month, mut day) = (self.start_month, self.start_day);
        // Runs last days, not years; the loop is bounded by the day count.
        let days = self.day_index(now) % 365;
        for _ in 0..days {
            day += 1;
            if day > DAYS_IN_MONTH[usize::from(month - 1)] {
                day = 1;
                month = month % 12 + 1;
            }
        }
        MonthDay::new(month, day).expect("calendar arithmetic stays in range")
    }

    pub fn time_of_day(&self, now: Instant) -> TimeOfDay {
        let ms = now.as_millis() % DAY_MS;
        TimeOfDay::new((ms / 3_600_000) as u8, (ms / 60_000 % 60) as u8, (ms / 1000 % 60) as u8)
            .expect("within a day")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `Instant + Duration` wrapped in release builds, so a run
    /// of `safety_ms: 18446744073709551615` ended before it began and passed.
    #[test]
    #[should_panic(expected = "simulated time past u64 ms")]
    fn an_instant_past_u64_panics_instead_of_wrapping() {
        let _ = Instant::from_millis(u64::MAX - 1) + Duration::from_millis(2);
    }
}
