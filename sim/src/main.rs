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
    /// Decode, encode and MAC-check CUP POS 8583 frames.
    #[command(subcommand)]
    Frame(cli::frame::FrameCommand),
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
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            let code =
                if cli::frame::is_input_error(&error) { cli::exit::USAGE } else { cli::exit::FAIL };
            ExitCode::from(code)
        }
    }
}
