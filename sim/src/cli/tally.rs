//! `possim tally FILE...`: the seed lines of `possim sweep --json` files
//! counted into one Markdown table, a row per file and a total.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_sim::tally::Tally;

use super::exit;
use super::frame::input;

#[derive(Debug, Args)]
pub struct TallyArgs {
    /// Files written by `possim sweep --json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn failing_cell(tally: &Tally) -> String {
    if tally.failing == 0 {
        return "0".into();
    }
    let named: Vec<String> = tally.failing_seeds.iter().map(u64::to_string).collect();
    let more = if tally.failing > named.len() as u64 { ", ..." } else { "" };
    format!("**{}** (seeds {}{more})", tally.failing, named.join(", "))
}

pub fn run(args: TallyArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "| file | seeds | range | failing | trades | simulated hours |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    let mut total: Option<Tally> = None;
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .map_err(|error| input(format!("{}: {error}", path.display())))?;
        let tally = Tally::from_sweep_json(&text)
            .map_err(|error| input(format!("{}: {error}", path.display())))?;
        writeln!(
            out,
            "| {} | {} | {}..={} | {} | {} | {} |",
            path.display(),
            tally.seeds,
            tally.first_seed,
            tally.last_seed,
            failing_cell(&tally),
            tally.trades,
            tally.simulated_ms / 3_600_000
        )?;
        match &mut total {
            Some(total) => total.add(&tally),
            None => total = Some(tally),
        }
    }
    if let (Some(total), true) = (&total, args.files.len() > 1) {
        writeln!(
            out,
            "| **all** | {} | | {} | {} | {} |",
            total.seeds,
            failing_cell(total),
            total.trades,
            total.simulated_ms / 3_600_000
        )?;
    }
    let failing = total.as_ref().map_or(0, |t| t.failing);
    Ok(if failing == 0 { exit::PASS } else { exit::FAIL })
}
