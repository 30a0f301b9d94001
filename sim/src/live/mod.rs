//! Live mode: the same models, codec, fault plan and checks on a real TCP
//! socket instead of turmoil, to pre-check a team's own terminal
//! (`possim serve`: possim plays switch, network and issuers) or acquirer
//! host (`possim drive`: possim plays the terminal fleet). Not
//! deterministic — a real peer is not — so every decision is logged
//! ([`log`]) and the run is reported like a simulated one ([`report`]).
//!
//! - [`connection`]: framing with limits; [`listener`]: accept loop, the
//!   task that owns the host, and the connection task both sides use;
//!   [`admission`]: who holds a connection slot and for how long;
//!   [`bindings`]: which connection speaks for which terminal;
//!   [`host`]: switch + network + issuers on wall time; [`faults`]: the
//!   fault plan on answers; [`terminal_checks`]: what a terminal must do
//!   (sans-IO).
//! - [`fleet`]: the terminals, their workload and terminal-side faults on
//!   wall time (sans-IO); [`driver`]: the dialling shell around it;
//!   [`host_checks`]: what a host must do (sans-IO).
//! - [`selection`]: which checks a scenario selects (judging nothing then
//!   fails the run) and which do not apply to it; [`report`]: the verdicts.

pub mod admission;
pub mod bindings;
pub mod connection;
pub mod driver;
pub mod faults;
#[cfg(test)]
mod fixtures;
pub mod fleet;
pub mod host;
pub mod host_checks;
pub mod listener;
pub mod log;
pub mod report;
pub mod selection;
pub mod terminal_checks;

use crate::scenario::compile::CompiledScenario;
use selection::Relevance;
use terminal_checks::CheckResult;

fn listed(violations: &[String], dropped: u64) -> Vec<String> {
    let mut violations = violations.to_vec();
    if dropped > 0 {
        violations.push(format!("... and {dropped} more"));
    }
    violations
}

fn not_applicable(relevance: Relevance) -> Option<String> {
    match relevance {
        Relevance::Selected => None,
        Relevance::NotApplicable(why) => Some(why.to_string()),
    }
}

/// `serve`'s verdicts on a terminal, each marked selected or not by `scenario`.
pub fn terminal_verdicts(
    results: &[CheckResult],
    scenario: &CompiledScenario,
) -> Vec<report::Verdict> {
    results
        .iter()
        .map(|result| report::Verdict {
            id: result.check.id().into(),
            title: result.check.title().into(),
            exercised: result.exercised,
            violations: listed(&result.violations, result.violations_dropped),
            incomplete: result.incomplete.clone(),
            not_applicable: not_applicable(selection::terminal_check(scenario, result.check)),
            never_happened: selection::terminal_never_happened(result.check).into(),
        })
        .collect()
}

/// `drive`'s verdicts on a host, each marked selected or not by `scenario`.
pub fn host_verdicts(
    results: &[host_checks::HostCheckResult],
    scenario: &CompiledScenario,
) -> Vec<report::Verdict> {
    results
        .iter()
        .map(|result| report::Verdict {
            id: result.check.id().into(),
            title: result.check.title().into(),
            exercised: result.exercised,
            violations: listed(&result.violations, result.violations_dropped),
            incomplete: None,
            not_applicable: not_applicable(selection::host_check(scenario, result.check)),
            never_happened: selection::host_never_happened(result.check).into(),
        })
        .collect()
}
