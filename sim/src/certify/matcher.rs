//! Matching a case's steps against a run's trace, in order.
//!
//! Each trace record becomes an [`Event`]: a source (`terminal`, `switch`,
//! `network`, `issuer`, `frame`, `fault`, `phase`, `verdict`), an event
//! name, and its fields as JSON. Steps are an ordered subsequence: each
//! positive step must be found after the previous step's event; a `never`
//! step must find no matching event from there to its `until` (which then
//! becomes the position), to `within_ms` after the previous event, or to the
//! end. The first step not satisfied is the deviation, with the events that
//! came instead nearby. A `never` step the run never reached (the trace
//! ended at the previous step, so its window held nothing to judge) is a
//! deviation too: "not exercised", not a pass.
//!
//! ```
//! use possim_sim::certify::case::Step;
//! use possim_sim::certify::matcher::{match_steps, Event};
//! let event = |seq: u64, name: &str, stan: u64| Event {
//!     seq, at_ms: seq * 10, source: "terminal", name: name.into(),
//!     fields: serde_json::json!({"stan": stan}), line: String::new(),
//! };
//! let events = vec![event(1, "trade_started", 2), event(2, "reversal_sent", 2)];
//! let step = |name: &str| Step { terminal: Some(name.into()), ..Step::default() };
//! assert!(match_steps(&[step("trade_started"), step("reversal_sent")], &events).is_ok());
//! let deviation = match_steps(&[step("reversal_sent"), step("trade_started")], &events).unwrap_err();
//! assert_eq!(deviation.step, 2);
//! ```

use serde_json::Value;

use super::case::{compact, Pattern, Step};
use crate::trace::{Trace, TraceEvent, TraceRecord};

/// Events shown around a deviation.
const NEARBY_MAX: usize = 4;

/// One trace record, normalised for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    /// Milliseconds since the safety phase began.
    pub at_ms: u64,
    pub source: &'static str,
    pub name: String,
    /// The event's fields (an object).
    pub fields: Value,
    /// The record's JSON line, for `text` patterns.
    pub line: String,
}

impl Event {
    /// `#57 +30.000s terminal reversal_sent stan=2 reason=timeout attempt=1`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "#{} +{}.{:03}s {} {}",
            self.seq,
            self.at_ms / 1000,
            self.at_ms % 1000,
            self.source,
            self.name
        );
        if let Value::Object(map) = &self.fields {
            for (key, value) in map {
                if key == "at" {
                    continue;
                }
                text.push_str(&format!(" {key}={}", compact(value)));
            }
        }
        text
    }
}

/// The first step that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation {
    /// 1-based.
    pub step: usize,
    pub expected: String,
    /// What came instead (or what happened that must not have).
    pub found: String,
    /// The seq of each step's event before this one, as on success: the
    /// steps that held, so a report can mark them found.
    pub matched: Vec<u64>,
    /// The event a `never` step forbade, when one came.
    pub forbidden: Option<u64>,
}

impl std::fmt::Display for Deviation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: expected {}; found {}", self.step, self.expected, self.found)
    }
}

fn node_name(value: &Value) -> Value {
    // Nodes serialise as "Switch", "Network", {"Issuer": 0}, {"Terminal": "T1"}.
    match value {
        Value::String(name) => Value::String(name.to_lowercase()),
        Value::Object(map) => match map.iter().next() {
            Some((kind, Value::Number(index))) if kind == "Issuer" => {
                Value::String(format!("issuer-{index}"))
            }
            Some((_, Value::String(id))) => Value::String(id.clone()),
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

/// A tagged or externally tagged kind: its name and its fields.
fn split_kind(kind: &Value) -> (String, Value) {
    match kind {
        Value::String(name) => (name.clone(), Value::Object(Default::default())),
        Value::Object(map) if map.len() == 1 => {
            let (name, inner) = map.iter().next().expect("one entry");
            let fields = match inner {
                Value::Object(_) => inner.clone(),
                other => serde_json::json!({ "value": other }),
            };
            (name.clone(), fields)
        }
        other => ("?".into(), other.clone()),
    }
}

/// The trace as events, from the start of the safety phase.
pub fn events(trace: &Trace) -> Vec<Event> {
    let start = trace
        .records()
        .iter()
        .find(|record| matches!(record.event, TraceEvent::Phase { .. }))
        .map_or(0, |record| record.at.as_millis());
    trace.records().iter().filter_map(|record| event(record, start)).collect()
}

fn event(record: &TraceRecord, start_ms: u64) -> Option<Event> {
    let line = serde_json::to_string(record).ok()?;
    let (source, name, fields) = match &record.event {
        TraceEvent::Setup(_) => return None,
        TraceEvent::Phase { phase } => {
            ("phase", compact(&serde_json::to_value(phase).ok()?), serde_json::json!({}))
        }
        TraceEvent::Frame(frame) => {
            let mut fields = serde_json::to_value(frame).ok()?;
            for key in ["from", "to"] {
                let named = node_name(&fields[key]);
                fields[key] = named;
            }
            ("frame", frame.mti.clone().unwrap_or_else(|| "????".into()), fields)
        }
        TraceEvent::Fault(fault) => {
            let fields = serde_json::to_value(fault).ok()?;
            ("fault", compact(&fields["kind"]), fields)
        }
        TraceEvent::Terminal(event) => {
            let mut fields = serde_json::to_value(&event.kind).ok()?;
            let name = compact(&fields["event"]);
            if let Value::Object(map) = &mut fields {
                map.remove("event");
                map.insert("terminal".into(), Value::String(event.terminal.trimmed().into()));
            }
            ("terminal", name, fields)
        }
        TraceEvent::Switch(event) => {
            let (name, fields) = split_kind(&serde_json::to_value(&event.kind).ok()?);
            ("switch", name, fields)
        }
        TraceEvent::Network(event) => {
            let (name, fields) = split_kind(&serde_json::to_value(&event.kind).ok()?);
            ("network", name, fields)
        }
        TraceEvent::Issuer { issuer, event } => {
            let (name, mut fields) = split_kind(&serde_json::to_value(&event.kind).ok()?);
            if let Value::Object(map) = &mut fields {
                map.entry("issuer").or_insert(Value::from(*issuer));
            }
            ("issuer", name, fields)
        }
        TraceEvent::Verdict(verdict) => {
            let fields = serde_json::to_value(verdict).ok()?;
            ("verdict", verdict.invariant.clone(), fields)
        }
    };
    let at_ms = record.at.as_millis().saturating_sub(start_ms);
    Some(Event { seq: record.seq, at_ms, source, name, fields, line })
}

/// Whether `found` holds everything `expected` says: mappings by subset,
/// scalars by equality or by the same text (`2` and `"2"`).
pub fn value_matches(expected: &Value, found: &Value) -> bool {
    match (expected, found) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|found| value_matches(value, found))),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(a, b)| value_matches(a, b))
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        (want, have) => want == have || compact(want) == compact(have),
    }
}

/// Whether `event` is what `pattern` describes.
pub fn matches(pattern: &Pattern, event: &Event) -> bool {
    let Ok((source, name)) = pattern.source() else { return false };
    source == event.source
        && name == event.name
        && value_matches(&Value::Object(pattern.with.clone()), &event.fields)
        && pattern.text.as_ref().is_none_or(|needle| event.line.contains(needle.as_str()))
}

/// Up to [`NEARBY_MAX`] events from `from` on, the closest candidates
/// first: same source and name, else same source, else anything.
fn nearby(pattern: &Pattern, events: &[Event], from: usize) -> String {
    let rest = events.get(from..).unwrap_or(&[]);
    let (source, name) = pattern.source().unwrap_or(("?", "?"));
    let pick = |keep: &dyn Fn(&Event) -> bool| -> Vec<String> {
        rest.iter().filter(|event| keep(event)).take(NEARBY_MAX).map(Event::describe).collect()
    };
    let mut shown = pick(&|event| event.source == source && event.name == name);
    if shown.is_empty() {
        shown = pick(&|event| event.source == source);
    }
    if shown.is_empty() {
        shown = pick(&|_| true);
    }
    if shown.is_empty() {
        return "nothing after the previous step".into();
    }
    shown.join("; ")
}

/// Matches `steps` against `events` in order; the first step that does not
/// hold is returned, with the seqs of the steps that held before it. On
/// success, the seq of each step's event (a `never` step: its `until`'s, or
/// the previous position, 0 at the start).
pub fn match_steps(steps: &[Step], events: &[Event]) -> Result<Vec<u64>, Deviation> {
    let mut position = 0usize;
    let mut previous_ms = 0u64;
    let mut found = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let number = index + 1;
        let within = |event: &Event| {
            step.within_ms.is_none_or(|window| event.at_ms <= previous_ms.saturating_add(window))
        };
        if let Some(never) = &step.never {
            let end = match &step.until {
                Some(until) => {
                    let Some(offset) = events[position..].iter().position(|e| matches(until, e))
                    else {
                        return Err(Deviation {
                            step: number,
                            expected: format!("{} (ending a `never` window)", until.describe()),
                            found: nearby(until, events, position),
                            matched: found,
                            forbidden: None,
                        });
                    };
                    position + offset
                }
                None if position >= events.len() => {
                    return Err(Deviation {
                        step: number,
                        expected: format!("no {} after step {index}", never.describe()),
                        found: format!(
                            "not exercised: the run ended at step {index}, leaving nothing to \
                             judge"
                        ),
                        matched: found,
                        forbidden: None,
                    });
                }
                None => events.len(),
            };
            let window = &events[position..end];
            if let Some(bad) = window.iter().find(|event| within(event) && matches(never, event)) {
                return Err(Deviation {
                    step: number,
                    expected: format!("no {}", never.describe()),
                    found: bad.describe(),
                    matched: found,
                    forbidden: Some(bad.seq),
                });
            }
            if step.until.is_some() {
                previous_ms = events[end].at_ms;
                found.push(events[end].seq);
                position = end + 1;
            } else {
                found.push(events.get(position.saturating_sub(1)).map_or(0, |e| e.seq));
            }
            continue;
        }
        let pattern = step.pattern();
        let hit = events[position..]
            .iter()
            .position(|event| matches(&pattern, event))
            .filter(|offset| within(&events[position + offset]));
        match hit {
            Some(offset) => {
                let event = &events[position + offset];
                found.push(event.seq);
                previous_ms = event.at_ms;
                position += offset + 1;
            }
            None => {
                let mut expected = pattern.describe();
                if let Some(window) = step.within_ms {
                    expected.push_str(&format!(" within {window} ms"));
                }
                return Err(Deviation {
                    step: number,
                    expected,
                    found: nearby(&pattern, events, position),
                    matched: found,
                    forbidden: None,
                });
            }
        }
    }
    Ok(found)
}
