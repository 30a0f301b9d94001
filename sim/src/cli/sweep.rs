//! `possim sweep`: many seeds of one scenario, in parallel with rayon, one
//! turmoil simulation per seed per thread. A panic in one seed is that
//! seed's failure. At the end, the failing seeds grouped by invariant, each
//! with the line that reproduces it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use possim_sim::coverage::{Coverage, Listing};
use possim_sim::execute::{execute, execute_streamed};
use possim_sim::placed::PlacedFault;
use possim_sim::report::sweep::{SeedCase, SweepCollector};
use possim_sim::scenario::compile::CompiledScenario;
use possim_sim::scenario::model::ProtocolFault;
use possim_sim::sweep_json::SweepLine;
use possim_sim::world::RunOptions;
use rayon::prelude::*;

use super::exit;
use super::frame::InputError;
use super::run::load;

#[derive(Debug, Args)]
pub struct SweepArgs {
    pub scenario: PathBuf,
    /// Seeds as `A..B` (B excluded).
    #[arg(long, default_value = "0..100")]
    pub seeds: String,
    /// Worker threads; the machine's cores when absent.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Each seed draws its own fault rates within the scenario's bounds.
    #[arg(long)]
    pub swarm: bool,
    /// Only this slice of the seeds, `K/N` (1-based): seed s belongs to
    /// shard ((s - A) mod N) + 1, so N shards together run every seed once.
    #[arg(long)]
    pub shard: Option<String>,
    /// JSON Lines on stdout: what was swept (`{"sweep": ...}`), then one
    /// object per seed; `possim merge` joins shards' outputs into one report.
    #[arg(long)]
    pub json: bool,
    /// Also list what the seeds reached together, and what none reached
    /// (with --json: one more object, `{"coverage": ...}`).
    #[arg(long)]
    pub coverage: bool,
    /// Write the sweep's report into this directory: report.html, summary.md,
    /// junit.xml with a test case per seed (docs/REPORTS.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub(crate) fn parse_range(text: &str) -> Result<(u64, u64)> {
    let Some((a, b)) = text.split_once("..") else {
        bail!(InputError(format!("--seeds {text:?}: expected A..B")));
    };
    let (a, b): (u64, u64) = match (a.parse(), b.parse()) {
        (Ok(a), Ok(b)) if a < b => (a, b),
        _ => bail!(InputError(format!("--seeds {text:?}: expected A..B with A < B"))),
    };
    Ok((a, b))
}

fn parse_shard(text: &str) -> Result<(u64, u64)> {
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
    match parsed {
        Some((k, n)) if n >= 1 && (1..=n).contains(&k) => Ok((k, n)),
        _ => bail!(InputError(format!("--shard {text:?}: expected K/N with 1 <= K <= N"))),
    }
}

/// The most seeds one sweep runs (its shard's, with --shard). Each seed's
/// result is kept until the end (its hash, its failures, its coverage), a
/// few hundred bytes, and the seeds are listed before they run: a million
/// is some hundreds of MB at most, and hours of a machine's cores. More
/// seeds are run in shards (`--shard K/N`), each under the bound.
pub const SWEEP_SEEDS_MAX: u64 = 1_000_000;

/// How many seeds of `start..end` fall in the shard.
fn shard_count(start: u64, end: u64, shard: Option<(u64, u64)>) -> u64 {
    let (k, n) = shard.unwrap_or((1, 1));
    // Seed s is in shard k when (s - start) mod n = k - 1.
    let span = end - start;
    if k > span {
        return 0;
    }
    (span - (k - 1)).div_ceil(n)
}

/// The seeds of one shard, refusing more than [`SWEEP_SEEDS_MAX`] before
/// listing any. `text` is the `--seeds` argument, for the message.
fn seeds_of(text: &str, start: u64, end: u64, shard: Option<(u64, u64)>) -> Result<Vec<u64>> {
    let count = shard_count(start, end, shard);
    if count > SWEEP_SEEDS_MAX {
        let shard = shard.map_or(String::new(), |(k, n)| format!(" (shard {k}/{n})"));
        bail!(InputError(format!(
            "--seeds {text}{shard}: {count} seeds is over the bound SWEEP_SEEDS_MAX = {SWEEP_SEEDS_MAX}; split the range with --shard K/N"
        )));
    }
    Ok(shard_seeds(start, end, shard))
}

/// The seeds of one shard.
pub fn shard_seeds(start: u64, end: u64, shard: Option<(u64, u64)>) -> Vec<u64> {
    let (k, n) = shard.unwrap_or((1, 1));
    let Some(first) = start.checked_add(k - 1).filter(|first| *first < end) else {
        return Vec::new();
    };
    // A step past usize (a 32-bit machine) leaves the first seed alone.
    let step = usize::try_from(n).unwrap_or(usize::MAX);
    (first..end).step_by(step).collect()
}

#[derive(Debug)]
struct SeedResult {
    seed: u64,
    failed: Vec<String>,
    hash: String,
    trades: u64,
    simulated_ms: u64,
    error: Option<String>,
    case: SeedCase,
    coverage: Option<Coverage>,
    /// For each placed fault of the plan, in order: whether it landed.
    placed: Vec<bool>,
}

/// The scenario file's identity: FNV-1a of its bytes, as the sweep line
/// carries it and `possim merge` checks it.
pub(crate) fn scenario_hash(path: &std::path::Path) -> Result<String> {
    let text = possim_sim::scenario::load::read_text(path).map_err(|reason| {
        InputError(format!("{}: cannot read the scenario: {reason}", path.display()))
    })?;
    Ok(possim_sim::trace::fnv1a_hex(text.as_bytes()))
}

pub fn run(args: SweepArgs) -> Result<u8> {
    let scenario = load(&args.scenario)?;
    let identity = scenario_hash(&args.scenario)?;
    let (start, end) = parse_range(&args.seeds)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let seeds = seeds_of(&args.seeds, start, end, shard)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.jobs.unwrap_or(0)).build()?;
    let bar = ProgressBar::with_draw_target(Some(seeds.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} seeds, {msg} failing, eta {eta}",
    )?);
    let failing = AtomicUsize::new(0);
    let collector =
        args.out.as_ref().map(|_| SweepCollector::new(&args.scenario, &scenario.name, args.swarm));
    let started = std::time::Instant::now();
    let results: Vec<SeedResult> = pool.install(|| {
        seeds
            .par_iter()
            .map(|&seed| {
                let options = RunOptions { seed, swarm: args.swarm };
                let seed_started = std::time::Instant::now();
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // A failing seed's run record (--out) and coverage read
                    // the records afterwards; otherwise they stream.
                    if args.out.is_none() && !args.coverage {
                        execute_streamed(&scenario, &options)
                    } else {
                        execute(&scenario, &options)
                    }
                }));
                let wall_ms = seed_started.elapsed().as_millis() as u64;
                let result = match &outcome {
                    Ok(Ok(report)) => SeedResult {
                        case: SeedCase::of_run(report, wall_ms),
                        seed,
                        failed: report.failed(),
                        hash: report.trace.hash(),
                        trades: report.summary.trades_started,
                        simulated_ms: report.simulated_ms,
                        error: None,
                        coverage: args.coverage.then(|| Coverage::of_run(report)),
                        placed: report
                            .placed
                            .iter()
                            .filter(|p| !p.drawn)
                            .map(|p| p.landed())
                            .collect(),
                    },
                    Ok(Err(error)) => SeedResult {
                        seed,
                        failed: vec!["run-error".into()],
                        hash: String::new(),
                        trades: 0,
                        simulated_ms: 0,
                        error: Some(error.to_string()),
                        case: SeedCase::of_error("run-error", &error.to_string(), wall_ms),
                        coverage: None,
                        placed: Vec::new(),
                    },
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panic".into());
                        SeedResult {
                            seed,
                            failed: vec!["panic".into()],
                            hash: String::new(),
                            trades: 0,
                            simulated_ms: 0,
                            case: SeedCase::of_error("panic", &message, wall_ms),
                            error: Some(message),
                            coverage: None,
                            placed: Vec::new(),
                        }
                    }
                };
                if let Some(collector) = &collector {
                    match &outcome {
                        Ok(Ok(report)) => collector.run_case(seed, report, &result.case),
                        _ => collector.case(seed, &result.case),
                    }
                }
                if !result.failed.is_empty() {
                    failing.fetch_add(1, Ordering::Relaxed);
                }
                bar.set_message(failing.load(Ordering::Relaxed).to_string());
                bar.inc(1);
                result
            })
            .collect()
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    let mut out = std::io::stdout().lock();
    if args.json {
        let sweep = SweepLine {
            scenario: scenario.name.clone(),
            path: args.scenario.display().to_string(),
            scenario_hash: identity.clone(),
            seeds: format!("{start}..{end}"),
            shard: shard.map(|(k, n)| format!("{k}/{n}")),
            swarm: args.swarm,
            coverage: args.coverage,
        };
        writeln!(out, "{}", serde_json::json!({ "sweep": sweep }))?;
        for result in &results {
            let line = serde_json::json!({
                "seed": result.seed,
                "passed": result.failed.is_empty(),
                "failed": result.failed,
                "hash": result.hash,
                "trades": result.trades,
                "simulated_ms": result.simulated_ms,
                "error": result.error,
                "failure": result.case.failure,
                "outcomes": result.case.outcomes,
                "faults": result.case.faults,
                "wall_ms": result.case.wall_ms,
            });
            writeln!(out, "{line}")?;
        }
    }
    let mut by_invariant: BTreeMap<&str, Vec<&SeedResult>> = BTreeMap::new();
    for result in &results {
        for name in &result.failed {
            by_invariant.entry(name.as_str()).or_default().push(result);
        }
    }
    let trades: u64 = results.iter().map(|r| r.trades).sum();
    let summary = format!(
        "sweep {} seeds{} of {}: {} failing, {} trades, {:.1} s wall",
        results.len(),
        shard.map_or(String::new(), |(k, n)| format!(" (shard {k}/{n})")),
        scenario.name,
        results.iter().filter(|r| !r.failed.is_empty()).count(),
        trades,
        wall.as_secs_f64()
    );
    let swarm = if args.swarm { " --swarm" } else { "" };
    let mut report: Vec<String> = vec![summary];
    for (name, seeds) in &by_invariant {
        report.push(format!("{name}: {} seeds, first {}", seeds.len(), seeds[0].seed));
        for result in seeds.iter().take(5) {
            let mut line = format!(
                "  possim replay {} --seed {}{swarm}",
                args.scenario.display(),
                result.seed
            );
            if let Some(error) = &result.error {
                line.push_str(&format!("   ({error})"));
            }
            report.push(line);
        }
    }
    report.extend(placed_lines(&scenario.faults.protocol, &results));
    let failing_names: Vec<&str> = by_invariant.keys().copied().collect();
    let (passed, verdict_lines) = verdict(&scenario, &failing_names);
    report.extend(verdict_lines);
    let expected = &scenario.expect.violates;
    let mut total = None;
    if args.coverage {
        // Merged in seed order: the same counts whatever the threads did.
        let mut merged = Coverage::default();
        for coverage in results.iter().filter_map(|r| r.coverage.as_ref()) {
            merged.merge(coverage);
        }
        if args.json {
            writeln!(out, "{}", serde_json::json!({ "coverage": merged }))?;
        } else {
            write!(out, "{}", Listing(&merged))?;
        }
        total = Some(merged);
    }
    if let (Some(dir), Some(collector)) = (&args.out, collector) {
        let seeds = match shard {
            Some((k, n)) => format!("{start}..{end} (shard {k}/{n})"),
            None => format!("{start}..{end}"),
        };
        let wall_ms = wall.as_millis() as u64;
        let record = collector.finish(&seeds, passed, expected.clone(), wall_ms);
        write_report(dir, &record, total.as_ref())?;
        report.push(format!("report    {}", dir.join("report.html").display()));
    }
    let text = report.join("\n");
    if args.json {
        eprintln!("{text}");
    } else {
        writeln!(out, "{text}")?;
    }
    Ok(if passed { exit::PASS } else { exit::FAIL })
}

/// The sweep's verdict from the names of the invariants some seed failed
/// (`failing`, in order), and the lines that explain it: a scenario with
/// `expect.violates` passes when it caught each expected invariant and
/// nothing it does not list.
pub(crate) fn verdict(scenario: &CompiledScenario, failing: &[&str]) -> (bool, Vec<String>) {
    let mut lines = Vec::new();
    let expected = &scenario.expect.violates;
    let caught: Vec<&str> =
        expected.iter().map(String::as_str).filter(|name| failing.contains(name)).collect();
    let also = &scenario.expect.also_violates;
    let unexpected: Vec<&str> = failing
        .iter()
        .copied()
        .filter(|name| !expected.iter().chain(also).any(|e| e == name))
        .collect();
    if !expected.is_empty() {
        lines.push(format!(
            "expected violations: {}; caught: {}",
            expected.join(", "),
            if caught.is_empty() { "none".to_string() } else { caught.join(", ") }
        ));
    }
    if !expected.is_empty() && !unexpected.is_empty() {
        lines.push(format!(
            "unexpected violations: {} (a variant fails on what it does not list: what its \
             policy breaks as well goes in expect.also_violates, a placed fault its seeds may \
             not reach in expect.placed_may_miss)",
            unexpected.join(", ")
        ));
    }
    let passed = if expected.is_empty() {
        failing.is_empty()
    } else {
        caught.len() == expected.len() && unexpected.is_empty()
    };
    (passed, lines)
}

/// A sweep's report directory: the three pages, and with coverage its
/// listing, `coverage.txt`.
pub(crate) fn write_report(
    dir: &std::path::Path,
    record: &possim_reports::sweep::SweepRecord,
    coverage: Option<&Coverage>,
) -> Result<()> {
    possim_reports::write_sweep(dir, record)?;
    if let Some(coverage) = coverage {
        possim_reports::write::file(dir, "coverage.txt", &Listing(coverage).to_string())?;
    }
    Ok(())
}

/// How many seeds each placed fault landed in: one line if every one landed
/// in every seed that ran, else a line for each that missed some.
fn placed_lines(plan: &[ProtocolFault], results: &[SeedResult]) -> Vec<String> {
    if plan.is_empty() {
        return Vec::new();
    }
    let ran: Vec<&SeedResult> = results.iter().filter(|r| r.placed.len() == plan.len()).collect();
    let mut lines = Vec::new();
    for (index, fault) in plan.iter().enumerate() {
        let landed = ran.iter().filter(|r| r.placed[index]).count();
        if landed < ran.len() {
            let fault = PlacedFault::planned(fault);
            lines.push(format!("placed    {fault} landed in {landed} of {} seeds", ran.len()));
        }
    }
    if lines.is_empty() {
        lines.push(format!("placed    {} faults, each landed in every seed", plan.len()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `--seeds 0..10000000000000` listed the seeds until the
    /// machine ran out of memory.
    #[test]
    fn more_seeds_than_the_bound_are_refused_before_listing_them() {
        let error = seeds_of("0..10000000000000", 0, 10_000_000_000_000, None).unwrap_err();
        assert!(error.downcast_ref::<InputError>().is_some(), "exit 2");
        assert_eq!(
            error.to_string(),
            "--seeds 0..10000000000000: 10000000000000 seeds is over the bound SWEEP_SEEDS_MAX = 1000000; split the range with --shard K/N"
        );
        // Sharded under the bound, the same range runs; a shard of a range
        // past u64's middle is counted, not listed.
        let n = 10_000_000;
        let seeds = seeds_of("0..10000000000000", 0, 10_000_000_000_000, Some((3, n))).unwrap();
        assert_eq!(seeds.len(), 1_000_000);
        assert_eq!((seeds[0], seeds[1]), (2, 2 + n));
        assert!(seeds_of("x", 0, u64::MAX, Some((1, 2))).is_err());
        assert_eq!(
            seeds_of("x", 5, 5 + SWEEP_SEEDS_MAX, None).unwrap().len() as u64,
            SWEEP_SEEDS_MAX
        );
    }

    #[test]
    fn a_shard_is_counted_as_it_is_listed() {
        for (start, end) in [(0, 1), (10, 110), (7, 9), (0, 13)] {
            for n in 1..=15 {
                for k in 1..=n {
                    let listed = shard_seeds(start, end, Some((k, n)));
                    assert_eq!(shard_count(start, end, Some((k, n))), listed.len() as u64);
                    let filtered: Vec<u64> =
                        (start..end).filter(|seed| (seed - start) % n == k - 1).collect();
                    assert_eq!(listed, filtered, "{start}..{end} shard {k}/{n}");
                }
            }
            assert_eq!(shard_count(start, end, None), end - start);
        }
    }

    #[test]
    fn shards_partition_the_seeds() {
        let all = shard_seeds(10, 110, None);
        let mut joined: Vec<u64> =
            (1..=7).flat_map(|k| shard_seeds(10, 110, Some((k, 7)))).collect();
        joined.sort();
        assert_eq!(joined, all);
    }
}
