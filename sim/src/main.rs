//! `possim`: a seeded, deterministic testbed for UnionPay card acceptance.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Debug, Parser)]
#[command(
    name = "possim",
    version,
    about = "Seeded, deterministic simulation of UnionPay POS acceptance"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One seed of a scenario: summary, verdicts, trace hash; exit 0 pass, 1 fail, 2 bad input.
    Run(cli::run::RunArgs),
    /// Many seeds in parallel; the failing seeds grouped by invariant, with repro lines.
    Sweep(cli::sweep::SweepArgs),
    /// The same run as `run`, with its full trace.
    Replay(cli::run::RunArgs),
    /// A failing seed shrunk to a small scenario that fails the same invariant on any seed.
    Shrink(cli::shrink::ShrinkArgs),
    /// Sweeps' coverage (`sweep --coverage --json` files) merged: what none of them reached.
    Coverage(cli::coverage::CoverageArgs),
    /// Every pinned run's trace hash beside the committed manifest; --write rewrites it.
    Hashes(cli::hashes::HashesArgs),
    /// Shards' outputs (`sweep --shard K/N --json` files) joined into the report directory one sweep of the whole range writes; exit 1 if a seed failed.
    Merge(cli::merge::MergeArgs),
    /// Sweeps' seed lines (`sweep --json` files) counted into one table; exit 1 if a seed failed.
    Tally(cli::tally::TallyArgs),
    /// What the simulator costs, beside the bare models, as a ratio.
    Bench(cli::bench::BenchArgs),
    /// The bug-finding benchmark: each certification guard switched on in a safe scenario, seeds to the first failure.
    Hunt(cli::hunt::HuntArgs),
    /// Coverage-guided exploration: inputs (a seed and placed faults) kept when they reach new coverage, mutated, to the first failure; exit 0 none, 1 found, 2 bad input.
    Explore(cli::explore::ExploreArgs),
    /// The certification cases: steps and outcome of each; exit 0 all pass, 1 a case fails, 2 bad case file.
    Certify(cli::certify::CertifyArgs),
    /// Decode, encode and MAC-check CUP POS 8583 frames.
    #[command(subcommand)]
    Frame(cli::frame::FrameCommand),
    /// Play switch, network and issuers for a real terminal over TCP, and check it.
    Serve(cli::serve::ServeArgs),
    /// Play the scenario's terminal fleet against a real acquirer host over TCP, and check it.
    Drive(cli::drive::DriveArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { cli::exit::USAGE } else { cli::exit::PASS };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Frame(command) => cli::frame::run(command),
        Command::Run(args) => cli::run::run(args, false),
        Command::Replay(args) => cli::run::run(args, true),
        Command::Sweep(args) => cli::sweep::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::Hashes(args) => cli::hashes::run(args),
        Command::Tally(args) => cli::tally::run(args),
        Command::Merge(args) => cli::merge::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Drive(args) => cli::drive::run(args),
        Command::Certify(args) => cli::certify::run(args),
        Command::Hunt(args) => cli::hunt::run(args),
        Command::Explore(args) => cli::explore::run(args),
        Command::Shrink(args) => cli::shrink::run(args),
        Command::Coverage(args) => cli::coverage::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::from(cli::exit::CUT_SHORT),
        Err(error) => {
            eprintln!("error: {error:#}");
            let code =
                if cli::frame::is_input_error(&error) { cli::exit::USAGE } else { cli::exit::FAIL };
            ExitCode::from(code)
        }
    }
}

/// Rust ignores SIGPIPE, so a closed stdout comes back as an error from the
/// write that met it, wrapped by whatever context was added on the way up.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
