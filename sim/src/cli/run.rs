//! `possim run` and `possim replay`: one seed of one scenario.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use possim_sim::execute::{execute, execute_streamed, RunReport};
use possim_sim::report::{self, TradeAsk};
use possim_sim::scenario::load::load_simulable;
use possim_sim::world::RunOptions;

use super::exit;
use super::frame::InputError;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed; the scenario's own when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Draw this seed's fault rates within the scenario's swarm bounds.
    #[arg(long)]
    pub swarm: bool,
    /// Write the run's report into this directory: report.html, summary.md,
    /// junit.xml, trace.jsonl (docs/REPORTS.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Chart this trade in report.html too, as TERMINAL:STAN (repeatable;
    /// needs --out).
    #[arg(long = "trade", value_name = "TERMINAL:STAN")]
    pub trades: Vec<String>,
    /// Write the full trace as JSON Lines (to --out, else to stdout).
    #[arg(long)]
    pub trace: bool,
    /// Run the seed twice and fail if the trace hashes differ.
    #[arg(long)]
    pub check_determinism: bool,
    /// Also list what the run reached, and what it never reached.
    #[arg(long)]
    pub coverage: bool,
    #[command(flatten)]
    pub logs: super::logs::LogArgs,
}

pub(crate) fn load(path: &Path) -> Result<possim_sim::scenario::compile::CompiledScenario> {
    load_simulable(path).map_err(|error| anyhow::anyhow!(InputError(error.to_string())))
}

pub(crate) fn print_report(
    out: &mut impl Write,
    report: &RunReport,
    scenario: &Path,
) -> Result<()> {
    writeln!(
        out,
        "scenario  {} seed {}{}",
        report.scenario,
        report.seed,
        if report.swarm { " (swarm)" } else { "" }
    )?;
    writeln!(out, "{}", report.summary)?;
    if let Some(line) = possim_sim::placed::line(&report.placed) {
        writeln!(out, "{line}")?;
    }
    if report.converged {
        writeln!(out, "healing   converged")?;
    } else if report.healing_pending.is_empty() {
        writeln!(out, "healing   did not converge within its bound")?;
    } else {
        writeln!(
            out,
            "healing   did not converge within its bound; still pending: {}",
            report.healing_pending.join("; ")
        )?;
    }
    if report.exercised_nothing() {
        // Each invariant below "passed" over an empty set of trades.
        let why = if report.exercise_required {
            "fails the run"
        } else {
            "expected (expect.exercises_nothing)"
        };
        writeln!(
            out,
            "exercised nothing: no trade reached an issuer, the money invariants judged nothing; {why}"
        )?;
    }
    for verdict in &report.verdicts {
        writeln!(out, "{verdict}")?;
    }
    writeln!(
        out,
        "trace     {} records, hash {}, {} simulated s, {} steps",
        report.trace.len(),
        report.trace.hash(),
        report.simulated_ms / 1000,
        report.steps
    )?;
    if report.passed() {
        writeln!(out, "verdict   pass")?;
    } else {
        writeln!(out, "verdict   FAIL: {}", report.failed().join(", "))?;
        writeln!(out, "repro     {}", report.repro(scenario))?;
    }
    Ok(())
}

fn write_files(dir: &Path, report: &RunReport, scenario: &Path, asks: &[TradeAsk]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut summary = Vec::new();
    print_report(&mut summary, report, scenario)?;
    std::fs::write(dir.join("summary.txt"), summary)?;
    report::write_run(dir, report, scenario, asks)?;
    Ok(())
}

fn parse_asks(args: &RunArgs) -> Result<Vec<TradeAsk>> {
    if !args.trades.is_empty() && args.out.is_none() {
        anyhow::bail!(InputError(
            "--trade charts a trade in the report: it needs --out DIR".into()
        ));
    }
    let asks = args.trades.iter().map(|text| text.parse::<TradeAsk>());
    asks.collect::<Result<_, _>>().map_err(|error| anyhow::anyhow!(InputError(error.to_string())))
}

pub fn run(args: RunArgs, replay: bool) -> Result<u8> {
    let asks = parse_asks(&args)?;
    args.logs.install()?;
    let scenario = load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.run.seed);
    let options = RunOptions { seed, swarm: args.swarm };
    let started = std::time::Instant::now();
    let with_trace = args.trace || replay;
    // Only the report, the trace file and the coverage listing read the
    // records afterwards; a plain run streams them.
    let execute_either =
        if args.out.is_some() || with_trace || args.coverage { execute } else { execute_streamed };
    let report = execute_either(&scenario, &options).map_err(|error| anyhow::anyhow!(error))?;
    let wall = started.elapsed();
    if args.check_determinism {
        let again = execute_either(&scenario, &options).map_err(|error| anyhow::anyhow!(error))?;
        if again.trace.hash() != report.trace.hash() {
            eprintln!(
                "determinism: FAIL: seed {seed} gave trace hashes {} then {}",
                report.trace.hash(),
                again.trace.hash()
            );
            eprintln!(
                "repro     possim run {} --seed {seed} --check-determinism",
                args.scenario.display()
            );
            return Ok(exit::FAIL);
        }
        eprintln!("determinism: two runs of seed {seed}, identical hash {}", report.trace.hash());
    }
    match (&args.out, with_trace) {
        (Some(dir), _) => {
            write_files(dir, &report, &args.scenario, &asks)?;
            let mut out = std::io::stdout().lock();
            print_report(&mut out, &report, &args.scenario)?;
            writeln!(out, "report    {}", dir.join("report.html").display())?;
        }
        (None, true) => {
            // The trace owns stdout; the summary goes to stderr.
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            report.trace.write_jsonl(&mut lock)?;
            lock.flush()?;
            print_report(&mut std::io::stderr().lock(), &report, &args.scenario)?;
        }
        (None, false) => print_report(&mut std::io::stdout().lock(), &report, &args.scenario)?,
    }
    if args.coverage {
        let listing =
            possim_sim::coverage::Listing(&possim_sim::coverage::Coverage::of_run(&report));
        if with_trace && args.out.is_none() {
            eprint!("{listing}");
        } else {
            write!(std::io::stdout().lock(), "{listing}")?;
        }
    }
    eprintln!("wall      {:.2} s", wall.as_secs_f64());
    let code = if report.passed() { exit::PASS } else { exit::FAIL };
    // The process ends here: freeing a city's millions of records one by
    // one would only cost time (about 2 % of a run).
    std::mem::forget(report);
    Ok(code)
}
