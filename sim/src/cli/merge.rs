//! `possim merge SHARD.jsonl... --out DIR`: the outputs of
//! `possim sweep ... --shard K/N --json`, run on many machines, joined into
//! the report directory `possim sweep ... --out DIR` writes for the whole
//! range (report.html, summary.md, junit.xml, and coverage.txt when the
//! shards ran with --coverage), as if one machine had run every seed.
//!
//! The shards are checked first ([`possim_sim::shards`]): one sweep, no seed
//! twice, none missing. The scenario must be at the path the shards name,
//! with the same bytes (its hash): the verdict needs its `expect`, and the
//! page shows the lowest failing seeds' runs in full, which are replayed
//! here — each replay must give the trace hash its shard wrote, so a report
//! never mixes two builds of possim.
//!
//!     possim merge shard-1.jsonl shard-2.jsonl shard-3.jsonl --out sweep-report
//!
//! Exit 0 when the merged sweep passes, 1 when it fails (as `sweep`), 2 when
//! the shards cannot be merged, with one line naming the file and line.

use std::collections::BTreeSet;
use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_reports::sweep::SWEEP_RUNS_MAX;
use possim_sim::execute::execute;
use possim_sim::report::run_record;
use possim_sim::report::sweep::{SeedCase, SweepCollector};
use possim_sim::shards::{join, read_sections};
use possim_sim::world::RunOptions;

use super::exit;
use super::frame::input;
use super::run::load;
use super::sweep::{scenario_hash, verdict, write_report};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Files written by `possim sweep ... --shard K/N --json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the whole range's report into this directory.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: MergeArgs) -> Result<u8> {
    let mut sections = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|error| input(format!("{name}: cannot read: {error}")))?;
        sections.extend(read_sections(&name, BufReader::new(file)).map_err(input)?);
    }
    let joined = join(sections).map_err(input)?;
    let sweep = &joined.sweep;
    let path = PathBuf::from(&sweep.path);
    let scenario = load(&path)?;
    let hash = scenario_hash(&path)?;
    if hash != sweep.scenario_hash {
        return Err(input(format!(
            "{}: the file's hash is {hash}, the shards ran one whose hash is {}: merge beside the scenario they ran",
            sweep.path, sweep.scenario_hash
        )));
    }
    let collector = SweepCollector::new(&path, &sweep.scenario, sweep.swarm);
    for (seed, line) in &joined.seeds {
        let case = SeedCase {
            failed: line.failed.clone(),
            failure: line.failure.clone(),
            outcomes: line.outcomes.clone(),
            faults: line.faults.clone(),
            wall_ms: line.wall_ms,
        };
        collector.case(*seed, &case);
    }
    // The page shows the lowest failing seeds that ran to their verdicts in
    // full; their records were not kept by the shards, so they run again.
    let replayed = joined.seeds.values().filter(|line| !line.passed && line.error.is_none());
    for line in replayed.take(SWEEP_RUNS_MAX) {
        let options = RunOptions { seed: line.seed, swarm: sweep.swarm };
        let report = execute(&scenario, &options)
            .map_err(|error| input(format!("seed {}: replay failed: {error}", line.seed)))?;
        let replay_hash = report.trace.hash();
        if replay_hash != line.hash {
            return Err(input(format!(
                "seed {}: replays to trace hash {replay_hash}, its shard wrote {}: the shards ran another build of possim",
                line.seed, line.hash
            )));
        }
        collector.keep_run(line.seed, run_record(&report, &path, &[]));
    }
    let failing: BTreeSet<&str> =
        joined.seeds.values().flat_map(|line| line.failed.iter().map(String::as_str)).collect();
    let failing: Vec<&str> = failing.into_iter().collect();
    let (passed, verdict_lines) = verdict(&scenario, &failing);
    // The shards ran side by side on other machines: the merged wall time
    // is the seeds' own, summed (docs/SHARDS.md).
    let wall_ms: u64 = joined.seeds.values().map(|line| line.wall_ms).sum();
    let record = collector.finish(&sweep.seeds, passed, scenario.expect.violates.clone(), wall_ms);
    write_report(&args.out, &record, joined.coverage.as_ref())?;

    let mut out = std::io::stdout().lock();
    let failing_seeds = joined.seeds.values().filter(|line| !line.passed).count();
    let trades: u64 = joined.seeds.values().map(|line| line.trades).sum();
    writeln!(
        out,
        "merged {} shards: {} seeds {} of {}: {failing_seeds} failing, {trades} trades",
        joined.shards,
        joined.seeds.len(),
        sweep.seeds,
        sweep.scenario
    )?;
    let swarm = if sweep.swarm { " --swarm" } else { "" };
    for name in &failing {
        let seeds: Vec<u64> = joined
            .seeds
            .values()
            .filter(|line| line.failed.iter().any(|f| f == name))
            .map(|line| line.seed)
            .collect();
        writeln!(out, "{name}: {} seeds, first {}", seeds.len(), seeds[0])?;
        for seed in seeds.iter().take(5) {
            writeln!(out, "  possim replay {} --seed {seed}{swarm}", sweep.path)?;
        }
    }
    for line in verdict_lines {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "report    {}", args.out.join("report.html").display())?;
    Ok(if passed { exit::PASS } else { exit::FAIL })
}

#[cfg(test)]
mod tests {
    /// A merged range holds no more seeds than one sweep may run.
    #[test]
    fn the_merge_bound_is_the_sweep_bound() {
        assert_eq!(possim_sim::shards::MERGE_SEEDS_MAX, super::super::sweep::SWEEP_SEEDS_MAX);
    }
}
