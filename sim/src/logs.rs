//! Logs a bug reporter can paste: `tracing` events for every decision an
//! actor takes, every frame on a line and every fault, inside spans naming
//! the host, the actor and the terminal, rendered by `tracing-subscriber`
//! with the *simulated* clock as the time stamp.
//!
//! What is logged, by target (a filter names them, `RUST_LOG` syntax):
//!
//! | target | level | what |
//! |---|---|---|
//! | `possim::run` | info | the run's setup, its phases; each verdict (warn when failed) |
//! | `possim::terminal`, `possim::switch`, `possim::network`, `possim::issuer` | info | each event the actor emits: a decision (approved, reversal stored, refused, ...) |
//! | `possim::fault` | info | each fault injected, its target and cause |
//! | `possim::frame` | debug | each frame on a link: MTI, STAN, terminal, amount, response code, fate; at trace also its other fields (masked) |
//! | `possim::live` | info | live mode's decision log (`serve`, `drive`) |
//!
//! Spans: `host{name=...}` (a turmoil host; in live mode the peer's address
//! for its frames, `possim` for possim's own elements), inside it the actor
//! (`terminal{id=...}`, `switch`, `network`, `issuer{index=...}`). Live
//! mode's frames also name their connection (`conn`).
//!
//! **Zero cost when off.** With no filter given no subscriber is installed,
//! tracing's global level stays `OFF`, and every call here returns after one
//! relaxed load: nothing is formatted, no span is built, no host name is
//! looked up. Logging never draws randomness nor changes an order, so a run
//! logs the same trace hash as without logs (`sim/tests/logs.rs`).
//!
//! The time stamp is the business clock of the record being logged, as the
//! trace's `time` prints it (`h:mm:ss.mmm` from midnight of the first day;
//! hours run on past 24). It is kept per thread, so the worker threads of a
//! sweep each stamp their own run.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use possim_models::actor::Node;
use possim_models::time::Instant;
use tracing::{Level, Span};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The target of the host and actor spans.
const SPANS_TARGET: &str = "possim::world";

/// The environment variable read when no `--log` flag is given.
pub const LOG_ENV: &str = "RUST_LOG";

thread_local! {
    /// The simulated clock of the last record logged on this thread.
    static CLOCK_MS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Live mode's clock: when the command installed its logs (or first
/// stamped a live line).
static LIVE_EPOCH: OnceLock<std::time::Instant> = OnceLock::new();

/// Live mode's time stamp: wall time since [`LIVE_EPOCH`], one clock for
/// the connections, the decision log and the host's elements alike.
pub fn live_clock() -> Instant {
    let epoch = LIVE_EPOCH.get_or_init(std::time::Instant::now);
    Instant::from_millis(epoch.elapsed().as_millis() as u64)
}

/// Sets this thread's log clock (called only when something is logged).
pub fn set_clock(at: Instant) {
    CLOCK_MS.with(|clock| clock.set(Some(at.as_millis())));
}

/// Time stamps from the simulated clock ([`set_clock`]), not the wall's;
/// `-` on a thread that has logged no record yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match CLOCK_MS.with(Cell::get) {
            Some(ms) => write!(w, "{}", Instant::from_millis(ms)),
            None => w.write_str("-"),
        }
    }
}

/// How log lines are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line per event: time, level, spans, target, message, fields.
    #[default]
    Text,
    /// One JSON object per line, spans included.
    Json,
}

/// The filter in force: the flag's when given, else `RUST_LOG`'s when set
/// and not empty, else none (and then no subscriber at all).
pub fn filter_text(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string)
        .or_else(|| std::env::var(LOG_ENV).ok())
        .filter(|text| !text.trim().is_empty())
}

/// A subscriber writing to `writer` with `filter`'s directives.
pub fn subscriber<W>(
    filter: &str,
    format: LogFormat,
    writer: W,
) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // The actor spans are on whenever logs are: a filter naming one target
    // (`possim::frame=debug`) still shows whose frame it is.
    let filter = EnvFilter::builder()
        .parse(format!("{filter},{SPANS_TARGET}=info"))
        .map_err(|error| format!("log filter {filter:?}: {error}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_writer(writer)
        .with_ansi(false);
    Ok(match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().with_current_span(true).finish()),
    })
}

/// Installs the process's subscriber, on stderr, when a filter is given
/// (`--log`, else `RUST_LOG`). Whether one was installed.
pub fn install(flag: Option<&str>, format: LogFormat) -> Result<bool, String> {
    let Some(filter) = filter_text(flag) else { return Ok(false) };
    LIVE_EPOCH.get_or_init(std::time::Instant::now);
    let subscriber = subscriber(&filter, format, std::io::stderr)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|error| format!("installing the log subscriber: {error}"))?;
    Ok(true)
}

/// The variant's name and body of a serde enum value: internally tagged by
/// `tag` (terminal events) or externally tagged (everything else).
fn parts(value: &serde_json::Value, tag: Option<&str>) -> (String, serde_json::Value) {
    if let Some(tag) = tag {
        let name = value.get(tag).and_then(|n| n.as_str()).unwrap_or("event").to_string();
        return (name, value.clone());
    }
    match value {
        serde_json::Value::String(name) => (name.clone(), serde_json::Value::Null),
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (name, body) = map.iter().next().expect("one entry");
            (name.clone(), body.clone())
        }
        other => ("event".to_string(), other.clone()),
    }
}

/// (label, detail) of an event kind, read off its JSON form so every kind
/// gets one without a table to keep in step with the models: `reversal
/// queued rc 98`, `moved -1,625.28`; the detail is the JSON body. Shared by
/// the log lines and the report's charts.
pub fn event_label<T: serde::Serialize>(kind: &T, tag: Option<&str>) -> (String, String) {
    let value = serde_json::to_value(kind).unwrap_or(serde_json::Value::Null);
    let (name, body) = parts(&value, tag);
    let mut label = name.replace('_', " ");
    let field = |key: &str| body.get(key);
    if let Some(code) = field("code").and_then(|c| c.as_str()) {
        label.push_str(&format!(" rc {code}"));
    }
    if let Some(reason) = field("reason").and_then(|r| r.as_str()) {
        label.push_str(&format!(" ({})", reason.replace('_', " ")));
    }
    if let Some(state) = field("state").and_then(|s| s.as_str()) {
        label.push_str(&format!(" {}", state.replace('_', " ")));
    }
    if let Some(attempt) = field("attempt").and_then(|a| a.as_u64()) {
        label.push_str(&format!(", try {attempt}"));
    }
    if let Some(delta) = field("delta_fen").and_then(|d| d.as_i64()) {
        let purse = field("purse").and_then(|p| p.as_str()).unwrap_or("");
        label.push_str(&format!(
            " {}{} ({purse})",
            if delta > 0 { "+" } else { "" },
            possim_reports::format::fen(delta)
        ));
    }
    let detail = if body.is_null() { String::new() } else { body.to_string() };
    (label, detail)
}

/// Whether any actor span could be recorded: checked before a host name
/// is looked up for one.
pub fn spans_on() -> bool {
    tracing::enabled!(target: SPANS_TARGET, Level::INFO)
}

/// The span of `node`'s actor on `host`: `host{name}` with the actor's span
/// inside it. Disabled (and free) when logging is off; `host` is only
/// called when it is on.
pub fn actor_span(node: Node, host: impl FnOnce() -> String) -> (Span, Span) {
    if !spans_on() {
        return (Span::none(), Span::none());
    }
    let host = tracing::info_span!(target: SPANS_TARGET, "host", name = %host());
    let actor = match node {
        Node::Terminal(id) => {
            tracing::info_span!(target: SPANS_TARGET, parent: &host, "terminal", id = %id.trimmed())
        }
        Node::Switch => tracing::info_span!(target: SPANS_TARGET, parent: &host, "switch"),
        Node::Network => tracing::info_span!(target: SPANS_TARGET, parent: &host, "network"),
        Node::Issuer(index) => {
            tracing::info_span!(target: SPANS_TARGET, parent: &host, "issuer", index)
        }
    };
    (host, actor)
}

/// Runs `body` inside `node`'s span (when logging is on).
pub fn in_actor<T>(node: Node, host: impl FnOnce() -> String, body: impl FnOnce() -> T) -> T {
    if !spans_on() {
        return body();
    }
    let (_host, actor) = actor_span(node, host);
    actor.in_scope(body)
}

/// Live mode: the span of a connection to `peer` (the address at its other
/// end), and of the terminal it carries when that is known (`drive` dials
/// one connection per terminal). Disabled when logging is off.
pub fn peer_span(peer: impl FnOnce() -> String, terminal: Option<&str>) -> Span {
    if !spans_on() {
        return Span::none();
    }
    let host = tracing::info_span!(target: SPANS_TARGET, "host", name = %peer());
    match terminal {
        Some(id) => tracing::info_span!(target: SPANS_TARGET, parent: &host, "terminal", id = %id),
        None => host,
    }
}

/// Live mode: a frame read from (`inbound`) or written to connection `conn`.
pub fn live_frame(conn: u64, inbound: bool, bytes: &[u8]) {
    if !tracing::enabled!(target: "possim::frame", Level::DEBUG) {
        return;
    }
    set_clock(live_clock());
    let facts = crate::frame_facts::FrameFacts::of(bytes);
    let mti = facts.mti.as_deref().unwrap_or("????");
    let terminal = facts.terminal.as_ref().map(|id| tracing::field::display(id.trimmed()));
    let code = facts.code.as_ref().map(|code| tracing::field::display(code.as_str()));
    let way = if inbound { "read" } else { "written" };
    tracing::debug!(
        target: "possim::frame",
        conn,
        stan = facts.stan,
        terminal,
        amount_fen = facts.amount_fen,
        code,
        bytes = facts.bytes,
        "{mti} {way}"
    );
}

/// Live mode: one line of the decision log (`live::log`).
pub fn live_line(event: &str, fields: &str) {
    if !tracing::enabled!(target: "possim::live", Level::INFO) {
        return;
    }
    set_clock(live_clock());
    tracing::info!(target: "possim::live", fields = %fields, "{event}");
}

/// Whether an actor event would be logged: checked before one is built.
pub fn actor_events_on() -> bool {
    tracing::level_filters::LevelFilter::current() >= Level::INFO
}
