//! `possim shrink`: from one failing run, a scenario that fails the same
//! invariant with as little as possible, and replays without the seed.
//!
//! 1. Run the seed; pick the invariant (the first expected one it breaks,
//!    else the first it breaks).
//! 2. [`explicit`]: write the run's randomness down (scripted trades,
//!    scheduled and placed faults); check it still fails, else keep the
//!    seed's randomness and say so.
//! 3. [`reduce`]: drop what is not needed, each cut kept only if the run
//!    still fails that invariant, within a bound on candidate runs.
//! 4. [`yaml`]: write it with a header; [`size`] measures before and after;
//!    [`safe`] switches the unsafe policies off for the counter-check.
//!
//! ```no_run
//! use possim_sim::shrink::{shrink, ShrinkOptions};
//! let text = std::fs::read_to_string("scenarios/variants/cashier_retry.yaml").unwrap();
//! let options = ShrinkOptions { seed: 0, ..ShrinkOptions::default() };
//! let shrunk = shrink(&text, "cashier_retry.yaml", &options).unwrap();
//! assert!(shrunk.after.bytes < shrunk.before.bytes);
//! ```

pub mod explicit;
pub mod reduce;
pub mod safe;
pub mod size;
pub mod yaml;

use std::time::Duration;

use crate::execute::{execute, RunReport};
use crate::scenario::error::ScenarioError;
use crate::scenario::load::{parse, parse_and_compile};
use crate::scenario::model::{Expectations, Scenario};
use crate::world::{RunError, RunOptions};

use self::explicit::Converted;
use self::reduce::Oracle;
use self::size::Size;

/// Candidate runs at most, by default.
pub const RUNS_MAX_DEFAULT: usize = 400;
/// Seeds a shrunk repro is checked on, beside the one it came from.
pub const CHECK_SEEDS: u64 = 3;

#[derive(Debug, Clone)]
pub struct ShrinkOptions {
    pub seed: u64,
    pub swarm: bool,
    /// Candidate runs at most.
    pub runs_max: usize,
    /// The invariant to keep failing; by default the first expected one the
    /// run breaks, else the first it breaks.
    pub invariant: Option<String>,
    /// The command that made it, for the header.
    pub command: String,
}

impl Default for ShrinkOptions {
    fn default() -> ShrinkOptions {
        ShrinkOptions {
            seed: 0,
            swarm: false,
            runs_max: RUNS_MAX_DEFAULT,
            invariant: None,
            command: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("seed {seed} passes: there is no failure to shrink")]
    Passes { seed: u64 },
    #[error("seed {seed} does not fail {invariant} (it fails: {failed})")]
    OtherFailure { seed: u64, invariant: String, failed: String },
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
}

#[derive(Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// The repro file, header included.
    pub yaml: String,
    pub invariant: String,
    pub before: Size,
    pub after: Size,
    /// Whether the written-down run still failed (else the seed's
    /// randomness was kept).
    pub explicit: bool,
    pub converted: Converted,
    pub latency_pinned: bool,
    /// Candidate runs made, and the bound.
    pub runs: usize,
    pub runs_max: usize,
    /// Each checked seed and whether the repro fails the invariant on it.
    pub seeds: Vec<(u64, bool)>,
    /// The unsafe policies switched off for the counter-check, and whether
    /// the repro then holds the invariant (None: it had no unsafe policy).
    /// Other invariants may still fail: a lost refund answer, say, is not
    /// reversible under any policy.
    pub safe_policies: Vec<String>,
    pub passes_when_safe: Option<bool>,
    pub wall: Duration,
}

fn run_text(text: &str, file: &str, seed: u64, swarm: bool) -> Result<RunReport, ShrinkError> {
    let compiled = parse_and_compile(text, file)?;
    Ok(execute(&compiled, &RunOptions { seed, swarm })?)
}

/// What the shrunk scenario expects: the kept invariant, and as consequences
/// everything else the original said its policy breaks, so a sweep of the
/// repro fails only on what the original did not list either.
fn expectations(original: &Expectations, invariant: &str) -> Expectations {
    let also = original
        .violates
        .iter()
        .chain(&original.also_violates)
        .filter(|name| name.as_str() != invariant)
        .fold(Vec::<String>::new(), |mut also, name| {
            if !also.contains(name) {
                also.push(name.clone());
            }
            also
        });
    Expectations {
        violates: vec![invariant.to_string()],
        also_violates: also,
        placed_may_miss: original.placed_may_miss,
        exercises_nothing: original.exercises_nothing,
    }
}

/// Shrinks the failing run of `text` (the scenario file `file`) at `options.seed`.
pub fn shrink(text: &str, file: &str, options: &ShrinkOptions) -> Result<Shrunk, ShrinkError> {
    let started = std::time::Instant::now();
    let original = parse(text, file)?;
    let report = run_text(text, file, options.seed, options.swarm)?;
    let failed = report.failed();
    if failed.is_empty() {
        return Err(ShrinkError::Passes { seed: options.seed });
    }
    let invariant = match &options.invariant {
        Some(name) => name.clone(),
        None => original
            .expect
            .violates
            .iter()
            .find(|name| failed.contains(name))
            .unwrap_or(&failed[0])
            .clone(),
    };
    if !failed.contains(&invariant) {
        return Err(ShrinkError::OtherFailure {
            seed: options.seed,
            invariant,
            failed: failed.join(", "),
        });
    }
    let before = Size::of(&original, yaml::bytes_without_comments(text), &report.trace);
    let mut oracle = Oracle {
        invariant: invariant.clone(),
        seed: options.seed,
        runs: 0,
        runs_max: options.runs_max.max(1),
        safe_must_hold: false,
    };

    let (mut written, converted) = explicit::explicitise(&original, &report.trace, options.seed);
    // Swarm mode's placements that landed are written down with the rest
    // (one that never landed placed nothing, and written down it would
    // fail the repro as a placed fault missed).
    let drawn_placed = report.placed.iter().filter(|placed| placed.drawn);
    let landed = report.drawn.iter().zip(drawn_placed).filter(|(_, placed)| placed.landed());
    written.faults.protocol.extend(landed.map(|(fault, _)| fault.clone()));
    written.expect = expectations(&original.expect, &invariant);
    written.name = format!("{}-shrunk", original.name);
    let explicit = oracle.fails(&written);
    // When the written-down run holds the invariant with its unsafe
    // policies off, every cut must keep it that way.
    let mut safe_written = written.clone();
    if explicit && !safe::make_safe(&mut safe_written).is_empty() {
        let holds = oracle.run(&safe_written).is_some_and(|r| !r.failed().contains(&invariant));
        oracle.safe_must_hold = holds;
    }
    if !explicit {
        // Keep the seed's own randomness: groups expanded, nothing else.
        written = explicit::expand_groups(&original);
        written.name = format!("{}-shrunk", original.name);
        written.run.seed = options.seed;
        written.expect = expectations(&original.expect, &invariant);
    }
    // Swarm faults, once written down, replay without --swarm too.
    let (scenario, reduced) = if explicit {
        reduce::reduce(written, &mut oracle)
    } else {
        (written, reduce::Reduced::default())
    };

    let probe = |seed: u64| Oracle {
        invariant: invariant.clone(),
        seed,
        runs: 0,
        runs_max: 0,
        safe_must_hold: false,
    };
    let mut seeds = Vec::new();
    let mut final_report = None;
    let others = (0..CHECK_SEEDS).filter(|seed| *seed != options.seed);
    for seed in std::iter::once(options.seed).chain(others) {
        let run = probe(seed).run(&scenario);
        seeds.push((seed, run.as_ref().is_some_and(|r| r.failed().contains(&invariant))));
        if final_report.is_none() {
            final_report = run;
        }
    }
    let mut safe = scenario.clone();
    let safe_policies = safe::make_safe(&mut safe);
    let passes_when_safe = if safe_policies.is_empty() {
        None
    } else {
        Some(probe(options.seed).run(&safe).is_some_and(|r| !r.failed().contains(&invariant)))
    };

    let header = header(&original, file, options, &invariant, explicit);
    let yaml = yaml::to_yaml(&scenario, &header)?;
    let after = match &final_report {
        Some(report) => Size::of(&scenario, yaml::bytes_without_comments(&yaml), &report.trace),
        None => Size::of(&scenario, yaml::bytes_without_comments(&yaml), &Default::default()),
    };
    Ok(Shrunk {
        scenario,
        yaml,
        invariant,
        before,
        after,
        explicit,
        converted,
        latency_pinned: reduced.latency_pinned,
        runs: oracle.runs,
        runs_max: oracle.runs_max,
        seeds,
        safe_policies,
        passes_when_safe,
        wall: started.elapsed(),
    })
}

fn header(
    original: &Scenario,
    file: &str,
    options: &ShrinkOptions,
    invariant: &str,
    explicit: bool,
) -> Vec<String> {
    let mut lines = vec![
        format!("Shrunk repro: fails {invariant}."),
        format!(
            "From {file} ({}), seed {}{}.",
            original.name,
            options.seed,
            if options.swarm { " in swarm mode" } else { "" }
        ),
    ];
    if explicit {
        lines.push("Every trade and fault is written down: it fails on any seed.".into());
    } else {
        lines.push(format!(
            "The written-down run did not fail: this keeps the seed's randomness (seed {}).",
            options.seed
        ));
    }
    if !options.command.is_empty() {
        lines.push(format!("Made by: {}", options.command));
    }
    lines
}

#[cfg(test)]
mod expectation_tests {
    use super::*;

    #[test]
    fn a_repro_keeps_one_invariant_and_lists_the_rest_as_consequences() {
        let original = Expectations {
            violates: vec!["every-unanswered-trade-reversed".into()],
            also_violates: vec!["no-double-debit".into(), "conservation".into()],
            placed_may_miss: false,
            exercises_nothing: false,
        };
        let written = expectations(&original, "no-double-debit");
        assert_eq!(written.violates, vec!["no-double-debit".to_string()]);
        assert_eq!(
            written.also_violates,
            vec!["every-unanswered-trade-reversed".to_string(), "conservation".to_string()]
        );
    }
}
