//! `possim explore`: coverage-guided exploration (`possim_sim::explore`).
//! Keeps a corpus of inputs (a world seed and placed faults) that reached
//! new coverage, derives new ones from them, and stops at the first failing
//! run: it writes that run as a scenario (the repro line replays it) and
//! shrinks it. With `--corpus DIR` the corpus is read first and saved after
//! each generation, so the next session continues. Exit 0: nothing failed
//! within the budget; 1: a run failed; 2: bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use possim_sim::coverage::universe_cells;
use possim_sim::explore::{corpus, explore, scenario_with, Failure, Options};
use possim_sim::scenario::load::{parse, parse_simulable, read_text};
use possim_sim::scenario::model::Scenario;
use possim_sim::shrink::{shrink, yaml::to_yaml, ShrinkOptions, RUNS_MAX_DEFAULT};

use super::exit;
use super::frame::input;

#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// The scenario to explore (a safe one: every run of it should pass).
    pub scenario: PathBuf,
    /// Runs at most in this session.
    #[arg(long, value_name = "N")]
    pub budget_runs: Option<u64>,
    /// Run time at most in this session, in CPU seconds summed over the
    /// threads (checked between generations of 16 runs).
    #[arg(long, value_name = "S")]
    pub budget_cpu_s: Option<u64>,
    /// The explore seed: the same seed, corpus and budget in runs make the
    /// same runs and findings.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The corpus directory: read first if it holds one, saved after each
    /// generation.
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Where a failure's repro and shrunk scenario go (default: the corpus
    /// directory, else the current one).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run the inputs in swarm mode (the seed's drawn rates and placements
    /// on top of the input's faults).
    #[arg(long)]
    pub swarm: bool,
    /// Candidate runs the shrinker may make; 0: do not shrink.
    #[arg(long, default_value_t = RUNS_MAX_DEFAULT)]
    pub shrink_runs_max: usize,
    /// Worker threads; the machine's cores when absent.
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(args: ExploreArgs) -> Result<u8> {
    match (args.budget_runs, args.budget_cpu_s) {
        (None, None) => {
            return Err(input("no budget: give --budget-runs N and/or --budget-cpu-s S"))
        }
        (Some(0), _) => return Err(input("--budget-runs 0: an empty budget explores nothing")),
        (_, Some(0)) => return Err(input("--budget-cpu-s 0: an empty budget explores nothing")),
        _ => {}
    }
    let file = args.scenario.display().to_string();
    let text = read_text(&args.scenario)
        .map_err(|reason| input(format!("{file}: cannot read the scenario: {reason}")))?;
    parse_simulable(&text, &file).map_err(input)?;
    let scenario = parse(&text, &file).map_err(input)?;
    let mut corpus = match &args.corpus {
        Some(dir) => corpus::load(dir, &scenario.name).map_err(input)?,
        None => {
            possim_sim::explore::Corpus { scenario: scenario.name.clone(), ..Default::default() }
        }
    };
    let (entries_before, runs_before) = (corpus.entries.len(), corpus.runs);
    let options = Options {
        seed: args.seed,
        runs_max: args.budget_runs,
        cpu_ms_max: args.budget_cpu_s.map(|s| s.saturating_mul(1000)),
        swarm: args.swarm,
    };
    // A run that makes a model panic fails, and says so once.
    std::panic::set_hook(Box::new(|_| {}));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.jobs.unwrap_or(0)).build()?;
    let threads = pool.current_num_threads();
    let started = Instant::now();
    let mut save_error = None;
    let explored = pool
        .install(|| {
            explore(&scenario, &mut corpus, &options, |corpus, _| {
                if let Some(dir) = &args.corpus {
                    if let Err(error) = corpus::save(dir, corpus) {
                        save_error.get_or_insert(error);
                    }
                }
            })
        })
        .map_err(|error| input(format!("{file}: {error}")))?;
    let wall = started.elapsed();
    if let Some(error) = save_error {
        return Err(input(error));
    }

    let reached = corpus.reached();
    let universe = universe_cells();
    let known = reached.iter().filter(|cell| universe.contains(*cell)).count();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "explore   {file} seed {}: {} runs{}, {} kept{}",
        args.seed,
        explored.runs,
        if runs_before > 0 { format!(" (corpus had {runs_before})") } else { String::new() },
        explored.kept,
        if explored.refused > 0 {
            format!(", {} refused by the scenario", explored.refused)
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "corpus    {} entries ({} before), {} cells: {known} of {} in the universe, {} beyond it",
        corpus.entries.len(),
        entries_before,
        reached.len(),
        universe.len(),
        reached.len() - known
    )?;
    // Whole tenths, in integers: the timing line is the one line that
    // differs between two sessions of the same command.
    let wall_ms = (wall.as_millis() as u64).max(1);
    let per_10s = explored.runs * 10_000 / wall_ms;
    writeln!(
        out,
        "wall      {}.{} s, {}.{} runs/s on {threads} threads ({}.{} CPU s)",
        wall_ms / 1000,
        wall_ms % 1000 / 100,
        per_10s / 10,
        per_10s % 10,
        explored.cpu_ms / 1000,
        explored.cpu_ms % 1000 / 100
    )?;
    let Some(failure) = &explored.failure else {
        writeln!(out, "found     nothing")?;
        return Ok(exit::PASS);
    };
    let dir = args.out.clone().or(args.corpus.clone()).unwrap_or_else(|| PathBuf::from("."));
    report_failure(&mut out, &args, &scenario, &file, failure, &dir)?;
    Ok(exit::FAIL)
}

fn report_failure(
    out: &mut impl Write,
    args: &ExploreArgs,
    scenario: &Scenario,
    file: &str,
    failure: &Failure,
    dir: &Path,
) -> Result<()> {
    let seed = failure.input.seed;
    writeln!(
        out,
        "FAILED    run {} (seed {seed}, {} placed faults): {}",
        failure.run,
        failure.input.faults.len(),
        failure.failed.join(", ")
    )?;
    std::fs::create_dir_all(dir)
        .map_err(|error| input(format!("{}: cannot write: {error}", dir.display())))?;
    let stem = format!("{}-explore-seed{seed}", scenario.name);
    let repro_path = dir.join(format!("{stem}.yaml"));
    let swarm = if args.swarm { " --swarm" } else { "" };
    let header = vec![
        format!("Found by possim explore {file} --seed {} (run {}).", args.seed, failure.run),
        format!("Fails {}.", failure.failed.join(", ")),
        format!(
            "The scenario with the run's {} placed faults appended.",
            failure.input.faults.len()
        ),
    ];
    let repro = scenario_with(scenario, &failure.input);
    let text = to_yaml(&repro, &header).map_err(input)?;
    std::fs::write(&repro_path, &text)
        .map_err(|error| input(format!("{}: cannot write: {error}", repro_path.display())))?;
    let repro_file = repro_path.display().to_string();
    writeln!(out, "repro     possim replay {repro_file} --seed {seed}{swarm}")?;
    if args.shrink_runs_max == 0 {
        return Ok(());
    }
    let shrunk_path = dir.join(format!("{stem}-shrunk.yaml"));
    let options = ShrinkOptions {
        seed,
        swarm: args.swarm,
        runs_max: args.shrink_runs_max,
        invariant: None,
        command: format!(
            "possim shrink {repro_file} --seed {seed}{swarm} --out {}",
            shrunk_path.display()
        ),
    };
    match shrink(&text, &repro_file, &options) {
        Ok(shrunk) => {
            std::fs::write(&shrunk_path, &shrunk.yaml).map_err(|error| {
                input(format!("{}: cannot write: {error}", shrunk_path.display()))
            })?;
            let seeds: Vec<String> = shrunk
                .seeds
                .iter()
                .map(|(seed, fails)| format!("{seed} {}", if *fails { "fails" } else { "PASSES" }))
                .collect();
            writeln!(
                out,
                "shrunk    {} ({}: {} -> {} bytes in {} runs; seeds {})",
                shrunk_path.display(),
                shrunk.invariant,
                shrunk.before.bytes,
                shrunk.after.bytes,
                shrunk.runs,
                seeds.join(", ")
            )?;
        }
        Err(error) => writeln!(out, "shrunk    not made: {error}")?,
    }
    Ok(())
}
