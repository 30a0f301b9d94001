//! What the run's schedule will hold, checked before the run: the runner
//! plans at its start every scripted trade, command and fault, every
//! periodic settlement, one arrival per terminal, and the random line and
//! swarm episodes, into one schedule bounded by
//! [`SCHEDULE_ENTRIES_MAX`](super::bounds::SCHEDULE_ENTRIES_MAX). A
//! scenario asking for more (`settle_every_ms: 1` over a day, a line with a
//! billion blackholes an hour) stopped the run with the schedule's
//! assertion; it is refused here, at the field that asks most.
//!
//! The random episodes are counted at their expected number (rate ×
//! hours), and refused past half the bound, so that chance cannot carry a
//! run that passed this check over it: the count is Poisson, and at any
//! mean that fits, twice the mean is out of reach.

// Rates are per hour and fractional in the scenario; this only estimates a
// count to refuse or accept the file, and nothing it computes reaches the
// simulation.
#![allow(clippy::float_arithmetic)]

use super::bounds::{self, SCHEDULE_ENTRIES_MAX};
use super::error::{CompileError, FieldPath};
use super::model::{LineProfile, Scenario};

/// Refuses a scenario whose planned schedule is past the bound.
/// `terminal_links`: each terminal's line profile, by name.
pub(crate) fn check(
    scenario: &Scenario,
    terminal_links: &[(&str, &LineProfile)],
) -> Result<(), CompileError> {
    let terminals = terminal_links.len() as f64;
    let safety_ms = scenario.run.safety_ms as f64;
    let hours = safety_ms / 3_600_000.0;
    let cashier = &scenario.workload.cashier;
    let settles_per_terminal =
        if cashier.settle_every_ms == 0 { 0.0 } else { safety_ms / cashier.settle_every_ms as f64 };
    let fixed = (scenario.workload.script.len()
        + scenario.workload.commands.len()
        + scenario.faults.scheduled.len()) as f64
        + terminals * (2.0 + settles_per_terminal);
    let swarm = &scenario.faults.swarm;
    let swarm_per_terminal = swarm.blackholes_per_hour[1]
        + swarm.resets_per_hour[1]
        + swarm.power_cuts_per_hour[1]
        + swarm.printer_faults_per_hour[1];
    let random: f64 = terminal_links
        .iter()
        .map(|(_, link)| {
            (link.blackholes_per_hour + link.resets_per_hour + swarm_per_terminal) * hours
        })
        .sum::<f64>()
        + (swarm.partitions_per_hour[1] + swarm.switch_crashes_per_hour[1]) * hours;
    let bound = SCHEDULE_ENTRIES_MAX as f64;
    if fixed + 2.0 * random <= bound {
        return Ok(());
    }
    // Name the field that asks most.
    let settles = terminals * settles_per_terminal;
    let path = if settles >= random && settles >= fixed / 2.0 {
        FieldPath::root().key("workload").key("cashier").key("settle_every_ms")
    } else if random >= fixed {
        random_path(terminal_links, swarm_per_terminal)
    } else {
        FieldPath::root().key("workload")
    };
    let planned = (fixed + random).min(u64::MAX as f64) as u64;
    Err(CompileError::new(
        path,
        format!(
            "{}; random episodes count twice, for their spread",
            bounds::over(
                "the run's planned schedule (scripted, periodic and random entries)",
                planned,
                "SCHEDULE_ENTRIES_MAX",
                SCHEDULE_ENTRIES_MAX as u64
            )
        ),
    ))
}

/// The line rate that asks most, or the swarm's bounds.
fn random_path(terminal_links: &[(&str, &LineProfile)], swarm_per_terminal: f64) -> FieldPath {
    let busiest = terminal_links.iter().max_by(|(_, a), (_, b)| {
        let rate = |link: &LineProfile| link.blackholes_per_hour + link.resets_per_hour;
        rate(a).total_cmp(&rate(b))
    });
    match busiest {
        Some((name, link))
            if link.blackholes_per_hour + link.resets_per_hour >= swarm_per_terminal =>
        {
            let key = if link.blackholes_per_hour >= link.resets_per_hour {
                "blackholes_per_hour"
            } else {
                "resets_per_hour"
            };
            FieldPath::root().key("links").key(name).key(key)
        }
        _ => FieldPath::root().key("faults").key("swarm"),
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::fixtures::ONE_TERMINAL as BASE;
    use crate::scenario::parse_and_compile;

    /// Regression (found by the hostile-input corpus): `settle_every_ms: 1`
    /// passed the loader and stopped the run with "schedule over 1000000".
    #[test]
    fn settling_every_millisecond_is_refused_at_settle_every_ms() {
        let text = format!(
            "{BASE}run: {{safety_ms: 3600000}}\nworkload:\n  cashier: {{settle_every_ms: 1}}\n"
        );
        let error = parse_and_compile(&text, "t.yaml").unwrap_err();
        assert_eq!(error.line, 8, "{}", error.headline());
        assert!(error.message.contains("SCHEDULE_ENTRIES_MAX = 1000000"), "{}", error.message);
    }

    #[test]
    fn a_line_with_a_billion_blackholes_an_hour_is_refused_at_links() {
        let text = format!(
            "{}links:\n  bad: {{blackholes_per_hour: 1000000000}}\n",
            BASE.replace("tmk: 0123456789ABCDEF}", "tmk: 0123456789ABCDEF, link: bad}")
        );
        let error = parse_and_compile(&text, "t.yaml").unwrap_err();
        assert_eq!((error.line, error.column), (7, 30), "{}", error.headline());
    }

    #[test]
    fn a_busy_day_fits() {
        let text = format!("{BASE}run: {{safety_ms: 36000000}}\nworkload:\n  cashier: {{settle_every_ms: 60000}}\n");
        parse_and_compile(&text, "t.yaml").unwrap();
    }
}
