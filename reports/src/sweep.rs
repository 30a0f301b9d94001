//! The sweep record: one case per seed, the totals over every seed, and the
//! full run records of the first failing seeds (lowest seeds first), so the
//! page can chart what went wrong without keeping every trace.
//!
//! ```
//! use possim_reports::sweep::SweepRecord;
//! use possim_reports::{CaseResult, Suite};
//! let mut record = SweepRecord::new("quickstart", "0..2");
//! record.suite.cases.push(CaseResult::pass("seed 0", "quickstart", 800));
//! record.suite.cases.push(CaseResult::fail("seed 1", "quickstart", "slip-truth: ...", 900));
//! assert_eq!(record.failing_seeds(), 1);
//! ```

use crate::case::Suite;
use crate::run::{Count, RunRecord};

/// Failing seeds whose whole run record a sweep keeps for its page.
pub const SWEEP_RUNS_MAX: usize = 3;
/// Seeds the sweep page lists one by one (failing first); JUnit has all.
pub const SWEEP_ROWS_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRecord {
    pub scenario: String,
    /// The seeds as asked: `0..200`, with the shard when there is one.
    pub seeds: String,
    /// One case per seed, in seed order.
    pub suite: Suite,
    /// The sweep's own verdict (a variant passes when it caught what it
    /// expects).
    pub passed: bool,
    /// The invariants the scenario expects to break.
    pub expected: Vec<String>,
    /// Failing seeds per invariant name.
    pub failing: Vec<Count>,
    /// Trades by outcome and faults by kind, summed over every seed.
    pub outcomes: Vec<Count>,
    pub faults: Vec<Count>,
    /// The first failing seeds' runs, at most [`SWEEP_RUNS_MAX`].
    pub runs: Vec<RunRecord>,
    pub wall_ms: u64,
}

impl SweepRecord {
    pub fn new(scenario: &str, seeds: &str) -> SweepRecord {
        SweepRecord {
            scenario: scenario.to_string(),
            seeds: seeds.to_string(),
            suite: Suite { name: format!("sweep {scenario}"), cases: Vec::new() },
            passed: true,
            expected: Vec::new(),
            failing: Vec::new(),
            outcomes: Vec::new(),
            faults: Vec::new(),
            runs: Vec::new(),
            wall_ms: 0,
        }
    }

    pub fn failing_seeds(&self) -> usize {
        self.suite.failures()
    }

    /// `12 of 200 seeds failed` and what the sweep makes of it.
    pub fn verdict_text(&self) -> String {
        let seeds = self.suite.cases.len();
        let failing = self.failing_seeds();
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        if self.expected.is_empty() {
            format!("{verdict}: {failing} of {seeds} seeds failed")
        } else {
            format!(
                "{verdict}: {failing} of {seeds} seeds failed; expected to break {}",
                self.expected.join(", ")
            )
        }
    }
}
