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
        let title = self.scenario.clone();
        let failed = report.failed();
        let case = if failed.is_empty() {
            CaseResult::pass(format!("seed {seed}"), title, wall_ms)
        } else {
            let mut text: Vec<String> = report
                .verdicts
                .iter()
                .filter_map(|v| v.violations.first().map(ToString::to_string))
                .collect();
            if !report.converged {
                text.push(format!("{}: did not converge", crate::execute::HEALING_CONVERGES));
            }
            CaseResult::fail(format!("seed {seed}"), title, text.join("\n"), wall_ms)
                .with_repro(self.repro(seed))
        };
        // Only a seed among the lowest failing ones pays for its record.
        let keep = !failed.is_empty() && {
            let seen = self.lock();
            seen.runs.len() < SWEEP_RUNS_MAX
                || seen.runs.keys().next_back().is_some_and(|&s| seed < s)
        };
        let record = keep.then(|| super::run_record(report, &self.scenario_path, &[]));
        let summary = &report.summary;
        let mut seen = self.lock();
        seen.cases.insert(seed, case);
        for name in &failed {
            add(&mut seen.failing, name, 1);
        }
        add(&mut seen.outcomes, "approved", summary.approved);
        let declined: u64 = summary.declined.values().sum();
        add(&mut seen.outcomes, "declined", declined);
        add(&mut seen.outcomes, "timed out", summary.timed_out);
        add(&mut seen.outcomes, "unusable answer", summary.failed_unusable);
        add(&mut seen.outcomes, "refused at the terminal", summary.refused_locally);
        add(&mut seen.outcomes, "reversals acknowledged", summary.reversals_acknowledged);
        for (kind, count) in &summary.faults {
            add(&mut seen.faults, kind, *count);
        }
        if let Some(record) = record {
            seen.runs.insert(seed, record);
            while seen.runs.len() > SWEEP_RUNS_MAX {
                seen.runs.pop_last();
            }
        }
    }

    /// One seed that did not reach its verdicts: a run error or a panic.
    pub fn error(&self, seed: u64, label: &str, message: &str, wall_ms: u64) {
        let case = CaseResult::fail(
            format!("seed {seed}"),
            &self.scenario,
            format!("{label}: {message}"),
            wall_ms,
        )
        .with_repro(self.repro(seed));
        let mut seen = self.lock();
        seen.cases.insert(seed, case);
        add(&mut seen.failing, label, 1);
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
