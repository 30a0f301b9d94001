//! `possim hashes`: this build's trace hashes of every pinned run beside the
//! committed manifest (`scenarios/pinned-hashes.tsv`); `--write` rewrites it.
//! Exit 0 when every pinned hash is equal, 1 when one moved (or a run is
//! pinned that is gone, or bundled and not pinned), 2 on a bad manifest.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use possim_sim::execute::execute_streamed;
use possim_sim::pinned::{self, Pin};
use possim_sim::world::RunOptions;
use rayon::prelude::*;

use super::exit;
use super::frame::InputError;
use super::run::load;

#[derive(Debug, Args)]
pub struct HashesArgs {
    /// The repository's root: the scenarios are found, and the manifest
    /// read, under it.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Rewrite the manifest with this build's hashes instead of checking.
    #[arg(long)]
    pub write: bool,
    /// Worker threads; the machine's cores when absent.
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(args: HashesArgs) -> Result<u8> {
    let runs = pinned::runs(&args.root).context("listing the bundled scenarios")?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.jobs.unwrap_or(0)).build()?;
    // The longest runs first, so two workers finish together.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&index| !runs[index].0.contains("/soak/"));
    let hashes: Vec<(usize, Result<String>)> = pool.install(|| {
        order
            .par_iter()
            .map(|&index| {
                let (scenario, seed) = &runs[index];
                let hash = load(&args.root.join(scenario)).and_then(|compiled| {
                    let report =
                        execute_streamed(&compiled, &RunOptions { seed: *seed, swarm: false })
                            .map_err(|error| anyhow::anyhow!("{scenario} seed {seed}: {error}"))?;
                    Ok(report.trace.hash())
                });
                (index, hash)
            })
            .collect()
    });
    let mut now = Vec::with_capacity(runs.len());
    let mut sorted = hashes;
    sorted.sort_by_key(|(index, _)| *index);
    for (index, hash) in sorted {
        let (scenario, seed) = &runs[index];
        now.push(Pin { scenario: scenario.clone(), seed: *seed, hash: hash? });
    }
    let manifest = args.root.join(pinned::MANIFEST);
    let mut out = std::io::stdout().lock();
    if args.write {
        std::fs::write(&manifest, pinned::render_manifest(&now))
            .with_context(|| format!("writing {}", manifest.display()))?;
        writeln!(out, "pinned    {} trace hashes written to {}", now.len(), pinned::MANIFEST)?;
        return Ok(exit::PASS);
    }
    let text = std::fs::read_to_string(&manifest)
        .map_err(|error| InputError(format!("{}: {error}", manifest.display())))?;
    let pins = pinned::parse_manifest(&text).map_err(|error| InputError(error.to_string()))?;
    let comparison = pinned::compare(&pins, &now);
    for (scenario, seed, was, is) in &comparison.moved {
        writeln!(out, "moved     {scenario} seed {seed}: pinned {was}, now {is}")?;
    }
    for (scenario, seed) in &comparison.gone {
        writeln!(out, "gone      {scenario} seed {seed}: pinned, but no such bundled run")?;
    }
    for (scenario, seed) in &comparison.unpinned {
        writeln!(out, "unpinned  {scenario} seed {seed}: bundled, not in the manifest")?;
    }
    writeln!(
        out,
        "pinned    {} of {} trace hashes equal to {}",
        comparison.equal,
        pins.len(),
        pinned::MANIFEST
    )?;
    if comparison.holds() {
        Ok(exit::PASS)
    } else {
        writeln!(
            out,
            "          a change that moves traces rewrites the manifest (possim hashes --write) and says why"
        )?;
        Ok(exit::FAIL)
    }
}
