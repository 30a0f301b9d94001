//! The report of a run or a sweep: fills `possim-reports`' plain records
//! from the simulator's trace and verdicts, and writes the report directory.
//!
//! A run's directory (`possim run|replay SCENARIO --out DIR`):
//! `report.html` (verdicts, counts, a message sequence chart per failing,
//! asked-for or reversed trade, the ledger, terminal timelines),
//! `summary.md`, `junit.xml` (a case per invariant) and `trace.jsonl`.
//! A sweep's (`possim sweep ... --out DIR`): the same three pages with a
//! case per seed; see [`sweep`]. `docs/REPORTS.md` describes every file.
//!
//! ```no_run
//! use possim_sim::execute::execute;
//! use possim_sim::report::{write_run, TradeAsk};
//! use possim_sim::scenario::load_and_compile;
//! use possim_sim::world::RunOptions;
//! let path = std::path::Path::new("scenarios/quickstart.yaml");
//! let scenario = load_and_compile(path).unwrap();
//! let report = execute(&scenario, &RunOptions { seed: 7, swarm: false }).unwrap();
//! let asks: Vec<TradeAsk> = vec!["QS000001:2".parse().unwrap()];
//! write_run(std::path::Path::new("out"), &report, path, &asks).unwrap();
//! ```

mod charts;
mod describe;
mod ledger;
mod outcomes;
pub mod sweep;
mod timelines;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use possim_models::iso8583::values::TerminalId;
use possim_reports::run::{Count, RunRecord, TraceInfo, VerdictRow};
use possim_reports::ReportError;

use crate::execute::{RunReport, HEALING_CONVERGES};
use crate::oracle::TraceIndex;
use crate::trace::{TraceEvent, TRACE_SCHEMA_VERSION};

/// A trade asked for on the command line: `--trade TERMINAL:STAN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeAsk {
    pub terminal: TerminalId,
    pub stan: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--trade {0:?}: expected TERMINAL:STAN, a terminal id of at most 8 characters and a STAN from 1 to 999999, like QS000002:3")]
pub struct TradeAskError(pub String);

impl FromStr for TradeAsk {
    type Err = TradeAskError;

    fn from_str(text: &str) -> Result<TradeAsk, TradeAskError> {
        let error = || TradeAskError(text.to_string());
        let (terminal, stan) = text.rsplit_once(':').ok_or_else(error)?;
        let terminal =
            TerminalId::new(terminal).filter(|_| !terminal.is_empty()).ok_or_else(error)?;
        let stan: u32 =
            stan.parse().ok().filter(|s| (1..=999_999).contains(s)).ok_or_else(error)?;
        Ok(TradeAsk { terminal, stan })
    }
}

fn counts(map: &BTreeMap<String, u64>) -> Vec<Count> {
    map.iter().map(|(label, count)| Count::new(label.clone(), *count)).collect()
}

/// What the report shows of one run.
pub fn run_record(report: &RunReport, scenario_path: &Path, asks: &[TradeAsk]) -> RunRecord {
    let trace = &report.trace;
    let index = TraceIndex::new(trace);
    let mut record = RunRecord::new(&report.scenario, report.seed);
    record.swarm = report.swarm;
    record.passed = report.passed();
    record.repro = report.repro(scenario_path);
    record.simulated_ms = report.simulated_ms;
    record.trace = TraceInfo {
        schema_version: TRACE_SCHEMA_VERSION,
        records: trace.len(),
        hash: trace.hash(),
    };
    for verdict in &report.verdicts {
        record.verdicts.push(VerdictRow {
            invariant: verdict.invariant.name().to_string(),
            passed: verdict.passed(),
            violations: verdict.violations.iter().map(ToString::to_string).collect(),
            more: verdict.more,
        });
    }
    record.verdicts.push(VerdictRow {
        invariant: HEALING_CONVERGES.to_string(),
        passed: report.converged,
        violations: if report.converged {
            Vec::new()
        } else {
            vec!["the system did not converge within the scenario's healing bound: a reversal \
                  unacknowledged, an offline trade not uploaded or a batch not settled"
                .to_string()]
        },
        more: 0,
    });
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for view in index.trades.values() {
        *outcomes.entry(outcomes::classify(view).0.to_string()).or_default() += 1;
    }
    let summary = &report.summary;
    if summary.refused_locally > 0 {
        outcomes.insert("refused at the terminal (nothing sent)".into(), summary.refused_locally);
    }
    record.outcomes = counts(&outcomes);
    let mut activity = vec![
        Count::new("trades started", summary.trades_started),
        Count::new("reversals sent", summary.reversals_sent),
        Count::new("reversals acknowledged", summary.reversals_acknowledged),
        Count::new("offline trades queued", summary.offline_queued),
        Count::new("offline trades uploaded", summary.offline_uploaded),
        Count::new("settlements balanced", summary.settlements_balanced),
        Count::new("settlements not balanced", summary.settlements_unbalanced),
        Count::new("slips printed", summary.slips_printed),
        Count::new("slips failed", summary.slips_failed),
    ];
    for (code, count) in &summary.declined {
        activity.push(Count::new(format!("declined with code {code}"), *count));
    }
    record.activity = activity;
    record.faults = counts(&summary.faults);
    record.placed =
        report.placed.iter().map(|placed| Count::new(placed.to_string(), placed.times)).collect();
    record.frames = counts(&summary.frames);
    let terminals: BTreeSet<String> = match trace.records().first().map(|r| &r.event) {
        Some(TraceEvent::Setup(setup)) => {
            setup.terminals.iter().map(|t| t.id.trimmed().to_string()).collect()
        }
        _ => BTreeSet::new(),
    };
    let selection = charts::select(report, &index, asks);
    record.charts =
        selection.targets.iter().map(|target| charts::chart(trace, target, &terminals)).collect();
    record.charts_omitted = selection.omitted;
    record.chart_notes = selection.notes;
    record.ledger = ledger::ledger(trace);
    record.timelines = timelines::timelines(trace, &index);
    record
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write { path: path.to_path_buf(), source }
}

/// Writes the run's `trace.jsonl`.
pub fn write_trace(dir: &Path, report: &RunReport) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join("trace.jsonl");
    let file = std::fs::File::create(&path).map_err(io(&path))?;
    let mut writer = std::io::BufWriter::new(file);
    report.trace.write_jsonl(&mut writer).map_err(io(&path))?;
    writer.flush().map_err(io(&path))
}

/// Writes a run's report directory: `report.html`, `summary.md`,
/// `junit.xml` and `trace.jsonl`.
pub fn write_run(
    dir: &Path,
    report: &RunReport,
    scenario_path: &Path,
    asks: &[TradeAsk],
) -> Result<(), ReportError> {
    let record = run_record(report, scenario_path, asks);
    possim_reports::write_run(dir, &record)?;
    write_trace(dir, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trade_is_asked_for_as_terminal_and_stan() {
        let ask: TradeAsk = "QS000002:3".parse().unwrap();
        assert_eq!((ask.terminal.trimmed(), ask.stan), ("QS000002", 3));
        for bad in
            ["QS000002", "QS000002:", ":3", "QS000002:0", "QS000002:1000000", "TOOLONG12:3", "Q:x"]
        {
            let error = bad.parse::<TradeAsk>().unwrap_err();
            assert!(error.to_string().contains("expected TERMINAL:STAN"), "{bad}: {error}");
        }
    }
}
