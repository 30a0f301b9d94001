//! `possim hunt`: the bug-finding benchmark (`possim_sim::hunt`). Every
//! guard of the certification suite switched on, one at a time, inside a
//! safe scenario, and its seeds run in swarm mode until one fails; prints a
//! Markdown table (guard, first failing seed, seeds and CPU seconds spent,
//! what failed). Exit 0: every guard that applies was found; 1: some guard
//! went unnoticed within the budget; 2: bad input.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use possim_sim::certify::runner::load_suite;
use possim_sim::hunt::{guards_of, hunt, markdown};
use possim_sim::scenario::load::load_simulable;

use super::exit;
use super::frame::InputError;
use super::sweep::parse_range;

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// A safe scenario (one that passes with every guard off).
    pub scenario: PathBuf,
    /// The seeds each guard may use, `A..B`, tried in order.
    #[arg(long, default_value = "0..1000")]
    pub seeds: String,
    /// The run time each guard may spend, in CPU seconds (summed over threads).
    #[arg(long, default_value_t = 600)]
    pub cpu_s_max: u64,
    /// Where the guards come from: a directory of certification cases.
    #[arg(long, default_value = "scenarios/certification")]
    pub cases: PathBuf,
    /// Only guards whose label contains this text (`mutation: take_duplicate`); repeat for more.
    #[arg(long = "guard", value_name = "TEXT")]
    pub guards: Vec<String>,
    /// Worker threads; the machine's cores when absent.
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(args: HuntArgs) -> Result<u8> {
    let input = |error: String| anyhow::anyhow!(InputError(error));
    let (start, end) = parse_range(&args.seeds)?;
    if args.cpu_s_max == 0 {
        bail!(InputError("--cpu-s-max 0: an empty budget finds nothing".into()));
    }
    let scenario = possim_sim::scenario::load::load(&args.scenario)
        .map_err(|error| input(error.to_string()))?;
    // The safe scenario itself must load and be simulable, as `run` asks.
    load_simulable(&args.scenario).map_err(|error| input(error.to_string()))?;
    let cases = load_suite(&args.cases).map_err(|error| input(error.to_string()))?;
    let mut guards = guards_of(&cases);
    if !args.guards.is_empty() {
        guards.retain(|guard| args.guards.iter().any(|text| guard.label().contains(text.as_str())));
        if guards.is_empty() {
            bail!(InputError(format!("no guard matches {:?}", args.guards)));
        }
    }
    // A guard may make a model panic (an assertion of its own); that seed
    // fails and the table says so, and a thousand backtraces say nothing.
    std::panic::set_hook(Box::new(|_| {}));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.jobs.unwrap_or(0)).build()?;
    let mut rows = Vec::new();
    for guard in &guards {
        let row = pool.install(|| hunt(&scenario, guard, start..end, args.cpu_s_max * 1000));
        eprintln!(
            "hunt: {}: {}",
            row.guard,
            row.found.as_ref().map_or("not found".to_string(), |f| format!("seed {}", f.seed))
        );
        rows.push(row);
    }
    let mut out = std::io::stdout().lock();
    write!(out, "{}", markdown(&rows, &(start..end)))?;
    let missed = rows.iter().any(|row| row.error.is_none() && row.found.is_none());
    Ok(if missed { exit::FAIL } else { exit::PASS })
}
