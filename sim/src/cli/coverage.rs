//! `possim coverage FILE...`: the coverage of many sweeps merged into one
//! listing, with what none of them reached. Each file is the output of
//! `possim sweep ... --coverage --json`: slices of a long sweep, shards run
//! on other machines, or several scenarios.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_sim::coverage::merge::from_sweep_json;
use possim_sim::coverage::{Coverage, Listing};

use super::exit;
use super::frame::input;

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Files written by `possim sweep --coverage --json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The merged coverage as one JSON object (`{"coverage": ...}`), which
    /// this command reads back in turn.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CoverageArgs) -> Result<u8> {
    let mut total = Coverage::default();
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .map_err(|error| input(format!("{}: {error}", path.display())))?;
        let coverage = from_sweep_json(&text)
            .map_err(|error| input(format!("{}: {error}", path.display())))?;
        total.merge(&coverage);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::json!({ "coverage": total }))?;
    } else {
        writeln!(out, "merged    {} files", args.files.len())?;
        write!(out, "{}", Listing(&total))?;
    }
    Ok(exit::PASS)
}
