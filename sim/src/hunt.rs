//! The bug-finding benchmark: how soon does swarm mode find a known bug?
//!
//! Each guard of the certification suite (a terminal mutation or an unsafe
//! host policy, `scenario/guard.rs`) is switched on inside a *safe* scenario
//! — one written for ordinary days, not for that bug — and the scenario's
//! seeds run in swarm mode, in order, until one fails. The seeds and the
//! run time spent up to that seed say how good the search is: a guard no
//! seed catches within the budget is a bug swarm mode would ship.
//!
//! Guards that add a fault to a case's plan (`protocol`, `scheduled`) are
//! not bugs and are left out. Seeds run in chunks in parallel; the first
//! failing seed is the lowest of its chunk, so the result does not depend
//! on the number of threads.
//!
//! ```no_run
//! use possim_sim::hunt::{guards_of, hunt};
//! # let scenario: possim_sim::scenario::model::Scenario = todo!();
//! # let cases: Vec<possim_sim::certify::runner::LoadedCase> = todo!();
//! let guards = guards_of(&cases);
//! let row = hunt(&scenario, &guards[0], 0..1_000, 600_000);
//! println!("{}", row.found.map_or("not found".into(), |f| f.seed.to_string()));
//! ```

use std::ops::Range;

use rayon::prelude::*;

use crate::certify::case::Guard;
use crate::certify::guard;
use crate::certify::runner::LoadedCase;
use crate::execute::execute_streamed;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::Scenario;
use crate::world::RunOptions;

/// Seeds run together before looking for a failure among them.
const CHUNK_SEEDS: u64 = 32;

/// The first seed that failed under a guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub seed: u64,
    /// What failed: invariants, healing, or the run itself.
    pub failed: Vec<String>,
}

/// One guard's search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuntRow {
    pub guard: String,
    pub found: Option<Found>,
    /// Seeds run up to and including the first failure (all, if none).
    pub seeds_run: u64,
    /// Run time of those seeds, summed over the threads, in ms.
    pub cpu_ms: u64,
    /// The guard could not be applied to this scenario.
    pub error: Option<String>,
    /// Seeds that failed under the guard and also without it: a bug of
    /// the safe scenario, not the guard's, so the search went on.
    pub safe_failures: Vec<u64>,
}

/// Every distinct bug the suite's cases guard against, in the order first
/// named: the fault-adding guards and the switch's scripted quirks (each
/// bound to one case's terminal and trade) left out.
pub fn guards_of(cases: &[LoadedCase]) -> Vec<Guard> {
    crate::certify::matrix::columns(cases)
        .into_iter()
        .filter(|guard| {
            !guard.settings.iter().any(|setting| {
                matches!(setting.key.as_str(), "protocol" | "scheduled" | "switch.quirks")
            })
        })
        .collect()
}

/// Runs `scenario` with `guard` switched on in swarm mode over `seeds`,
/// until a seed fails or the run time spent passes `cpu_ms_max`.
pub fn hunt(scenario: &Scenario, guard: &Guard, seeds: Range<u64>, cpu_ms_max: u64) -> HuntRow {
    let mut row = HuntRow {
        guard: guard.label(),
        found: None,
        seeds_run: 0,
        cpu_ms: 0,
        error: None,
        safe_failures: Vec::new(),
    };
    let unguarded = Scenario { case: None, ..scenario.clone() };
    let compiled = match guard::apply(scenario, guard).and_then(|guarded| {
        if guarded == unguarded {
            return Err("already so in this scenario".to_string());
        }
        guarded.compile().map_err(|error| format!("{}: {}", error.path, error.message))
    }) {
        Ok(compiled) => compiled,
        Err(error) => {
            row.error = Some(error);
            return row;
        }
    };
    let safe = match scenario.compile() {
        Ok(safe) => safe,
        Err(error) => {
            row.error = Some(format!("{}: {}", error.path, error.message));
            return row;
        }
    };
    let mut start = seeds.start;
    while start < seeds.end && row.cpu_ms < cpu_ms_max {
        let end = seeds.end.min(start + CHUNK_SEEDS);
        let results: Vec<(u64, u64, Vec<String>)> = (start..end)
            .into_par_iter()
            .map(|seed| {
                let started = std::time::Instant::now();
                let failed = failures(&compiled, seed);
                (seed, started.elapsed().as_millis() as u64, failed)
            })
            .collect();
        for (seed, ms, failed) in results {
            row.seeds_run += 1;
            row.cpu_ms += ms;
            if failed.is_empty() {
                continue;
            }
            let started = std::time::Instant::now();
            let safe_failed = failures(&safe, seed);
            row.cpu_ms += started.elapsed().as_millis() as u64;
            if !safe_failed.is_empty() {
                row.safe_failures.push(seed);
                continue;
            }
            row.found = Some(Found { seed, failed });
            return row;
        }
        start = end;
    }
    row
}

/// What failed in `seed` of `compiled` in swarm mode (nothing: it passed).
fn failures(compiled: &CompiledScenario, seed: u64) -> Vec<String> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        execute_streamed(compiled, &RunOptions { seed, swarm: true })
    }));
    match outcome {
        Ok(Ok(report)) => report.failed(),
        Ok(Err(error)) => vec![format!("run-error: {error}")],
        Err(_) => vec!["panic".into()],
    }
}

/// The table: one row per guard, then how many were found.
pub fn markdown(rows: &[HuntRow], seeds: &Range<u64>) -> String {
    let mut out = String::from(
        "| guard (the bug switched on) | first failing seed | seeds run | CPU s | what failed | failing without it too |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let (seed, failed) = match (&row.found, &row.error) {
            (_, Some(error)) => ("does not apply".to_string(), error.clone()),
            (Some(found), None) => (found.seed.to_string(), found.failed.join(", ")),
            (None, None) => ("**not found**".to_string(), String::new()),
        };
        let safe: Vec<String> = row.safe_failures.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "| `{}` | {seed} | {} | {}.{} | {failed} | {} |\n",
            row.guard,
            row.seeds_run,
            row.cpu_ms / 1000,
            row.cpu_ms % 1000 / 100,
            safe.join(" ")
        ));
    }
    let found = rows.iter().filter(|row| row.found.is_some()).count();
    let applied = rows.iter().filter(|row| row.error.is_none()).count();
    out.push_str(&format!(
        "\n{found} of {applied} bugs found within seeds {}..{}\n",
        seeds.start, seeds.end
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(found: Option<u64>, error: Option<&str>) -> HuntRow {
        HuntRow {
            guard: "mutation: x".into(),
            found: found.map(|seed| Found { seed, failed: vec!["no-double-debit".into()] }),
            seeds_run: 3,
            cpu_ms: 1_500,
            error: error.map(str::to_owned),
            safe_failures: vec![7],
        }
    }

    #[test]
    fn the_table_counts_only_guards_found_among_those_that_apply() {
        let rows = [row(Some(2), None), row(None, None), row(None, Some("unknown field"))];
        let table = markdown(&rows, &(0..10));
        assert!(table.contains("| `mutation: x` | 2 | 3 | 1.5 | no-double-debit | 7 |"));
        assert!(table.contains("**not found**"));
        assert!(table.contains("does not apply"));
        assert!(table.ends_with("1 of 2 bugs found within seeds 0..10\n"));
    }
}
