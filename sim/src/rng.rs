//! Seeded random streams: one root seed, one independent ChaCha stream per
//! purpose ("workload T0000001", "line T0000001", "swarm", "turmoil"), so
//! adding a fault does not reshuffle the workload.
//!
//! Sampling uses only +, -, *, / on f64 (IEEE-exact everywhere) and a
//! hand-written logarithm, never the platform's `ln`, whose last bits may
//! differ between C libraries: a seed must replay identically on any machine.
//! Floats here are probabilities and durations, never money.

#![allow(clippy::float_arithmetic)]

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Derives independent streams from one root seed.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    root: u64,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Streams {
    pub fn new(root: u64) -> Streams {
        Streams { root }
    }

    /// The stream for `label`; the same root and label give the same stream.
    pub fn stream(&self, label: &str) -> Rng {
        let mut state = self.root ^ 0xA076_1D64_78BD_642F;
        for byte in label.bytes() {
            state = (state ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        Rng(ChaCha8Rng::from_seed(seed))
    }

    /// A plain number for a consumer that seeds itself (turmoil).
    pub fn seed_for(&self, label: &str) -> u64 {
        self.stream(label).next_u64()
    }
}

/// One stream with the draws the simulator needs.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `min..=max`.
    pub fn between(&mut self, min: u64, max: u64) -> u64 {
        assert!(min <= max);
        let span = max - min;
        if span == u64::MAX {
            return self.0.next_u64();
        }
        // Rejection keeps it exactly uniform.
        let range = span + 1;
        let zone = u64::MAX - (u64::MAX % range);
        loop {
            let draw = self.0.next_u64();
            if draw < zone {
                return min + draw % range;
            }
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Index drawn by relative weights; `None` when every weight is zero.
    pub fn weighted(&mut self, weights: &[u32]) -> Option<usize> {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut draw = self.between(0, total - 1);
        for (index, weight) in weights.iter().enumerate() {
            let weight = u64::from(*weight);
            if draw < weight {
                return Some(index);
            }
            draw -= weight;
        }
        unreachable!("draw below the total")
    }

    /// Milliseconds to the next event of a Poisson process with
    /// `per_hour` events per hour; `None` when the rate is zero, or when the
    /// next event falls past the longest run a scenario may ask for
    /// (`RUN_MS_MAX`): it would come after every run's end anyway, and a
    /// rate near zero (4.9e-324) would otherwise overflow the clock.
    pub fn exponential_ms(&mut self, per_hour: f64) -> Option<u64> {
        if per_hour <= 0.0 {
            return None;
        }
        let mean_ms = 3_600_000.0 / per_hour;
        let u = 1.0 - self.unit(); // in (0, 1]
        let gap_ms = -ln(u) * mean_ms;
        if gap_ms >= crate::scenario::bounds::RUN_MS_MAX as f64 {
            return None;
        }
        Some(gap_ms as u64 + 1)
    }

    /// Uniform in `[low, high]` for swarm bounds.
    pub fn within(&mut self, bounds: [f64; 2]) -> f64 {
        bounds[0] + (bounds[1] - bounds[0]) * self.unit()
    }
}

/// Natural logarithm for `x` in (0, 1], from basic arithmetic only: scale
/// into [0.5, 1] by powers of two, then 2·atanh((x-1)/(x+1)) by its series.
fn ln(mut x: f64) -> f64 {
    assert!(x > 0.0 && x <= 1.0);
    const LN_2: f64 = std::f64::consts::LN_2;
    let mut exponent = 0i32;
    while x < 0.5 {
        x *= 2.0;
        exponent -= 1;
    }
    let t = (x - 1.0) / (x + 1.0);
    let t2 = t * t;
    let mut term = t;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..40 {
        sum += term / k;
        term *= t2;
        k += 2.0;
    }
    2.0 * sum + f64::from(exponent) * LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by the hostile-input corpus, an arrival rate of
    /// 4.9e-324 an hour): the gap overflowed a u64 and the run panicked.
    #[test]
    fn a_rate_near_zero_has_no_next_event_instead_of_overflowing() {
        let mut rng = Streams::new(7).stream("arrivals");
        assert_eq!(rng.exponential_ms(4.9e-324), None);
        assert!(rng.exponential_ms(60.0).is_some_and(|gap| gap < 7 * 86_400_000));
    }

    #[test]
    fn hand_written_ln_matches_the_library_closely() {
        for x in [1.0, 0.9, 0.5, 0.3, 0.01, 1e-9] {
            assert!((ln(x) - x.ln()).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn streams_are_independent_and_repeatable() {
        let streams = Streams::new(7);
        assert_eq!(streams.stream("a").next_u64(), streams.stream("a").next_u64());
        assert_ne!(streams.stream("a").next_u64(), streams.stream("b").next_u64());
        assert_ne!(Streams::new(8).stream("a").next_u64(), streams.stream("a").next_u64());
    }

    #[test]
    fn between_stays_in_range() {
        let mut rng = Streams::new(1).stream("x");
        for _ in 0..1000 {
            let v = rng.between(3, 5);
            assert!((3..=5).contains(&v));
        }
    }
}
