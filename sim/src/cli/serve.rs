//! `possim serve`: possim plays switch, network and issuers for a real
//! terminal on a TCP socket, applies the scenario's fault plan to its
//! answers, and checks what the terminal does. Exit 0 compliant, 1 not (a
//! check failed or a selected one was not exercised, or no terminal
//! connected), 2 bad input.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_sim::live::host::LiveHost;
use possim_sim::live::listener::ServeOutcome;
use possim_sim::live::listener::{serve, ServeOptions};
use possim_sim::live::log::LiveLog;
use possim_sim::live::report::{self, RunFacts};

use super::exit;
use super::frame::input;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The scenario: its terminal registry, keys, issuers, cards and faults.
    pub scenario: PathBuf,
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:5800")]
    pub listen: String,
    /// Write summary.md, junit.xml, report.html and decisions.jsonl here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Stop once this many online trades arrived and the terminals went quiet.
    #[arg(long)]
    pub max_trades: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Close a connection that completes no frame for this long.
    #[arg(long, default_value_t = 300_000)]
    pub idle_timeout_ms: u64,
    /// Close a connection that has sent no frame with a MAC the switch
    /// accepts within this long of opening (sign-in and echo need no keys).
    #[arg(long, default_value_t = 60_000)]
    pub auth_deadline_ms: u64,
    /// Open connections at most; when full, a new one takes the place of
    /// the oldest not yet authenticated, or is closed if every one is.
    #[arg(long, default_value_t = 2048)]
    pub max_connections: usize,
    /// Open connections one IP address may hold (raise it for terminals
    /// behind one NAT or concentrator).
    #[arg(long, default_value_t = 64)]
    pub connections_per_peer_max: usize,
    /// With --max-trades: how long without a frame counts as quiet.
    #[arg(long, default_value_t = 3_000)]
    pub linger_ms: u64,
    /// End the run, not compliant, if no terminal of the scenario has sent
    /// a message within this long.
    #[arg(long, default_value_t = 600_000)]
    pub connect_timeout_ms: u64,
    #[command(flatten)]
    pub logs: super::logs::LogArgs,
}

pub fn run(args: ServeArgs) -> Result<u8> {
    let scenario = possim_sim::scenario::load::load_live(&args.scenario)
        .map_err(|error| input(error.to_string()))?;
    let address: std::net::SocketAddr =
        args.listen.parse().map_err(|error| input(format!("--listen {}: {error}", args.listen)))?;
    if args.max_connections == 0
        || args.idle_timeout_ms == 0
        || args.auth_deadline_ms == 0
        || args.connections_per_peer_max == 0
        || args.connect_timeout_ms == 0
    {
        return Err(input(
            "--max-connections, --connections-per-peer-max, --idle-timeout-ms, \
             --auth-deadline-ms and --connect-timeout-ms must be at least 1",
        ));
    }
    let host = LiveHost::new(&scenario).map_err(|error| input(error.to_string()))?;
    let options = ServeOptions {
        idle_timeout_ms: args.idle_timeout_ms,
        auth_deadline_ms: args.auth_deadline_ms,
        connections_max: args.max_connections,
        connections_per_peer_max: args.connections_per_peer_max,
        max_trades: args.max_trades,
        duration_ms: args.duration.map(|s| s.saturating_mul(1000)),
        linger_ms: args.linger_ms,
        connect_timeout_ms: args.connect_timeout_ms,
    };
    // With logs on, the decision log's lines are log events (target
    // possim::live) and are not written a second time.
    let log = if args.logs.install()? { LiveLog::quiet() } else { LiveLog::stderr() };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = runtime.block_on(async {
        // A backlog as deep as the connection table: a burst of connects
        // waits for accept rather than hanging half-open in the kernel.
        let backlog = u32::try_from(options.connections_max).unwrap_or(u32::MAX);
        let listener = listen(address, backlog)
            .map_err(|error| input(format!("cannot listen on {address}: {error}")))?;
        let bound = listener.local_addr()?;
        log.line(
            "listening",
            &[
                ("addr", bound.to_string().into()),
                ("scenario", scenario.name.clone().into()),
                ("terminals", scenario.terminals.len().into()),
            ],
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        anyhow::Ok(serve(listener, host, options, log.clone(), shutdown).await)
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    log.line(
        "stopped",
        &[
            ("by", outcome.stopped_by.clone().into()),
            ("trades", outcome.trades_received.into()),
            ("frames", outcome.frames_received.into()),
            ("rejected", outcome.frames_rejected.into()),
            ("connections", outcome.connections_accepted.into()),
            ("refused", outcome.connections_refused.into()),
            ("evicted", outcome.connections_evicted.into()),
            ("open_max", outcome.connections_open_max.into()),
            ("terminals", outcome.terminals_seen.into()),
        ],
    );
    let verdicts = possim_sim::live::terminal_verdicts(&outcome.results, &scenario);
    let facts = facts(&outcome);
    let name = format!("possim serve {}", args.scenario.display());
    let passed =
        report::finish(&name, &verdicts, &facts, outcome.wall_ms, args.out.as_deref(), &log)?;
    Ok(if passed { exit::PASS } else { exit::FAIL })
}

/// The peer's part: a run no terminal took part in is not compliant,
/// whatever its checks say; a terminal that hung up and never came back is
/// said.
fn facts(outcome: &ServeOutcome) -> RunFacts {
    let seconds = |ms: u64| format!("{}.{:03} s", ms / 1000, ms % 1000);
    let peer_missing = (outcome.terminals_seen == 0).then(|| {
        // Whole seconds: the run's length is what the operator set, give or take
        // the shutdown.
        let whole_seconds = (outcome.wall_ms + 500) / 1000;
        let mut line = format!("no terminal connected within {whole_seconds} s");
        if outcome.connections_accepted > 0 {
            line.push_str(&format!(
                " ({} connection(s) opened, none carried a message from a terminal of the \
                 scenario)",
                outcome.connections_accepted
            ));
        }
        line
    });
    let notes = outcome
        .terminals_gone
        .iter()
        .map(|(terminal, at_ms)| {
            format!(
                "terminal {} disconnected at {} and sent nothing after",
                terminal.trimmed(),
                seconds(*at_ms)
            )
        })
        .collect();
    RunFacts { peer_missing, notes }
}

fn listen(address: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}
