//! A sweep's report: every seed's case as it finishes (from any worker
//! thread), totals over all seeds, and the whole run record of the lowest
//! failing seeds — at most [`SWEEP_RUNS_MAX`], so a sweep of ten thousand
//! failing seeds keeps three.
//!
//! ```
//! use possim_sim::report::sweep::SweepCollector;
//! let collector = SweepCollector::new(std::path::Path::new("q.yaml"), "quickstart", false);
//! collector.error(4, "panic", "index out of bounds", 10);
//! let record = collector.finish("0..5", false, Vec::new(), 10);
//! assert_eq!(record.failing_seeds(), 1);
//! assert!(record.suite.cases[0].repro.as_deref().unwrap().contains("--seed 4"));
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use possim_reports::run::{Count, RunRecord};
use possim_reports::sweep::{SweepRecord, SWEEP_RUNS_MAX};
use possim_reports::CaseResult;

use crate::execute::RunReport;

/// What one seed adds to a sweep's report, but for its whole run record:
/// the seed's `sweep --json` line carries it, so shards merge into the
/// report one machine would have written (`possim merge`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedCase {
    /// The failed invariants (or `run-error`, `panic`); empty when it passed.
    pub failed: Vec<String>,
    /// The case's failure text, when it failed.
    pub failure: Option<String>,
    /// Trades by outcome and faults by kind, zero counts left out.
    pub outcomes: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
    pub wall_ms: u64,
}

impl SeedCase {
    /// A seed that ran to its verdicts: the first violation of each failing
    /// invariant, and healing if it did not converge.
    pub fn of_run(report: &RunReport, wall_ms: u64) -> SeedCase {
        let failed = report.failed();
        let failure = (!failed.is_empty()).then(|| {
            let mut text: Vec<String> = report
                .verdicts
                .iter()
                .filter_map(|v| v.violations.first().map(ToString::to_string))
                .collect();
            if !report.converged {
                text.push(format!("{}: did not converge", crate::execute::HEALING_CONVERGES));
            }
            text.join("\n")
        });
        let summary = &report.summary;
        let mut outcomes = BTreeMap::new();
        add(&mut outcomes, "approved", summary.approved);
        add(&mut outcomes, "declined", summary.declined.values().sum());
        add(&mut outcomes, "timed out", summary.timed_out);
        add(&mut outcomes, "unusable answer", summary.failed_unusable);
        add(&mut outcomes, "refused at the terminal", summary.refused_locally);
        add(&mut outcomes, "reversals acknowledged", summary.reversals_acknowledged);
        let mut faults = BTreeMap::new();
        for (kind, count) in &summary.faults {
            add(&mut faults, kind, *count);
        }
        SeedCase { failed, failure, outcomes, faults, wall_ms }
    }

    /// A seed that did not reach its verdicts: a run error or a panic.
    pub fn of_error(label: &str, message: &str, wall_ms: u64) -> SeedCase {
        SeedCase {
            failed: vec![label.to_string()],
            failure: Some(format!("{label}: {message}")),
            wall_ms,
            ..SeedCase::default()
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    cases: BTreeMap<u64, CaseResult>,
    failing: BTreeMap<String, u64>,
    outcomes: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    runs: BTreeMap<u64, RunRecord>,
}

/// Gathers a sweep's seeds; shared by the sweep's worker threads.
#[derive(Debug)]
pub struct SweepCollector {
    scenario_path: PathBuf,
    scenario: String,
    swarm: bool,
    seen: Mutex<Seen>,
}

fn add(map: &mut BTreeMap<String, u64>, key: &str, count: u64) {
    if count > 0 {
        *map.entry(key.to_string()).or_default() += count;
    }
}

impl SweepCollector {
    pub fn new(scenario_path: &Path, scenario: &str, swarm: bool) -> SweepCollector {
        SweepCollector {
            scenario_path: scenario_path.to_path_buf(),
            scenario: scenario.to_string(),
            swarm,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn repro(&self, seed: u64) -> String {
        let swarm = if self.swarm { " --swarm" } else { "" };
        format!("possim replay {} --seed {seed}{swarm}", self.scenario_path.display())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A worker that panicked while holding the lock left whole entries
        // behind (each update is one insert); the data is still good.
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One seed that ran to its verdicts.
    pub fn run(&self, seed: u64, report: &RunReport, wall_ms: u64) {
        self.run_case(seed, report, &SeedCase::of_run(report, wall_ms));
    }

    /// As [`SweepCollector::run`], with the seed's case already made.
    pub fn run_case(&self, seed: u64, report: &RunReport, case: &SeedCase) {
        // Only a seed among the lowest failing ones pays for its record.
        if !case.failed.is_empty() && self.wants_run(seed) {
            self.keep_run(seed, super::run_record(report, &self.scenario_path, &[]));
        }
        self.case(seed, case);
    }

    /// One seed that did not reach its verdicts: a run error or a panic.
    pub fn error(&self, seed: u64, label: &str, message: &str, wall_ms: u64) {
        self.case(seed, &SeedCase::of_error(label, message, wall_ms));
    }

    /// One seed's case, as it ran here or as a shard's `--json` line says.
    pub fn case(&self, seed: u64, case: &SeedCase) {
        let id = format!("seed {seed}");
        let result = if case.failed.is_empty() {
            CaseResult::pass(id, &self.scenario, case.wall_ms)
        } else {
            let text = case.failure.clone().unwrap_or_default();
            CaseResult::fail(id, &self.scenario, text, case.wall_ms).with_repro(self.repro(seed))
        };
        let mut seen = self.lock();
        seen.cases.insert(seed, result);
        for name in &case.failed {
            add(&mut seen.failing, name, 1);
        }
        for (key, count) in &case.outcomes {
            add(&mut seen.outcomes, key, *count);
        }
        for (kind, count) in &case.faults {
            add(&mut seen.faults, kind, *count);
        }
    }

    /// Whether a failing seed is among the lowest seen so far, whose whole
    /// run record the page shows.
    pub fn wants_run(&self, seed: u64) -> bool {
        let seen = self.lock();
        seen.runs.len() < SWEEP_RUNS_MAX || seen.runs.keys().next_back().is_some_and(|&s| seed < s)
    }

    /// A failing seed's whole run record; only the lowest
    /// [`SWEEP_RUNS_MAX`] stay.
    pub fn keep_run(&self, seed: u64, record: RunRecord) {
        let mut seen = self.lock();
        seen.runs.insert(seed, record);
        while seen.runs.len() > SWEEP_RUNS_MAX {
            seen.runs.pop_last();
        }
    }

    /// The sweep's record, seeds in order.
    pub fn finish(
        self,
        seeds: &str,
        passed: bool,
        expected: Vec<String>,
        wall_ms: u64,
    ) -> SweepRecord {
        let seen = self.seen.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut record = SweepRecord::new(&self.scenario, seeds);
        record.suite.cases = seen.cases.into_values().collect();
        record.passed = passed;
        record.expected = expected;
        let counts =
            |map: BTreeMap<String, u64>| map.into_iter().map(|(k, v)| Count::new(k, v)).collect();
        record.failing = counts(seen.failing);
        record.outcomes = counts(seen.outcomes);
        record.faults = counts(seen.faults);
        record.runs = seen.runs.into_values().collect();
        record.wall_ms = wall_ms;
        record
    }
}
