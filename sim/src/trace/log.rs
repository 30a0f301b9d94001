//! A log line for each trace record as it is written ([`crate::logs`]):
//! the trace is where every actor event, frame and fault of a simulated
//! run passes, so one hook serves them all.

use tracing::Level;

use super::{Fate, FaultCause, FrameRecord, TraceEvent, TraceRecord};
use crate::logs::{event_label, set_clock};

/// The label of an actor event, its JSON body (less the tag the label
/// already names), and the STAN it names (read off the body, so every
/// event kind gets them).
fn decision<T: serde::Serialize>(kind: &T, tag: Option<&str>) -> (String, Detail, Option<u64>) {
    let (label, detail) = event_label(kind, tag);
    let mut body: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
    let stan = body
        .get("stan")
        .or_else(|| body.get("key").and_then(|key| key.get("stan")))
        .and_then(serde_json::Value::as_u64);
    let detail = match (tag, body.as_object_mut()) {
        (Some(tag), Some(fields)) => {
            fields.shift_remove(tag);
            if fields.is_empty() {
                String::new()
            } else {
                body.to_string()
            }
        }
        _ => detail,
    };
    (label, (!detail.is_empty()).then(|| tracing::field::display(detail)), stan)
}

/// An event's JSON body, when it has one.
type Detail = Option<tracing::field::DisplayValue<String>>;

fn fate_text(fate: &Fate) -> String {
    match fate {
        Fate::Delivered => "delivered".into(),
        Fate::Dropped => "dropped".into(),
        Fate::Delayed { by_ms } => format!("delayed {by_ms} ms"),
        Fate::Duplicated => "duplicated".into(),
        Fate::Corrupted => "corrupted".into(),
        Fate::Lost => "lost".into(),
    }
}

fn frame(frame: &FrameRecord) {
    let mti = frame.mti.as_deref().unwrap_or("????");
    let terminal = frame.terminal.as_ref().map(|id| tracing::field::display(id.trimmed()));
    let code = frame.code.as_ref().map(|code| tracing::field::display(code.as_str()));
    let (from, to, fate) = (&frame.from, &frame.to, fate_text(&frame.fate));
    if tracing::enabled!(target: "possim::frame", Level::TRACE) {
        tracing::trace!(
            target: "possim::frame",
            stan = frame.stan,
            terminal,
            amount_fen = frame.amount_fen,
            code,
            bytes = frame.bytes,
            fields = %frame.fields,
            "{mti} {from} -> {to} {fate}"
        );
    } else {
        tracing::debug!(
            target: "possim::frame",
            stan = frame.stan,
            terminal,
            amount_fen = frame.amount_fen,
            code,
            "{mti} {from} -> {to} {fate}"
        );
    }
}

fn fault_cause(cause: &FaultCause) -> String {
    match cause {
        FaultCause::Scheduled => "scheduled".into(),
        FaultCause::Profile(name) => format!("profile {name}"),
        FaultCause::Protocol(why) => format!("placed: {why}"),
        FaultCause::Swarm => "swarm".into(),
    }
}

/// Logs one trace record as it is written (the trace calls this). Does
/// nothing, and formats nothing, when its target is off.
pub(crate) fn record(record: &TraceRecord) {
    if tracing::level_filters::LevelFilter::current() == tracing::level_filters::LevelFilter::OFF {
        return;
    }
    match &record.event {
        TraceEvent::Terminal(event) => {
            if tracing::enabled!(target: "possim::terminal", Level::INFO) {
                set_clock(record.at);
                let (label, detail, stan) = decision(&event.kind, Some("event"));
                tracing::info!(target: "possim::terminal", stan, detail, "{label}");
            }
        }
        TraceEvent::Switch(event) => {
            if tracing::enabled!(target: "possim::switch", Level::INFO) {
                set_clock(record.at);
                let (label, detail, stan) = decision(&event.kind, None);
                tracing::info!(target: "possim::switch", stan, detail, "{label}");
            }
        }
        TraceEvent::Network(event) => {
            if tracing::enabled!(target: "possim::network", Level::INFO) {
                set_clock(record.at);
                let (label, detail, stan) = decision(&event.kind, None);
                tracing::info!(target: "possim::network", stan, detail, "{label}");
            }
        }
        TraceEvent::Issuer { event, .. } => {
            if tracing::enabled!(target: "possim::issuer", Level::INFO) {
                set_clock(record.at);
                let (label, detail, stan) = decision(&event.kind, None);
                tracing::info!(target: "possim::issuer", stan, detail, "{label}");
            }
        }
        TraceEvent::Frame(record_frame) => {
            if tracing::enabled!(target: "possim::frame", Level::DEBUG) {
                set_clock(record.at);
                frame(record_frame);
            }
        }
        TraceEvent::Fault(fault) => {
            if tracing::enabled!(target: "possim::fault", Level::INFO) {
                set_clock(record.at);
                let (kind, _) = event_label(&fault.kind, None);
                tracing::info!(
                    target: "possim::fault",
                    on = %fault.target,
                    cause = %fault_cause(&fault.cause),
                    "fault {kind}"
                );
            }
        }
        TraceEvent::Setup(setup) => {
            if tracing::enabled!(target: "possim::run", Level::INFO) {
                set_clock(record.at);
                tracing::info!(
                    target: "possim::run",
                    scenario = %setup.scenario,
                    seed = setup.seed,
                    terminals = setup.terminals.len(),
                    cards = setup.cards.len(),
                    "run starts"
                );
            }
        }
        TraceEvent::Phase { phase } => {
            if tracing::enabled!(target: "possim::run", Level::INFO) {
                set_clock(record.at);
                tracing::info!(target: "possim::run", "phase {}", format!("{phase:?}").to_lowercase());
            }
        }
        TraceEvent::Verdict(verdict) => {
            if tracing::enabled!(target: "possim::run", Level::INFO) {
                set_clock(record.at);
                if verdict.passed {
                    tracing::info!(target: "possim::run", invariant = %verdict.invariant, "passed");
                } else {
                    tracing::warn!(
                        target: "possim::run",
                        invariant = %verdict.invariant,
                        violations = verdict.violations,
                        "FAILED"
                    );
                }
            }
        }
    }
}

/// Live mode: an actor event of the host's elements, stamped with live
/// mode's clock (`crate::logs::live_clock`).
pub fn live_event(event: TraceEvent) {
    self::record(&TraceRecord { seq: 0, at: crate::logs::live_clock(), event });
}
