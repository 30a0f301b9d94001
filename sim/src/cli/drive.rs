//! `possim drive`: possim plays the scenario's terminal fleet against a
//! real acquirer host on a TCP socket, applies the terminal-side faults,
//! and checks what the host answers. Exit 0 compliant, 1 not (a check
//! failed or a selected one was not exercised, or the host refused, never
//! accepted or never answered), 2 bad input.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_sim::live::driver::{drive, DriveOptions, DriveOutcome};
use possim_sim::live::fleet::{Fleet, FleetOptions};
use possim_sim::live::log::LiveLog;
use possim_sim::live::report::{self, RunFacts};

use super::exit;
use super::frame::input;

/// Beyond the terminals' longest response timeout, how long the host has to
/// send its first frame before the run ends as "answered nothing".
const FIRST_ANSWER_MARGIN_MS: u64 = 1_000;

/// The fastest a workload may be played.
const SPEED_MAX: f64 = 10_000.0;

#[derive(Debug, Args)]
pub struct DriveArgs {
    /// The scenario: its terminals, keys, cards, workload and faults.
    pub scenario: PathBuf,
    /// The host under test (ip:port).
    #[arg(long)]
    pub target: String,
    /// Write summary.md, junit.xml, report.html and decisions.jsonl here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// End the workload once this many online trades left the terminals.
    #[arg(long)]
    pub max_trades: Option<u64>,
    /// End the workload after this many seconds (default: the scenario's
    /// safety phase, divided by --speed).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Play the workload this many times faster: script times, arrival
    /// gaps, cashier delays, power-off durations. Terminal timeouts are not
    /// sped up.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// After the workload: how long the terminals have to send what is
    /// pending and settle.
    #[arg(long, default_value_t = 60_000)]
    pub closing_ms: u64,
    /// Close a connection that completes no frame for this long.
    #[arg(long, default_value_t = 300_000)]
    pub idle_timeout_ms: u64,
    /// Seeds the drawn cardholders.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub logs: super::logs::LogArgs,
}

pub fn run(args: DriveArgs) -> Result<u8> {
    let scenario = possim_sim::scenario::load::load_live(&args.scenario)
        .map_err(|error| input(error.to_string()))?;
    let target: std::net::SocketAddr =
        args.target.parse().map_err(|error| input(format!("--target {}: {error}", args.target)))?;
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= SPEED_MAX) {
        return Err(input(format!(
            "--speed {}: must be over 0 and at most {SPEED_MAX}",
            args.speed
        )));
    }
    if args.idle_timeout_ms == 0 {
        return Err(input("--idle-timeout-ms must be at least 1"));
    }
    #[allow(clippy::float_arithmetic)] // the user's speed factor, rounded to whole ms
    let workload_ms = match args.duration {
        Some(seconds) => seconds.saturating_mul(1000),
        None => (scenario.run.safety_ms as f64 / args.speed).round() as u64,
    };
    let options = FleetOptions {
        speed: args.speed,
        max_trades: args.max_trades,
        workload_ms,
        closing_ms: args.closing_ms,
        seed: args.seed,
        records_max: 0,
        line_faults: false,
    };
    let fleet = Fleet::new(&scenario, options).map_err(|error| input(error.to_string()))?;
    // With logs on, the decision log's lines are log events (target
    // possim::live) and are not written a second time.
    let log = if args.logs.install()? { LiveLog::quiet() } else { LiveLog::stderr() };
    log.line(
        "driving",
        &[
            ("target", target.to_string().into()),
            ("scenario", scenario.name.clone().into()),
            ("terminals", scenario.terminals.len().into()),
            ("speed", args.speed.into()),
        ],
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // The terminal's own timeout says "no answer"; a second on top spares a
    // slow host that is still there.
    let response_timeout_max_ms =
        scenario.terminals.iter().map(|t| t.config.response_timeout_ms).max().unwrap_or(0);
    let drive_options = DriveOptions {
        target,
        idle_timeout_ms: args.idle_timeout_ms,
        linger_ms: 300,
        first_answer_timeout_ms: response_timeout_max_ms.saturating_add(FIRST_ANSWER_MARGIN_MS),
    };
    let outcome = runtime.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        drive(fleet, drive_options, log.clone(), shutdown).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    log.line(
        "stopped",
        &[
            ("by", outcome.stopped_by.clone().into()),
            ("trades", outcome.trades_sent.into()),
            ("frames_sent", outcome.frames_sent.into()),
            ("frames_received", outcome.frames_received.into()),
            ("dials", outcome.dials.into()),
            ("host_closes", outcome.host_closes_total.into()),
        ],
    );
    let verdicts = possim_sim::live::host_verdicts(&outcome.results, &scenario);
    let facts = facts(&outcome);
    let name = format!("possim drive {}", args.scenario.display());
    let passed =
        report::finish(&name, &verdicts, &facts, outcome.wall_ms, args.out.as_deref(), &log)?;
    Ok(if passed { exit::PASS } else { exit::FAIL })
}

/// The host's part: not there fails the run; connections it closed are said.
fn facts(outcome: &DriveOutcome) -> RunFacts {
    let mut notes = outcome.host_closes.clone();
    let unsaid = outcome.host_closes_total.saturating_sub(outcome.host_closes.len() as u64);
    if unsaid > 0 {
        notes.push(format!("the host closed {unsaid} more connection(s)"));
    }
    RunFacts { peer_missing: outcome.host_missing.clone(), notes }
}
