//! Every duration a scenario gives (a key ending in `_ms`, or a range under
//! one) is at most [`RUN_MS_MAX`](super::bounds::RUN_MS_MAX): nothing that
//! happens in a run outlasts the run. The runner adds these to the clock
//! (a power cut's `off_ms`, a hold's `for_ms`, a terminal's
//! `response_timeout_ms`), and a value near `u64::MAX` stopped the run at
//! the moment it was added; here it is refused at its line instead.
//!
//! The check walks the scenario as serde writes it, so a new `_ms` field is
//! covered without being listed; the keys and nesting are the file's own
//! (faults are internally tagged, so their fields sit beside `kind`).
//!
//! ```
//! use possim_sim::scenario::parse_and_compile;
//! let text = "name: t\nmerchants: [{id: '898100000000001'}]\n\
//!             issuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!             cards: [{pan: '6222020000000001', balance_fen: 100000}]\n\
//!             faults:\n  scheduled:\n    - {at_ms: 1000, kind: cutoff, for_ms: 18446744073709551615}\n";
//! let error = parse_and_compile(text, "t.yaml").unwrap_err();
//! assert!(error.headline().starts_with("t.yaml:8:"), "{}", error.headline());
//! assert!(error.headline().contains("RUN_MS_MAX"), "{}", error.headline());
//! ```

use serde_json::Value;

use super::bounds::{self, RUN_MS_MAX};
use super::error::{CompileError, FieldPath};
use super::model::Scenario;

/// Nesting the walk follows; a scenario's own is under ten.
const DEPTH_MAX: usize = 64;

/// Refuses the first duration past the bound, by its path.
pub(crate) fn check(scenario: &Scenario) -> Result<(), CompileError> {
    // Cards and merchants carry no durations, and cards can be a million.
    let parts = [
        ("run", serde_json::to_value(&scenario.run)),
        ("terminals", serde_json::to_value(&scenario.terminals)),
        ("terminal_groups", serde_json::to_value(&scenario.terminal_groups)),
        ("switch", serde_json::to_value(&scenario.switch)),
        ("network", serde_json::to_value(&scenario.network)),
        ("links", serde_json::to_value(&scenario.links)),
        ("backbone", serde_json::to_value(&scenario.backbone)),
        ("workload", serde_json::to_value(&scenario.workload)),
        ("faults", serde_json::to_value(&scenario.faults)),
    ];
    for (key, value) in parts {
        // A model that does not serialise has no durations to show.
        if let Ok(value) = value {
            walk(&value, FieldPath::root().key(key), None, 0)?;
        }
    }
    Ok(())
}

/// `duration_key`: the nearest `_ms` key above `value`, if any.
fn walk(
    value: &Value,
    at: FieldPath,
    duration_key: Option<&str>,
    depth: usize,
) -> Result<(), CompileError> {
    assert!(depth <= DEPTH_MAX, "a scenario model nested past {DEPTH_MAX}");
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let duration = if key.ends_with("_ms") { Some(key.as_str()) } else { duration_key };
                walk(inner, at.key(key), duration, depth + 1)?;
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                walk(inner, at.index(index), duration_key, depth + 1)?;
            }
        }
        Value::Number(number) => {
            let Some(key) = duration_key else { return Ok(()) };
            let magnitude = number
                .as_u64()
                .or_else(|| number.as_i64().map(i64::unsigned_abs))
                .unwrap_or_else(|| number.as_f64().map_or(u64::MAX, |f| f.abs() as u64));
            if magnitude > RUN_MS_MAX {
                let message = bounds::over(key, magnitude, "RUN_MS_MAX", RUN_MS_MAX);
                return Err(CompileError::new(
                    at,
                    format!("{message}: nothing in a run outlasts the run"),
                ));
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::scenario::fixtures::ONE_TERMINAL as BASE;
    use crate::scenario::parse_and_compile;

    /// Regression (found by the hostile-input corpus): a hold's `for_ms` of
    /// u64::MAX passed the loader and stopped the run with "simulated time
    /// past u64 ms" when the hold was applied.
    #[test]
    fn a_fault_lasting_past_any_run_is_refused_at_its_field() {
        let text = format!(
            "{BASE}faults:\n  scheduled:\n    - {{at_ms: 1000, kind: hold, between: [switch, network], for_ms: 18446744073709551615}}\n"
        );
        let error = parse_and_compile(&text, "t.yaml").unwrap_err();
        assert!(error.headline().starts_with("t.yaml:8:"), "{}", error.headline());
        assert!(error.message.contains("for_ms 18446744073709551615"), "{}", error.message);
    }

    #[test]
    fn a_terminal_timeout_and_a_latency_range_are_durations_too() {
        let text = BASE.replace(
            "tmk: 0123456789ABCDEF}",
            "tmk: 0123456789ABCDEF, config: {response_timeout_ms: 900000000000}}",
        );
        let error = parse_and_compile(&text, "t.yaml").unwrap_err();
        assert!(error.message.contains("response_timeout_ms"), "{}", error.message);
        let text = format!("{BASE}links:\n  slow: {{latency_ms: {{min: 1, max: 900000000000}}}}\n");
        let error = parse_and_compile(&text, "t.yaml").unwrap_err();
        assert!(error.message.contains("latency_ms 900000000000"), "{}", error.message);
        assert_eq!(error.line, 7, "{}", error.headline());
    }

    #[test]
    fn durations_within_a_week_pass() {
        let text = format!(
            "{BASE}faults:\n  scheduled:\n    - {{at_ms: 1000, kind: cutoff, for_ms: 604800000}}\n"
        );
        parse_and_compile(&text, "t.yaml").unwrap();
    }
}
