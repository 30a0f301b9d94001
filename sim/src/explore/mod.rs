//! Coverage-guided exploration: `possim explore`.
//!
//! An input is a world seed and a list of placed protocol faults, written
//! as a scenario's `faults.protocol` entries ([`mutate::Input`]). It runs as
//! the scenario with those faults appended (and `expect.placed_may_miss`,
//! since a moved fault may name a trade the seed never reaches); what it
//! reached is the set of coverage cells `--coverage` counts
//! ([`crate::coverage::cells`]: phases, faults by phase, answer codes,
//! events, reversal reasons, settlements, trade kinds, transitions). An
//! input that reached a cell no corpus entry reached joins the corpus.
//!
//! Runs go in generations of [`GENERATION`]. Each child of generation `g`,
//! index `i`, is derived from the explore seed, `g` and `i` only (its own
//! random stream) and the corpus as it stood when `g` began: a fresh draw
//! now and then, else a parent picked by weight — the rarer the cells it
//! holds, the heavier — and mutated ([`mutate::mutate`]). A generation's
//! children run in parallel; their results are taken in index order, so
//! the corpus and the first failure do not depend on the threads. The
//! first child whose run fails stops the exploration (`exercised-nothing`
//! is no failure here: a fault that keeps every trade from the issuers is
//! a dull input, not a finding).
//!
//! ```no_run
//! use possim_sim::explore::{explore, Corpus, Options};
//! # let scenario: possim_sim::scenario::model::Scenario = todo!();
//! let mut corpus = Corpus { scenario: scenario.name.clone(), ..Corpus::default() };
//! let options = Options { seed: 0, runs_max: Some(200), ..Options::default() };
//! let explored = explore(&scenario, &mut corpus, &options, |_, _| {}).unwrap();
//! println!("{} runs, {} entries", explored.runs, corpus.entries.len());
//! ```

pub mod corpus;
pub mod mutate;

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::coverage::{cells, Coverage};
use crate::execute::{execute, EXERCISED_NOTHING};
use crate::rng::Streams;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::Scenario;
use crate::world::RunOptions;

pub use mutate::Input;

/// Children per generation: fixed, so the derivation does not depend on
/// the number of threads.
pub const GENERATION: u64 = 16;
/// The chance a child is a fresh draw rather than a parent's mutation.
const FRESH: f64 = 0.1;
/// A cell held by one entry weighs this much in its parent's weight; held
/// by `n`, this over `n²`.
const RARE_WEIGHT: u64 = 1_000_000;

/// One input kept: it reached a cell no entry before it had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The run that made it, counted from the corpus's first (0-based).
    pub run: u64,
    pub input: Input,
    /// The cells it was first to reach.
    pub new: Vec<String>,
    /// Every cell it reached.
    pub cells: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    /// The scenario's name: a corpus belongs to one.
    pub scenario: String,
    pub entries: Vec<Entry>,
    /// Generations and runs made so far, over every session.
    pub generations: u64,
    pub runs: u64,
}

impl Corpus {
    /// Every cell some entry reached.
    pub fn reached(&self) -> BTreeSet<String> {
        self.entries.iter().flat_map(|entry| entry.cells.iter().cloned()).collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The explore seed: children derive from it.
    pub seed: u64,
    /// Runs at most in this session.
    pub runs_max: Option<u64>,
    /// Run time at most in this session, summed over the threads, in ms;
    /// checked between generations.
    pub cpu_ms_max: Option<u64>,
    /// Run the inputs in swarm mode (the seed's drawn rates and placements
    /// on top of the input's).
    pub swarm: bool,
}

/// The first failing run.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub run: u64,
    pub input: Input,
    pub failed: Vec<String>,
}

/// What one session did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explored {
    /// Runs made, up to and including the failing one.
    pub runs: u64,
    /// Entries this session added.
    pub kept: usize,
    /// Inputs the scenario refused (a fault it cannot take): no run.
    pub refused: u64,
    pub cpu_ms: u64,
    pub failure: Option<Failure>,
}

/// `base` with `input`'s faults appended and its seed as the run's.
pub fn scenario_with(base: &Scenario, input: &Input) -> Scenario {
    let mut scenario = base.clone();
    scenario.faults.protocol.extend(input.faults.iter().cloned());
    scenario.expect.placed_may_miss = true;
    scenario.run.seed = input.seed;
    scenario
}

/// What one run gave: its cells and what failed, or the scenario refused it.
enum Outcome {
    Ran { cells: BTreeSet<String>, failed: Vec<String> },
    Refused,
}

fn evaluate(base: &Scenario, input: &Input, swarm: bool) -> Outcome {
    let Ok(compiled) = scenario_with(base, input).compile() else {
        return Outcome::Refused;
    };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        execute(&compiled, &RunOptions { seed: input.seed, swarm })
    }));
    match run {
        Ok(Ok(report)) => {
            // Faults that keep every trade from an issuer (a blackhole, a
            // power cut, swarm mode's rates) leave the invariants nothing to
            // judge: no finding, and no reason to stop.
            let mut failed = report.failed();
            failed.retain(|name| name != EXERCISED_NOTHING);
            Outcome::Ran { cells: cells(&Coverage::of_run(&report)), failed }
        }
        Ok(Err(error)) => {
            Outcome::Ran { cells: BTreeSet::new(), failed: vec![format!("run-error: {error}")] }
        }
        Err(_) => Outcome::Ran { cells: BTreeSet::new(), failed: vec!["panic".into()] },
    }
}

/// Each entry's weight as a parent: the rarer its cells, the heavier.
fn weights(corpus: &Corpus) -> Vec<u32> {
    let mut holders: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in &corpus.entries {
        for cell in &entry.cells {
            *holders.entry(cell.as_str()).or_default() += 1;
        }
    }
    corpus
        .entries
        .iter()
        .map(|entry| {
            let weight: u64 =
                entry.cells.iter().map(|cell| RARE_WEIGHT / holders[cell.as_str()].pow(2)).sum();
            weight.clamp(1, u64::from(u32::MAX / 1024)) as u32
        })
        .collect()
}

/// Child `index` of generation `generation`.
fn child(
    compiled: &CompiledScenario,
    base_seed: u64,
    corpus: &Corpus,
    weights: &[u32],
    seed: u64,
    generation: u64,
    index: u64,
) -> Input {
    if corpus.entries.is_empty() && index == 0 {
        // The scenario as written: what every later run is measured against.
        return Input { seed: base_seed, faults: Vec::new() };
    }
    let mut rng = Streams::new(seed).stream(&format!("explore {generation} {index}"));
    match rng.weighted(weights) {
        Some(parent) if !rng.chance(FRESH) => {
            mutate::mutate(compiled, &corpus.entries[parent].input, &mut rng)
        }
        _ => mutate::fresh(compiled, &mut rng),
    }
}

/// Explores `base` from `corpus` within the budget of `options`, adding to
/// `corpus`; `after_generation` sees the corpus after each generation (to
/// save it, or print progress). Errs when `base` does not compile.
pub fn explore(
    base: &Scenario,
    corpus: &mut Corpus,
    options: &Options,
    mut after_generation: impl FnMut(&Corpus, &Explored),
) -> Result<Explored, String> {
    let compiled = base.compile().map_err(|error| format!("{}: {}", error.path, error.message))?;
    let mut explored = Explored::default();
    let mut reached = corpus.reached();
    loop {
        let runs_left = options.runs_max.map_or(GENERATION, |max| max - explored.runs);
        let cpu_left = options.cpu_ms_max.is_none_or(|max| explored.cpu_ms < max);
        if runs_left == 0 || !cpu_left {
            break;
        }
        let generation = corpus.generations;
        let weights = weights(corpus);
        let children: Vec<Input> = (0..GENERATION.min(runs_left))
            .map(|index| {
                child(&compiled, base.run.seed, corpus, &weights, options.seed, generation, index)
            })
            .collect();
        let outcomes: Vec<(u64, Outcome)> = children
            .par_iter()
            .map(|input| {
                let started = std::time::Instant::now();
                let outcome = evaluate(base, input, options.swarm);
                (started.elapsed().as_millis() as u64, outcome)
            })
            .collect();
        corpus.generations += 1;
        for (input, (ms, outcome)) in children.into_iter().zip(outcomes) {
            let run = corpus.runs;
            corpus.runs += 1;
            explored.runs += 1;
            explored.cpu_ms += ms;
            let Outcome::Ran { cells, failed } = outcome else {
                explored.refused += 1;
                continue;
            };
            if !failed.is_empty() {
                explored.failure = Some(Failure { run, input, failed });
                after_generation(corpus, &explored);
                return Ok(explored);
            }
            let new: Vec<String> = cells.difference(&reached).cloned().collect();
            if new.is_empty() {
                continue;
            }
            reached.extend(new.iter().cloned());
            corpus.entries.push(Entry { run, input, new, cells: cells.into_iter().collect() });
            explored.kept += 1;
        }
        after_generation(corpus, &explored);
    }
    Ok(explored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cells: &[&str]) -> Entry {
        Entry {
            run: 0,
            input: Input { seed: 0, faults: Vec::new() },
            new: Vec::new(),
            cells: cells.iter().map(|cell| cell.to_string()).collect(),
        }
    }

    #[test]
    fn an_entry_holding_a_rare_cell_weighs_more() {
        let corpus = Corpus {
            entries: vec![entry(&["a", "b"]), entry(&["a", "b"]), entry(&["a", "c"])],
            ..Corpus::default()
        };
        let weights = weights(&corpus);
        assert_eq!(weights[0], weights[1]);
        assert!(weights[2] > weights[0] * 2, "{weights:?}");
    }
}
