//! Long sweeps counted back from their output: `possim tally FILE...` reads
//! the seed lines of `possim sweep --json` (slices, shards, scenarios) and
//! prints one table, so no sweep figure is ever pasted by hand.
//!
//! ```
//! use possim_sim::tally::Tally;
//! let text = r#"{"seed":0,"passed":true,"failed":[],"trades":30,"simulated_ms":1000}
//! {"seed":1,"passed":false,"failed":["no-double-debit"],"trades":29,"simulated_ms":1000}
//! {"coverage":{"runs":2}}
//! "#;
//! let tally = Tally::from_sweep_json(text).unwrap();
//! assert_eq!((tally.seeds, tally.failing, tally.trades), (2, 1, 59));
//! assert_eq!(tally.failing_seeds, vec![1]);
//! assert!(Tally::from_sweep_json("{\"coverage\":{}}\n").unwrap_err().to_string().contains("no seed line"));
//! ```

use std::collections::BTreeSet;

pub use crate::coverage::merge::LINES_MAX;
use crate::sweep_json::{classify, Line, LineError};
/// Failing seeds named at most per file (the count is always whole).
pub const FAILING_NAMED_MAX: usize = 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TallyError {
    #[error("line {line}: not a sweep line: {message}")]
    NotSweep { line: usize, message: String },
    #[error("line {line}: seed {seed} appears twice")]
    Repeated { line: usize, seed: u64 },
    #[error("no seed line (write them with possim sweep --json)")]
    Empty,
    #[error("more than {LINES_MAX} lines")]
    TooLong,
    #[error("{0}")]
    LineTooLong(LineError),
}

/// What one sweep's output says, counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub seeds: u64,
    pub failing: u64,
    /// The first [`FAILING_NAMED_MAX`] failing seeds, in order.
    pub failing_seeds: Vec<u64>,
    pub trades: u64,
    pub simulated_ms: u64,
    pub first_seed: u64,
    pub last_seed: u64,
}

impl Tally {
    /// Counts the seed lines of `text` (read by [`classify`], the parser
    /// `possim merge` uses too); the sweep and coverage lines are skipped.
    pub fn from_sweep_json(text: &str) -> Result<Tally, TallyError> {
        let mut tally = Tally { first_seed: u64::MAX, ..Tally::default() };
        let mut seen = BTreeSet::new();
        for (index, line) in text.lines().enumerate() {
            if index >= LINES_MAX {
                return Err(TallyError::TooLong);
            }
            let line_number = index + 1;
            let parsed = match classify(line_number, line) {
                Ok(Line::Seed(parsed)) => parsed,
                Ok(Line::Sweep(_) | Line::Coverage(_) | Line::Blank) => continue,
                Err(LineError::NotSweep { line, message }) => {
                    return Err(TallyError::NotSweep { line, message })
                }
                Err(error @ LineError::TooLong { .. }) => {
                    return Err(TallyError::LineTooLong(error))
                }
            };
            if !seen.insert(parsed.seed) {
                return Err(TallyError::Repeated { line: line_number, seed: parsed.seed });
            }
            tally.seeds += 1;
            tally.trades += parsed.trades;
            tally.simulated_ms += parsed.simulated_ms;
            tally.first_seed = tally.first_seed.min(parsed.seed);
            tally.last_seed = tally.last_seed.max(parsed.seed);
            if !parsed.passed {
                tally.failing += 1;
                if tally.failing_seeds.len() < FAILING_NAMED_MAX {
                    tally.failing_seeds.push(parsed.seed);
                }
            }
        }
        if tally.seeds == 0 {
            return Err(TallyError::Empty);
        }
        Ok(tally)
    }

    /// Adds another sweep's counts (another slice or shard).
    pub fn add(&mut self, other: &Tally) {
        self.seeds += other.seeds;
        self.failing += other.failing;
        for seed in &other.failing_seeds {
            if self.failing_seeds.len() < FAILING_NAMED_MAX {
                self.failing_seeds.push(*seed);
            }
        }
        self.trades += other.trades;
        self.simulated_ms += other.simulated_ms;
        self.first_seed = self.first_seed.min(other.first_seed);
        self.last_seed = self.last_seed.max(other.last_seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_seed_and_a_foreign_line_are_refused_with_their_line() {
        let twice = "{\"seed\":3,\"passed\":true}\n{\"seed\":3,\"passed\":true}\n";
        assert_eq!(Tally::from_sweep_json(twice), Err(TallyError::Repeated { line: 2, seed: 3 }));
        let foreign = "{\"seed\":3,\"passed\":true}\nhello\n";
        assert!(matches!(
            Tally::from_sweep_json(foreign),
            Err(TallyError::NotSweep { line: 2, .. })
        ));
    }

    #[test]
    fn slices_add_up_to_one_sweep() {
        let a = Tally::from_sweep_json("{\"seed\":0,\"passed\":false,\"trades\":2}\n").unwrap();
        let b = Tally::from_sweep_json("{\"seed\":1,\"passed\":true,\"trades\":3}\n").unwrap();
        let mut total = a.clone();
        total.add(&b);
        assert_eq!((total.seeds, total.failing, total.trades), (2, 1, 5));
        assert_eq!((total.first_seed, total.last_seed), (0, 1));
        assert_eq!(total.failing_seeds, vec![0]);
    }
}
