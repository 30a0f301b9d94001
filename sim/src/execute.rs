//! A whole run as the command line sees it: the world, then the oracle, the
//! verdicts appended to the trace, and the liveness verdict of healing.

use std::path::Path;

use crate::oracle::{self, Verdict};
use crate::placed::{self, PlacedFault};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::ProtocolFault;
use crate::summary::Summary;
use crate::trace::{Trace, TraceEvent, VerdictRecord};
use crate::world::{self, RunError, RunOptions};

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

pub fn execute(scenario: &CompiledScenario, options: &RunOptions) -> Result<RunReport, RunError> {
    let outcome = world::run(scenario, options)?;
    let mut trace = outcome.trace;
    let verdicts = oracle::check(&trace);
    let end = trace.records().last().map(|r| r.at).unwrap_or_default();
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
    let summary = Summary::of(&trace);
    let placed = placed::landed(&scenario.faults.protocol, &outcome.drawn, &trace);
    Ok(RunReport {
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
    })
}
