//! The run record: everything a report of one run shows, as plain data.
//! The simulator fills it from its trace and verdicts; this crate renders it
//! (`run_html`, `run_markdown`, and JUnit through [`RunRecord::suite`]).
//!
//! ```
//! use possim_reports::run::{RunRecord, VerdictRow};
//! let mut record = RunRecord::new("quickstart", 7);
//! record.verdicts.push(VerdictRow::passed("no-double-debit"));
//! record.passed = true;
//! let suite = record.suite();
//! assert_eq!(suite.cases.len(), 1);
//! assert!(suite.passed());
//! ```

use crate::case::{CaseResult, Suite};
use crate::chart::TradeChart;
use crate::ledger::LedgerCard;
use crate::timeline::Timelines;

/// Charts one report draws at most; the record says how many more trades
/// qualified.
pub const CHARTS_MAX: usize = 12;

/// One invariant's verdict, with each violation as text (the oracle's own
/// words: the trade, what went wrong, the events that prove it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictRow {
    pub invariant: String,
    pub passed: bool,
    pub violations: Vec<String>,
    /// Violations found but not kept.
    pub more: usize,
}

impl VerdictRow {
    pub fn passed(invariant: &str) -> VerdictRow {
        VerdictRow {
            invariant: invariant.to_string(),
            passed: true,
            violations: Vec::new(),
            more: 0,
        }
    }

    pub fn total(&self) -> usize {
        self.violations.len() + self.more
    }
}

/// A labelled count: `approved 28`, `line_drop_frame 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub label: String,
    pub count: u64,
}

impl Count {
    pub fn new(label: impl Into<String>, count: u64) -> Count {
        Count { label: label.into(), count }
    }
}

/// Where the run's event log is and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceInfo {
    pub schema_version: u32,
    pub records: usize,
    pub hash: String,
}

/// One run, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub scenario: String,
    pub seed: u64,
    pub swarm: bool,
    /// Every invariant held and healing converged.
    pub passed: bool,
    /// The one command that reproduces the run.
    pub repro: String,
    pub simulated_ms: u64,
    pub trace: TraceInfo,
    pub verdicts: Vec<VerdictRow>,
    /// Trades by how they ended.
    pub outcomes: Vec<Count>,
    /// Reversals, offline uploads, settlements, slips.
    pub activity: Vec<Count>,
    /// Faults injected, by kind.
    pub faults: Vec<Count>,
    /// The scenario's placed faults and the times each landed (0: never,
    /// so the run did not test what the scenario placed).
    pub placed: Vec<Count>,
    /// Frames by fate.
    pub frames: Vec<Count>,
    pub charts: Vec<TradeChart>,
    /// Trades that qualified for a chart beyond [`CHARTS_MAX`].
    pub charts_omitted: usize,
    /// Said above the charts: trades asked for that the run does not have,
    /// why these trades are charted.
    pub chart_notes: Vec<String>,
    pub ledger: Vec<LedgerCard>,
    pub timelines: Timelines,
}

impl RunRecord {
    pub fn new(scenario: &str, seed: u64) -> RunRecord {
        RunRecord {
            scenario: scenario.to_string(),
            seed,
            swarm: false,
            passed: false,
            repro: String::new(),
            simulated_ms: 0,
            trace: TraceInfo::default(),
            verdicts: Vec::new(),
            outcomes: Vec::new(),
            activity: Vec::new(),
            faults: Vec::new(),
            placed: Vec::new(),
            frames: Vec::new(),
            charts: Vec::new(),
            charts_omitted: 0,
            chart_notes: Vec::new(),
            ledger: Vec::new(),
            timelines: Timelines {
                start_ms: 0,
                end_ms: 0,
                healing_ms: None,
                terminals: Vec::new(),
            },
        }
    }

    /// `quickstart seed 7` (`(swarm)` when it drew its own fault rates).
    pub fn title(&self) -> String {
        format!("{} seed {}{}", self.scenario, self.seed, if self.swarm { " (swarm)" } else { "" })
    }

    /// One case per invariant, for JUnit: the failure text is the
    /// violations, the repro the command.
    pub fn suite(&self) -> Suite {
        let cases = self
            .verdicts
            .iter()
            .map(|verdict| {
                if verdict.passed {
                    return CaseResult::pass(&verdict.invariant, self.title(), 0);
                }
                let mut text = verdict.violations.join("\n");
                if verdict.more > 0 {
                    text.push_str(&format!("\n… and {} more", verdict.more));
                }
                if text.is_empty() {
                    text = format!("{} failed", verdict.invariant);
                }
                CaseResult::fail(&verdict.invariant, self.title(), text, 0)
                    .with_repro(self.repro.clone())
            })
            .collect();
        Suite { name: format!("run {}", self.title()), cases }
    }

    /// The names of the verdicts that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.verdicts.iter().filter(|v| !v.passed).map(|v| v.invariant.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_invariant_becomes_a_failed_case_with_its_violation_and_repro() {
        let mut record = RunRecord::new("v", 3);
        record.repro = "possim replay v.yaml --seed 3".into();
        record.verdicts.push(VerdictRow::passed("numbering"));
        record.verdicts.push(VerdictRow {
            invariant: "no-double-debit".into(),
            passed: false,
            violations: vec!["card 6222…0001: debited twice".into()],
            more: 2,
        });
        let suite = record.suite();
        assert_eq!(suite.failures(), 1);
        let failed = &suite.cases[1];
        assert_eq!(failed.id, "no-double-debit");
        let text = failed.failure.as_deref().unwrap();
        assert!(text.contains("debited twice") && text.contains("2 more"), "{text}");
        assert_eq!(failed.repro.as_deref(), Some("possim replay v.yaml --seed 3"));
        assert_eq!(record.failed(), vec!["no-double-debit"]);
    }
}
