//! `possim shrink`: a failing seed of a scenario, shrunk to a small
//! scenario that fails the same invariant on any seed. The sizes before and
//! after, the candidate runs it took and the checks go to stdout (stderr
//! when the YAML itself goes to stdout, without `--out`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_sim::shrink::{shrink, ShrinkError, ShrinkOptions, RUNS_MAX_DEFAULT};

use super::exit;
use super::frame::input;

#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The failing seed; the scenario's own when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the shrunk scenario here (else to stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The seed ran in swarm mode.
    #[arg(long)]
    pub swarm: bool,
    /// Candidate runs at most.
    #[arg(long, default_value_t = RUNS_MAX_DEFAULT)]
    pub runs_max: usize,
    /// The invariant to keep failing (default: the first expected one the
    /// seed breaks, else the first it breaks).
    #[arg(long)]
    pub invariant: Option<String>,
}

pub fn run(args: ShrinkArgs) -> Result<u8> {
    let file = args.scenario.display().to_string();
    let text = possim_sim::scenario::load::read_text(&args.scenario)
        .map_err(|reason| input(format!("{file}: cannot read the scenario: {reason}")))?;
    let seed = match args.seed {
        Some(seed) => seed,
        None => possim_sim::scenario::load::parse(&text, &file).map_err(input)?.run.seed,
    };
    let mut command = format!("possim shrink {file} --seed {seed}");
    if args.swarm {
        command.push_str(" --swarm");
    }
    if let Some(out) = &args.out {
        command.push_str(&format!(" --out {}", out.display()));
    }
    let options = ShrinkOptions {
        seed,
        swarm: args.swarm,
        runs_max: args.runs_max,
        invariant: args.invariant.clone(),
        command,
    };
    let shrunk = match shrink(&text, &file, &options) {
        Ok(shrunk) => shrunk,
        Err(error @ ShrinkError::Run(_)) => return Err(anyhow::anyhow!(error)),
        Err(error) => return Err(input(error)),
    };
    let mut lines = vec![
        format!("shrink    {file} seed {seed}: {}", shrunk.invariant),
        format!("before    {}", shrunk.before),
        format!("after     {}", shrunk.after),
        format!(
            "explicit  {}",
            if shrunk.explicit {
                format!(
                    "{} trades scripted, {} episodes scheduled, {} frame faults placed{}",
                    shrunk.converted.trades,
                    shrunk.converted.episodes,
                    shrunk.converted.frames,
                    if shrunk.latency_pinned { ", latency fixed" } else { "" }
                )
            } else {
                "the written-down run did not fail: kept the seed's randomness, not reduced"
                    .to_string()
            }
        ),
        format!("runs      {} candidate runs (at most {})", shrunk.runs, shrunk.runs_max),
        format!(
            "seeds     {}",
            shrunk
                .seeds
                .iter()
                .map(|(seed, fails)| format!("{seed} {}", if *fails { "fails" } else { "PASSES" }))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    match shrunk.passes_when_safe {
        Some(passes) => lines.push(format!(
            "safe      with {} off: {}",
            shrunk.safe_policies.join(", "),
            if passes {
                format!("{} holds", shrunk.invariant)
            } else {
                format!("{} still FAILS", shrunk.invariant)
            }
        )),
        None => lines.push("safe      no unsafe policy to switch off".into()),
    }
    lines.push(format!("wall      {:.1} s", shrunk.wall.as_secs_f64()));
    let report = lines.join("\n");
    match &args.out {
        Some(path) => {
            std::fs::write(path, &shrunk.yaml)
                .map_err(|error| input(format!("{}: cannot write: {error}", path.display())))?;
            writeln!(std::io::stdout().lock(), "{report}\nwritten   {}", path.display())?;
        }
        None => {
            std::io::stdout().lock().write_all(shrunk.yaml.as_bytes())?;
            eprintln!("{report}");
        }
    }
    let reproduced = shrunk.seeds.iter().all(|(_, fails)| *fails);
    Ok(if reproduced { exit::PASS } else { exit::FAIL })
}
