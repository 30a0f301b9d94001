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
pub mod terminal_checks;

use terminal_checks::CheckResult;

impl From<&CheckResult> for report::Verdict {
    fn from(result: &CheckResult) -> report::Verdict {
        let mut violations = result.violations.clone();
        if result.violations_dropped > 0 {
            violations.push(format!("... and {} more", result.violations_dropped));
        }
        report::Verdict {
            id: result.check.id().into(),
            title: result.check.title().into(),
            exercised: result.exercised,
            violations,
            incomplete: result.incomplete.clone(),
        }
    }
}

impl From<&host_checks::HostCheckResult> for report::Verdict {
    fn from(result: &host_checks::HostCheckResult) -> report::Verdict {
        let mut violations = result.violations.clone();
        if result.violations_dropped > 0 {
            violations.push(format!("... and {} more", result.violations_dropped));
        }
        report::Verdict {
            id: result.check.id().into(),
            title: result.check.title().into(),
            exercised: result.exercised,
            violations,
            incomplete: None,
        }
    }
}
