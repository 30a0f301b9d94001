//! `possim serve`'s shell: accept real TCP connections, frame them
//! ([`connection`](super::connection)), and drive the [`LiveHost`] on wall
//! time. One task owns the host, so the models stay single-threaded; each
//! connection is a task that reads frames in and writes frames out through a
//! bounded outbox.
//!
//! Bounds: `connections_max` open connections, `connections_per_peer_max`
//! per IP address, a deadline to authenticate and an idle deadline counted
//! from the last frame the host accepted, all kept by [`Admission`] (a full
//! table evicts its oldest unauthenticated connection, so a terminal always
//! gets in); per connection one partial frame of at most 2,048 bytes plus
//! one 1,024-byte read chunk, and [`OUTBOX_FRAMES_MAX`] frames waiting to be
//! written; [`INPUTS_MAX`] frames waiting for the host. A frame still queued
//! from a connection already closed is dropped unread, so nothing binds to
//! a connection that is gone.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::admission::{Admission, AdmissionOptions, Admit};
use super::connection::{FrameBuffer, OUTBOX_FRAMES_MAX, READ_CHUNK_BYTES};
use super::host::{ConnId, FrameVerdict, HostOutput, LiveHost};
use super::log::LiveLog;
use super::terminal_checks::CheckResult;
use possim_models::iso8583::values::TerminalId;
use possim_models::time::Instant;

/// Frames from all connections waiting for the host.
pub const INPUTS_MAX: usize = 4096;

/// How `serve` runs and when it stops.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A connection is closed this long after the last frame the host
    /// accepted (or after opening, before any), and one that completes no
    /// frame at all for this long.
    pub idle_timeout_ms: u64,
    /// A connection none of whose frames carried a MAC the switch accepts
    /// within this long of opening is closed: sign-in and echo need no
    /// keys, so they hold a slot only this long.
    pub auth_deadline_ms: u64,
    pub connections_max: usize,
    /// Connections one IP address may hold; see [`Admission`].
    pub connections_per_peer_max: usize,
    /// Stop once this many online trades arrived and the terminals went quiet.
    pub max_trades: Option<u64>,
    /// Stop after this long, whatever happens.
    pub duration_ms: Option<u64>,
    /// "Quiet": no frame for this long plus the terminals' longest response
    /// timeout (a terminal waiting out a withheld answer is not done), or no
    /// connection left.
    pub linger_ms: u64,
    /// Stop, not compliant, when no terminal of the scenario has sent a
    /// message within this long of the start: waiting for a peer that never
    /// comes must end too.
    pub connect_timeout_ms: u64,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            idle_timeout_ms: 300_000,
            auth_deadline_ms: 60_000,
            connections_max: 2048,
            connections_per_peer_max: 64,
            max_trades: None,
            duration_ms: None,
            linger_ms: 3_000,
            connect_timeout_ms: 600_000,
        }
    }
}

/// Why the run ended, and what it saw.
#[derive(Debug)]
pub struct ServeOutcome {
    pub stopped_by: String,
    pub results: Vec<CheckResult>,
    pub trades_received: u64,
    pub frames_received: u64,
    pub frames_rejected: u64,
    pub connections_accepted: u64,
    pub connections_refused: u64,
    /// Unauthenticated connections closed to make room for a new one.
    pub connections_evicted: u64,
    pub connections_open_max: usize,
    /// Scenario terminals that sent a message; 0: no terminal connected.
    pub terminals_seen: usize,
    /// Terminals whose connection the peer closed (or that fell silent past
    /// the idle bound) and that sent nothing after: (terminal, ms since the
    /// start).
    pub terminals_gone: Vec<(TerminalId, u64)>,
    pub wall_ms: u64,
}

/// What a connection task tells its owner (serve's host loop, drive's fleet loop).
#[derive(Debug)]
pub(crate) enum Input {
    Frame { conn: ConnId, bytes: Vec<u8> },
    Closed { conn: ConnId },
}

/// What the owner asks of a connection task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame(Vec<u8>),
    Close(String),
}

fn json(text: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(text.into())
}

/// The open connections: the admission table and each one's outbox.
struct Table {
    admission: Admission,
    outboxes: BTreeMap<ConnId, mpsc::Sender<Outgoing>>,
}

impl Table {
    /// Closes `conn` (its task writes what is queued, then hangs up) and
    /// frees everything it held; idempotent.
    fn close(&mut self, host: &mut LiveHost, conn: ConnId, reason: String) {
        if let Some(tx) = self.outboxes.remove(&conn) {
            let _ = tx.try_send(Outgoing::Close(reason));
        }
        self.admission.on_closed(conn);
        host.on_closed(conn);
    }
}

/// Serves until `shutdown` resolves or a bound in `options` is reached.
pub async fn serve(
    listener: TcpListener,
    mut host: LiveHost,
    options: ServeOptions,
    log: LiveLog,
    shutdown: impl Future<Output = ()>,
) -> ServeOutcome {
    let started = tokio::time::Instant::now();
    let origin = host.start();
    let now = move || origin + started.elapsed();
    let to_wall = move |at: Instant| {
        started + Duration::from_millis(at.as_millis().saturating_sub(origin.as_millis()))
    };
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(INPUTS_MAX);
    let mut table = Table {
        admission: Admission::new(AdmissionOptions {
            connections_max: options.connections_max,
            connections_per_peer_max: options.connections_per_peer_max,
            idle_timeout_ms: options.idle_timeout_ms,
            auth_deadline_ms: options.auth_deadline_ms,
        }),
        outboxes: BTreeMap::new(),
    };
    let mut next_conn: ConnId = 0;
    let mut accepted = 0u64;
    let mut refused = 0u64;
    let mut evicted = 0u64;
    let mut open_max = 0usize;
    // The last frame the host accepted: hostile noise must not keep a
    // finished run from ending.
    let mut last_frame = tokio::time::Instant::now();
    let idle = Duration::from_millis(options.idle_timeout_ms);
    let end = options.duration_ms.map(|ms| started + Duration::from_millis(ms));
    let connect_by = started + Duration::from_millis(options.connect_timeout_ms);
    // Terminals whose last connection closed from the peer's side, with the
    // connection and when; bounded by the scenario's terminals.
    let mut gone: BTreeMap<TerminalId, (ConnId, u64)> = BTreeMap::new();
    let far = started + Duration::from_secs(365 * 86_400);
    tokio::pin!(shutdown);
    for fault in host.faults().not_applicable() {
        log.line(
            "fault-skipped",
            &[
                ("kind", json(fault.kind_name())),
                ("reason", json("a terminal-side fault: possim drive applies it")),
            ],
        );
    }
    let stopped_by = loop {
        let host_deadline = host.poll_timeout().map(to_wall);
        let admission_deadline = table.admission.poll_timeout().map(to_wall);
        let quiet_at =
            last_frame + Duration::from_millis(options.linger_ms + host.timeout_max_ms());
        let trades_done = options.max_trades.is_some_and(|max| host.trades_received >= max);
        if trades_done && (table.admission.is_empty() || tokio::time::Instant::now() >= quiet_at) {
            break format!(
                "max-trades {} reached and the terminals went quiet",
                host.trades_received
            );
        }
        // Not biased: under a flood of frames a biased loop never reached
        // accept, the kernel's backlog overflowed, and new connections (a
        // terminal's among them) hung half-open.
        let waiting_for_terminal = host.terminals_seen() == 0;
        tokio::select! {
            _ = &mut shutdown => break "signal".to_string(),
            _ = tokio::time::sleep_until(end.unwrap_or(far)) => break "duration".to_string(),
            _ = tokio::time::sleep_until(if waiting_for_terminal { connect_by } else { far }) => {
                break "connect-timeout".to_string()
            }
            input = input_rx.recv() => match input {
                // A connection closed already may still have frames queued.
                Some(Input::Frame { conn, bytes }) if table.admission.contains(conn) => {
                    host.on_frame(now(), conn, &bytes);
                }
                Some(Input::Frame { .. }) => {}
                Some(Input::Closed { conn }) => {
                    // Still admitted: the peer hung up (or its task's own
                    // bounds closed it), not the host.
                    if table.admission.contains(conn) {
                        let at_ms = started.elapsed().as_millis() as u64;
                        for terminal in host.terminals_last_on(conn) {
                            gone.insert(terminal, (conn, at_ms));
                        }
                    }
                    table.close(&mut host, conn, "closed".into());
                }
                None => unreachable!("the loop holds a sender"),
            },
            accept = listener.accept() => match accept {
                Ok((stream, peer)) => {
                    next_conn += 1;
                    let conn = next_conn;
                    match table.admission.admit(now(), conn, peer.ip()) {
                        Admit::Refuse(reason) => {
                            refused += 1;
                            log.line("reject", &[
                                ("conn", conn.into()),
                                ("peer", json(peer.to_string())),
                                ("reason", json(reason)),
                            ]);
                            drop(stream);
                        }
                        Admit::Accept { evicted: eviction } => {
                            accepted += 1;
                            let (out_tx, out_rx) = mpsc::channel(OUTBOX_FRAMES_MAX);
                            table.outboxes.insert(conn, out_tx);
                            if let Some((old, reason)) = eviction {
                                evicted += 1;
                                log.line("evict", &[("conn", old.into()), ("reason", json(reason.clone()))]);
                                table.close(&mut host, old, reason);
                            }
                            open_max = open_max.max(table.outboxes.len());
                            log.line("connected", &[("conn", conn.into()), ("peer", json(peer.to_string()))]);
                            let span = crate::logs::peer_span(|| peer.to_string(), None);
                            let task = connection(conn, stream, input_tx.clone(), out_rx, idle, log.clone());
                            tokio::spawn(tracing::Instrument::instrument(task, span));
                        }
                    }
                }
                Err(error) => log.line("accept-error", &[("reason", json(error.to_string()))]),
            },
            _ = tokio::time::sleep_until(host_deadline.unwrap_or(far)) => host.on_timeout(now()),
            _ = tokio::time::sleep_until(admission_deadline.unwrap_or(far)) => {
                for (conn, reason) in table.admission.on_timeout(now()) {
                    log.line("reject", &[("conn", conn.into()), ("reason", json(reason.clone()))]);
                    table.close(&mut host, conn, reason);
                }
            }
            _ = tokio::time::sleep_until(if trades_done { quiet_at } else { far }) => {}
        }
        // Every output the host produced goes out before the next input.
        while let Some(output) = host.poll_output() {
            match output {
                HostOutput::Send { conn, bytes } => {
                    let queued =
                        table.outboxes.get(&conn).map(|tx| tx.try_send(Outgoing::Frame(bytes)));
                    if !matches!(queued, Some(Ok(()))) {
                        log.line(
                            "lost",
                            &[
                                ("conn", conn.into()),
                                ("reason", json("connection gone or its outbox full")),
                            ],
                        );
                    }
                }
                HostOutput::Close { conn, reason } => table.close(&mut host, conn, reason),
                HostOutput::Judged { conn, verdict } => {
                    if matches!(verdict, FrameVerdict::Accepted | FrameVerdict::Authenticated) {
                        last_frame = tokio::time::Instant::now();
                    }
                    if let Some(reason) = table.admission.on_verdict(now(), conn, verdict) {
                        log.line(
                            "reject",
                            &[("conn", conn.into()), ("reason", json(reason.clone()))],
                        );
                        table.close(&mut host, conn, reason);
                    }
                }
                HostOutput::Log { event, fields } => log.line(event, &fields),
            }
        }
        assert_eq!(
            table.admission.len(),
            table.outboxes.len(),
            "one outbox per admitted connection"
        );
    };
    for tx in table.outboxes.values() {
        let _ = tx.try_send(Outgoing::Close("the run ended".into()));
    }
    let results = host.watch_mut().finish(now());
    let terminals_gone = gone
        .into_iter()
        .filter(|(terminal, (conn, _))| host.last_spoke_on(*terminal, *conn))
        .map(|(terminal, (_, at_ms))| (terminal, at_ms))
        .collect();
    ServeOutcome {
        stopped_by,
        results,
        trades_received: host.trades_received,
        frames_received: host.frames_received,
        frames_rejected: host.frames_rejected,
        connections_accepted: accepted,
        connections_refused: refused,
        connections_evicted: evicted,
        connections_open_max: open_max,
        terminals_seen: host.terminals_seen(),
        terminals_gone,
        wall_ms: started.elapsed().as_millis() as u64,
    }
}

/// One connection: frames in to its owner, frames out from its outbox;
/// shared by `serve` (accepted connections) and `drive` (dialled ones).
pub(crate) async fn connection(
    conn: ConnId,
    stream: TcpStream,
    input: mpsc::Sender<Input>,
    mut outbox: mpsc::Receiver<Outgoing>,
    idle: Duration,
    log: LiveLog,
) {
    let (mut reader, mut writer) = stream.into_split();
    let mut framer = FrameBuffer::new();
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    let mut deadline = tokio::time::Instant::now() + idle;
    // (reason, whether it refused the peer's input)
    let (reason, rejected) = 'conn: loop {
        tokio::select! {
            out = outbox.recv() => match out {
                Some(Outgoing::Frame(bytes)) => {
                    crate::logs::live_frame(conn, false, &bytes);
                    match tokio::time::timeout(idle, writer.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => break (format!("write failed: {error}"), false),
                        Err(_) => break ("the peer reads nothing: write timed out".into(), true),
                    }
                }
                Some(Outgoing::Close(reason)) => break (reason, false),
                None => break ("the host closed it".into(), false),
            },
            read = reader.read(&mut chunk) => match read {
                Ok(0) if framer.pending_bytes() > 0 => break (
                    format!("peer closed mid-frame ({} bytes of a frame buffered)", framer.pending_bytes()),
                    true,
                ),
                Ok(0) => break ("peer closed".into(), false),
                Ok(read) => match framer.push(&chunk[..read]) {
                    Ok(frames) => {
                        for bytes in frames {
                            crate::logs::live_frame(conn, true, &bytes);
                            deadline = tokio::time::Instant::now() + idle;
                            if input.send(Input::Frame { conn, bytes }).await.is_err() {
                                break 'conn ("the host stopped".into(), false);
                            }
                        }
                    }
                    Err(error) => break (format!("framing: {error}"), true),
                },
                Err(error) => break (format!("read failed: {error}"), false),
            },
            _ = tokio::time::sleep_until(deadline) => break (
                format!(
                    "no whole frame within {} ms ({} bytes of a frame pending)",
                    idle.as_millis(),
                    framer.pending_bytes()
                ),
                true,
            ),
        }
    };
    let event = if rejected { "reject" } else { "closed" };
    log.line(event, &[("conn", conn.into()), ("reason", json(reason))]);
    let _ = writer.shutdown().await;
    let _ = input.send(Input::Closed { conn }).await;
}
