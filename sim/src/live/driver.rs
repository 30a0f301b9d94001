//! `possim drive`'s shell: one real TCP connection per terminal to the
//! host under test, dialled when the terminal first has a frame to send
//! and again after it closed (a reset, a power cut, the host hanging up).
//! One task owns the [`Fleet`], so the models stay single-threaded; each
//! connection is the same task `serve` runs for an accepted one
//! ([`listener`](super::listener)): framing with limits, a bounded outbox,
//! the idle bound.
//!
//! A host that is not there ends the run at once, not compliant: a dial
//! refused or not accepted within [`DIAL_TIMEOUT_MS`], or no frame at all
//! from the host within `first_answer_timeout_ms` of the first connection
//! (whose first frame is a sign-in). Waiting longer would only let every check judge nothing. A
//! connection the host closes is said in the report.
//!
//! Bounds: one connection per terminal; [`INPUTS_MAX`] frames waiting for
//! the fleet; [`HOST_CLOSES_SAID_MAX`] host-side closes described, the
//! rest counted.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use possim_models::iso8583::values::TerminalId;
use possim_models::time::Instant;
use tokio::sync::mpsc;

use super::connection::OUTBOX_FRAMES_MAX;
use super::fleet::{Fleet, FleetOutput, Phase};
use super::host::ConnId;
use super::host_checks::HostCheckResult;
use super::listener::{connection, Input, INPUTS_MAX};
use super::log::LiveLog;

/// A dial that does not connect within this is given up.
pub const DIAL_TIMEOUT_MS: u64 = 5_000;
/// Connections closed from the host's side described one by one.
pub const HOST_CLOSES_SAID_MAX: usize = 10;

/// How the shell runs.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    pub target: SocketAddr,
    /// A connection that completes no frame for this long is closed.
    pub idle_timeout_ms: u64,
    /// After the fleet is done, frames still arriving are read this long.
    pub linger_ms: u64,
    /// The host must have sent some frame within this long of the first
    /// connection to it, or the run ends: nobody is answering.
    pub first_answer_timeout_ms: u64,
}

/// Why the run ended, and what it saw.
#[derive(Debug)]
pub struct DriveOutcome {
    pub stopped_by: String,
    pub results: Vec<HostCheckResult>,
    pub trades_sent: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub dials: u64,
    pub dials_failed: u64,
    /// The host was not there: refused, never accepted, or never answered.
    pub host_missing: Option<String>,
    /// Connections closed from the host's side mid-run (at most
    /// [`HOST_CLOSES_SAID_MAX`] described) and how many in all.
    pub host_closes: Vec<String>,
    pub host_closes_total: u64,
    pub wall_ms: u64,
    /// What happened, as trace records, when the fleet kept them.
    pub records: Option<super::fleet::Recorder>,
}

/// How a dial ended.
#[derive(Debug)]
enum Dialled {
    Connected,
    Failed(String),
}

fn json(text: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(text.into())
}

struct Line {
    conn: ConnId,
    outbox: mpsc::Sender<super::listener::Outgoing>,
}

/// Drives the fleet against `options.target` until it is done or `shutdown`.
pub async fn drive(
    mut fleet: Fleet,
    options: DriveOptions,
    log: LiveLog,
    shutdown: impl Future<Output = ()>,
) -> DriveOutcome {
    use super::listener::Outgoing;
    let started = tokio::time::Instant::now();
    let origin = fleet.start();
    let now = move || origin + started.elapsed();
    let to_wall = move |at: Instant| {
        started + Duration::from_millis(at.as_millis().saturating_sub(origin.as_millis()))
    };
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(INPUTS_MAX);
    let mut lines: BTreeMap<TerminalId, Line> = BTreeMap::new();
    let mut owners: BTreeMap<ConnId, TerminalId> = BTreeMap::new();
    let mut next_conn: ConnId = 0;
    let mut dials = 0u64;
    let mut dials_failed = 0u64;
    let idle = Duration::from_millis(options.idle_timeout_ms);
    let far = started + Duration::from_secs(365 * 86_400);
    let mut done_at: Option<tokio::time::Instant> = None;
    // One message per dial, so the bound is the dials in flight.
    let (dial_tx, mut dial_rx) = mpsc::channel::<(ConnId, Dialled)>(INPUTS_MAX);
    let mut host_missing: Option<String> = None;
    let mut host_closes: Vec<String> = Vec::new();
    let mut host_closes_total = 0u64;
    let mut first_sent_at: Option<tokio::time::Instant> = None;
    let answer_timeout = Duration::from_millis(options.first_answer_timeout_ms);
    let seconds = move || {
        let ms = started.elapsed().as_millis();
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    };
    tokio::pin!(shutdown);
    let stopped_by = loop {
        if fleet.phase() == Phase::Done && done_at.is_none() {
            done_at = Some(tokio::time::Instant::now() + Duration::from_millis(options.linger_ms));
        }
        let deadline = fleet.poll_timeout().map(to_wall).unwrap_or(far);
        let silent_by = match first_sent_at {
            Some(sent) if fleet.frames_received == 0 => sent + answer_timeout,
            _ => far,
        };
        tokio::select! {
            biased;
            _ = &mut shutdown => break "signal".to_string(),
            dialled = dial_rx.recv() => match dialled {
                Some((_, Dialled::Connected)) => {
                    // The clock for the host's first answer starts once it is
                    // reachable: a slow dial is the dial bound's business.
                    first_sent_at.get_or_insert_with(tokio::time::Instant::now);
                }
                Some((conn, Dialled::Failed(reason))) => {
                    dials_failed += 1;
                    let mut line = format!("host at {} {reason}", options.target);
                    if fleet.frames_received > 0 {
                        line.push_str(&format!(
                            " at {}, after {} frame(s) from it: it went away mid-run",
                            seconds(),
                            fleet.frames_received
                        ));
                    }
                    log.line("host-missing", &[("conn", conn.into()), ("reason", json(line.clone()))]);
                    host_missing = Some(line);
                    break "the host is not there".to_string();
                }
                None => unreachable!("the loop holds a sender"),
            },
            _ = tokio::time::sleep_until(silent_by) => {
                let line = format!(
                    "host at {} answered nothing within {} ms of the first connection",
                    options.target, options.first_answer_timeout_ms
                );
                log.line("host-missing", &[("reason", json(line.clone()))]);
                host_missing = Some(line);
                break "the host is not there".to_string();
            }
            _ = tokio::time::sleep_until(done_at.unwrap_or(far)) => {
                break "the fleet settled or reached its bounds".to_string()
            }
            input = input_rx.recv() => match input {
                Some(Input::Frame { conn, bytes }) => {
                    if let Some(&terminal) = owners.get(&conn) {
                        fleet.on_frame(now(), terminal, &bytes);
                    }
                }
                Some(Input::Closed { conn }) => {
                    if let Some(terminal) = owners.remove(&conn) {
                        // Still the terminal's line: the fleet did not close
                        // it, the other side (or the idle bound) did.
                        if lines.get(&terminal).is_some_and(|line| line.conn == conn) {
                            lines.remove(&terminal);
                            host_closes_total += 1;
                            if host_closes.len() < HOST_CLOSES_SAID_MAX {
                                host_closes.push(format!(
                                    "the host closed terminal {}'s connection at {}",
                                    terminal.trimmed(),
                                    seconds()
                                ));
                            }
                        }
                        fleet.on_closed(now(), terminal);
                    }
                }
                None => unreachable!("the loop holds a sender"),
            },
            _ = tokio::time::sleep_until(deadline) => fleet.on_timeout(now()),
        }
        fleet.check_bounds(now());
        while let Some(output) = fleet.poll_output() {
            match output {
                FleetOutput::Send { terminal, bytes } => {
                    if let std::collections::btree_map::Entry::Vacant(vacant) =
                        lines.entry(terminal)
                    {
                        next_conn += 1;
                        dials += 1;
                        let conn = next_conn;
                        let (out_tx, out_rx) = mpsc::channel(OUTBOX_FRAMES_MAX);
                        vacant.insert(Line { conn, outbox: out_tx });
                        owners.insert(conn, terminal);
                        log.line(
                            "dial",
                            &[("conn", conn.into()), ("terminal", json(terminal.trimmed()))],
                        );
                        let input = input_tx.clone();
                        let dialled_tx = dial_tx.clone();
                        let log = log.clone();
                        let target = options.target;
                        let span =
                            crate::logs::peer_span(|| target.to_string(), Some(terminal.trimmed()));
                        let task = async move {
                            let dialled = tokio::time::timeout(
                                Duration::from_millis(DIAL_TIMEOUT_MS),
                                tokio::net::TcpStream::connect(target),
                            )
                            .await;
                            match dialled {
                                Ok(Ok(stream)) => {
                                    let _ = stream.set_nodelay(true);
                                    let _ = dialled_tx.send((conn, Dialled::Connected)).await;
                                    connection(conn, stream, input, out_rx, idle, log).await
                                }
                                Ok(Err(error)) => {
                                    log.line(
                                        "dial-failed",
                                        &[
                                            ("conn", conn.into()),
                                            ("reason", json(error.to_string())),
                                        ],
                                    );
                                    let reason = match error.kind() {
                                        std::io::ErrorKind::ConnectionRefused => {
                                            "refused the connection".to_string()
                                        }
                                        _ => format!("could not be reached: {error}"),
                                    };
                                    let _ = dialled_tx.send((conn, Dialled::Failed(reason))).await;
                                }
                                Err(_) => {
                                    log.line(
                                        "dial-failed",
                                        &[("conn", conn.into()), ("reason", json("timed out"))],
                                    );
                                    let reason = format!(
                                        "did not accept the connection within {DIAL_TIMEOUT_MS} ms"
                                    );
                                    let _ = dialled_tx.send((conn, Dialled::Failed(reason))).await;
                                }
                            }
                        };
                        tokio::spawn(tracing::Instrument::instrument(task, span));
                    }
                    let line = lines.get(&terminal).expect("dialled above");
                    if line.outbox.try_send(Outgoing::Frame(bytes)).is_err() {
                        log.line(
                            "lost",
                            &[
                                ("terminal", json(terminal.trimmed())),
                                ("reason", json("connection gone or its outbox full")),
                            ],
                        );
                    }
                }
                FleetOutput::Close { terminal, reason } => {
                    if let Some(line) = lines.remove(&terminal) {
                        let _ = line.outbox.try_send(Outgoing::Close(reason));
                    }
                }
                FleetOutput::Log { event, fields } => log.line(event, &fields),
            }
        }
    };
    for line in lines.values() {
        let _ = line.outbox.try_send(Outgoing::Close("the run ended".into()));
    }
    let results = fleet.finish(now());
    let records = fleet.take_records();
    DriveOutcome {
        records,
        stopped_by,
        results,
        trades_sent: fleet.trades_sent,
        frames_sent: fleet.frames_sent,
        frames_received: fleet.frames_received,
        dials,
        dials_failed,
        host_missing,
        host_closes,
        host_closes_total,
        wall_ms: started.elapsed().as_millis() as u64,
    }
}
