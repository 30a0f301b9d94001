//! `possim bench`: what the simulator costs. Runs seeds of a scenario and,
//! in the same process right after, the same number of approved sales
//! through the bare models (the in-memory harness, no turmoil), so the two
//! are compared as a ratio measured side by side.

// Rates and durations, never money.
#![allow(clippy::float_arithmetic)]

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use possim_models::harness::build::{account, card_pan, chip_card, open_the_day, Configs, PIN};
use possim_models::iso8583::values::AmountFen;
use possim_models::terminal::TerminalCommand;
use possim_sim::execute::execute_streamed;
use possim_sim::world::RunOptions;

use super::exit;
use super::run::load;

#[derive(Debug, Args)]
pub struct BenchArgs {
    pub scenario: PathBuf,
    /// Seeds to run, one after another (0..N).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
}

/// Approved sales per wall second through the bare models.
fn harness_sales_per_second(sales: u64) -> f64 {
    let configs = Configs::standard(1, vec![account(card_pan(1), i64::MAX / 4)]);
    let t = configs.terminals[0].terminal_id;
    let mut h = configs.build();
    open_the_day(&mut h, &t);
    let card = chip_card(card_pan(1));
    let started = Instant::now();
    for done in 0..sales {
        if done % 400 == 399 {
            // The journal holds 500 trades: settle now and then, as a day would.
            h.command(&t, TerminalCommand::Settle);
            h.settle(Duration::from_secs(5));
        }
        let amount = AmountFen::new(100).expect("small");
        h.command(&t, TerminalCommand::Sale { card: card.clone(), amount, pin: Some(PIN.into()) });
        h.settle(Duration::from_secs(1));
    }
    sales as f64 / started.elapsed().as_secs_f64()
}

pub fn run(args: BenchArgs) -> Result<u8> {
    let scenario = load(&args.scenario)?;
    let (mut trades, mut simulated_ms, mut steps) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for seed in 0..args.seeds {
        let report = execute_streamed(&scenario, &RunOptions { seed, swarm: false })
            .map_err(|e| anyhow::anyhow!(e))?;
        trades += report.summary.trades_started;
        simulated_ms += report.simulated_ms;
        steps += report.steps;
    }
    let wall = started.elapsed().as_secs_f64();
    let simulator = trades as f64 / wall;
    let bare = harness_sales_per_second(trades.max(1));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bench     {} x {} seeds, tick {} ms",
        scenario.name, args.seeds, scenario.run.tick_ms
    )?;
    writeln!(
        out,
        "simulator {trades} trades, {:.0} simulated s, {steps} steps in {wall:.2} wall s",
        simulated_ms as f64 / 1000.0
    )?;
    writeln!(
        out,
        "          {simulator:.0} trades per wall s, {:.0} simulated s per wall s, {:.0} steps per wall s",
        simulated_ms as f64 / 1000.0 / wall,
        steps as f64 / wall
    )?;
    writeln!(
        out,
        "models    {bare:.0} approved sales per wall s through the bare harness (same count, same process)"
    )?;
    writeln!(
        out,
        "ratio     the simulator runs at 1/{:.0} of the bare models' trade rate",
        bare / simulator
    )?;
    Ok(exit::PASS)
}
