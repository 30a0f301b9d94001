//! A whole run as the command line sees it: the world, then the oracle, the
//! verdicts appended to the trace, and the liveness verdict of healing.
//!
//! [`execute`] keeps every record for the commands that read the run
//! afterwards (reports, replay, shrink, certify, coverage).
//! [`execute_streamed`] keeps only what the world reads back while it runs
//! and the placed faults: the oracle's log and the summary take each record
//! as it is written. Both give the same hash, verdicts and summary.

use std::path::Path;

use crate::oracle::log::JudgedLog;
use crate::oracle::{self, Verdict};
use crate::placed::{self, PlacedFault};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::ProtocolFault;
use crate::summary::Summary;
use crate::trace::{FaultCause, RecordSink, Trace, TraceEvent, TraceRecord, VerdictRecord};
use crate::world::{self, RunError, RunOptions, RunOutcome};

/// The name of the liveness verdict: healing must converge within its bound.
pub const HEALING_CONVERGES: &str = "healing-converges";
/// The name of the failure of a placed fault that never landed (unless the
/// scenario's `expect.placed_may_miss` allows it).
pub const PLACED_FAULT_MISSED: &str = "placed-fault-missed";
/// The name of the failure of a run in which no trade reached an issuer:
/// the money invariants had nothing to judge, so their "passed" says
/// nothing (unless the scenario's `expect.exercises_nothing` says that is
/// its point: a sign-in or key-check case).
pub const EXERCISED_NOTHING: &str = "exercised-nothing";

#[derive(Debug)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub swarm: bool,
    pub trace: Trace,
    pub verdicts: Vec<Verdict>,
    pub converged: bool,
    /// What healing still found pending when it did not converge.
    pub healing_pending: Vec<String>,
    pub summary: Summary,
    /// The scenario's placed faults, then those swarm mode drew, and how
    /// often each landed.
    pub placed: Vec<PlacedFault>,
    /// The faults swarm mode drew for this seed, as a scenario writes them.
    pub drawn: Vec<ProtocolFault>,
    /// Whether a placed fault that never landed fails the run.
    pub placed_required: bool,
    /// Whether a run in which no trade reached an issuer fails.
    pub exercise_required: bool,
    pub simulated_ms: u64,
    pub steps: u64,
}

impl RunReport {
    /// Whether every invariant held, healing converged and every placed
    /// fault landed (where the scenario requires it).
    pub fn passed(&self) -> bool {
        self.failed().is_empty()
    }

    /// Names of the invariants that failed (and the liveness verdict).
    pub fn failed(&self) -> Vec<String> {
        let mut failed: Vec<String> = self
            .verdicts
            .iter()
            .filter(|v| !v.passed())
            .map(|v| v.invariant.name().to_string())
            .collect();
        if !self.converged {
            failed.push(HEALING_CONVERGES.to_string());
        }
        // A drawn placement may name a trade the seed never reaches: only
        // the scenario's own must land.
        if self.placed_required
            && self.placed.iter().any(|placed| !placed.drawn && !placed.landed())
        {
            failed.push(PLACED_FAULT_MISSED.to_string());
        }
        if self.exercised_nothing() && self.exercise_required {
            failed.push(EXERCISED_NOTHING.to_string());
        }
        failed
    }

    /// No trade reached an issuer: every money invariant judged nothing.
    pub fn exercised_nothing(&self) -> bool {
        self.summary.issuer_requests == 0
    }

    /// The one line that reproduces this run.
    pub fn repro(&self, scenario_path: &Path) -> String {
        let swarm = if self.swarm { " --swarm" } else { "" };
        format!("possim replay {} --seed {}{swarm}", scenario_path.display(), self.seed)
    }
}

/// Runs `scenario` keeping every record.
pub fn execute(scenario: &CompiledScenario, options: &RunOptions) -> Result<RunReport, RunError> {
    let outcome = world::run(scenario, options)?;
    let verdicts = oracle::check(&outcome.trace);
    let summary = Summary::of(&outcome.trace);
    Ok(finish(scenario, options, outcome, verdicts, summary))
}

/// Runs `scenario` with a streamed trace: the report's trace has the hash
/// and length of [`execute`]'s, and keeps only the records
/// [`kept_while_streaming`] names.
pub fn execute_streamed(
    scenario: &CompiledScenario,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    let trace = Trace::streamed(Box::<Streamed>::default(), kept_while_streaming);
    let mut outcome = world::runner::run_into(scenario, options, trace)?;
    let sink = outcome.trace.take_sink().expect("a streamed trace has its sink");
    let streamed = sink.into_any().downcast::<Streamed>().expect("the sink given is a Streamed");
    let verdicts = oracle::check_log(&streamed.log);
    Ok(finish(scenario, options, outcome, verdicts, streamed.summary))
}

/// What a streamed run takes from each record as it is written.
#[derive(Debug, Default)]
struct Streamed {
    log: JudgedLog,
    summary: Summary,
}

impl RecordSink for Streamed {
    fn observe(&mut self, record: &TraceRecord) {
        self.log.observe(record);
        self.summary.observe(record);
    }

    fn observe_owned(&mut self, record: TraceRecord) {
        self.summary.observe(&record);
        self.log.take(record);
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The records a streamed run keeps: the placed faults
/// ([`placed::landed`] reads them after the run), a handful per terminal
/// and day. The world reads nothing back while it runs (it hands the day
/// driver its events directly), so nothing else need stay.
pub fn kept_while_streaming(event: &TraceEvent) -> bool {
    matches!(event, TraceEvent::Fault(fault) if matches!(fault.cause, FaultCause::Protocol(_)))
}

/// The verdicts appended to the trace, and the report.
fn finish(
    scenario: &CompiledScenario,
    options: &RunOptions,
    outcome: RunOutcome,
    verdicts: Vec<Verdict>,
    summary: Summary,
) -> RunReport {
    let mut trace = outcome.trace;
    let end = trace.last_at().unwrap_or_default();
    for verdict in &verdicts {
        trace.push(end, TraceEvent::Verdict(verdict.record()));
    }
    trace.push(
        end,
        TraceEvent::Verdict(VerdictRecord {
            invariant: HEALING_CONVERGES.into(),
            passed: outcome.converged,
            violations: usize::from(!outcome.converged),
        }),
    );
    let placed = placed::landed(&scenario.faults.protocol, &outcome.drawn, &trace);
    RunReport {
        scenario: scenario.name.clone(),
        seed: options.seed,
        swarm: options.swarm,
        trace,
        verdicts,
        converged: outcome.converged,
        healing_pending: outcome.healing_pending,
        summary,
        placed,
        drawn: outcome.drawn,
        placed_required: !scenario.expect.placed_may_miss,
        exercise_required: !scenario.expect.exercises_nothing,
        simulated_ms: outcome.simulated_ms,
        steps: outcome.steps,
    }
}
