//! A real terminal's numbering, judged by symbols: a case's steps name
//! literal STANs and batch numbers (`stan: 2`), which a real device, with
//! counters of its own, does not share. Judged live, the value of a `stan`
//! or `batch` key (at any depth of a step's `with`) is a *symbol*: the first
//! step that names it binds it to the real value of the event it matched;
//! every later step naming it must match that same value; and two different
//! symbols of one key never bind the same value. Every other field matches
//! literally, as in the simulator, whose matching ([`Literal`]) this leaves
//! unchanged.
//!
//! ```
//! use possim_sim::certify::case::Step;
//! use possim_sim::certify::matcher::{match_steps_with, Event};
//! use possim_sim::certify::symbols::Symbols;
//! let frame = |seq: u64, mti: &str, stan: u64| Event {
//!     seq, at_ms: seq, source: "frame", name: mti.into(),
//!     fields: serde_json::json!({"stan": stan}), line: String::new(),
//! };
//! // The device numbered its sale 7; the case says 2.
//! let events = vec![frame(1, "0200", 7), frame(2, "0400", 7)];
//! let step = |mti: &str| Step {
//!     frame: Some(mti.into()),
//!     with: serde_json::json!({"stan": 2}).as_object().unwrap().clone(),
//!     ..Step::default()
//! };
//! let mut symbols = Symbols::default();
//! assert!(match_steps_with(&[step("0200"), step("0400")], &events, &mut symbols).is_ok());
//! assert_eq!(symbols.real("stan", "2"), Some("7".to_string()));
//! ```
//!
//! [`Literal`]: super::matcher::Literal

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::case::{compact, Pattern};
use super::matcher::{matches, Binder, Event};

/// The keys whose values are symbols when judged live.
pub const SYMBOL_KEYS: [&str; 2] = ["stan", "batch"];
/// Symbols one case may bind; a case names at most a few dozen STANs.
pub const SYMBOLS_MAX: usize = 1_000;

/// One symbol a pattern names: where in the fields, which key, which symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    path: Vec<String>,
    key: &'static str,
    symbol: String,
}

/// Symbols bound so far: (key, symbol) → the real value, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symbols {
    bound: BTreeMap<(&'static str, String), String>,
}

impl Symbols {
    /// The real value `symbol` of `key` was bound to, if any.
    pub fn real(&self, key: &str, symbol: &str) -> Option<String> {
        self.bound.iter().find(|((k, s), _)| *k == key && s == symbol).map(|(_, real)| real.clone())
    }

    /// Whether `real` may stand for `named`: its own binding, or a value no
    /// other symbol of the key holds.
    fn consistent(&self, named: &Named, real: &str) -> bool {
        match self.bound.get(&(named.key, named.symbol.clone())) {
            Some(bound) => bound == real,
            None => !self.bound.iter().any(|((key, _), value)| *key == named.key && value == real),
        }
    }
}

/// `with` without its symbol keys, and the symbols it names.
fn split(with: &Map<String, Value>, path: &[String], named: &mut Vec<Named>) -> Map<String, Value> {
    let mut literal = Map::new();
    for (key, value) in with {
        if let Some(symbol_key) = SYMBOL_KEYS.iter().find(|k| *k == key) {
            if !value.is_object() && !value.is_array() {
                named.push(Named { path: path.to_vec(), key: symbol_key, symbol: compact(value) });
                continue;
            }
        }
        match value {
            Value::Object(inner) => {
                let mut deeper = path.to_vec();
                deeper.push(key.clone());
                literal.insert(key.clone(), Value::Object(split(inner, &deeper, named)));
            }
            other => {
                literal.insert(key.clone(), other.clone());
            }
        }
    }
    literal
}

/// The value at `path` then `key` in `fields`, as text.
fn lookup(fields: &Value, path: &[String], key: &str) -> Option<String> {
    let mut at = fields;
    for step in path {
        at = at.get(step)?;
    }
    let value = at.get(key)?;
    (!value.is_null()).then(|| compact(value))
}

fn literal_and_named(pattern: &Pattern) -> (Pattern, Vec<Named>) {
    let mut named = Vec::new();
    let with = split(&pattern.with, &[], &mut named);
    (Pattern { with, ..pattern.clone() }, named)
}

impl Binder for Symbols {
    fn accepts(&self, pattern: &Pattern, event: &Event) -> bool {
        let (literal, named) = literal_and_named(pattern);
        matches(&literal, event)
            && named.iter().all(|named| {
                lookup(&event.fields, &named.path, named.key)
                    .is_some_and(|real| self.consistent(named, &real))
            })
    }

    fn bind(&mut self, pattern: &Pattern, event: &Event) {
        let (_, named) = literal_and_named(pattern);
        for named in named {
            let Some(real) = lookup(&event.fields, &named.path, named.key) else { continue };
            if self.bound.len() >= SYMBOLS_MAX {
                // Past the bound a symbol stays unbound: a later step naming
                // it then matches any value no other symbol holds (looser,
                // never a false failure); no case comes near it.
                return;
            }
            self.bound.entry((named.key, named.symbol)).or_insert(real);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::certify::case::Step;
    use crate::certify::matcher::{match_steps, match_steps_with};

    fn event(seq: u64, source: &'static str, name: &str, fields: Value) -> Event {
        Event { seq, at_ms: seq * 10, source, name: name.into(), fields, line: String::new() }
    }

    fn frame_step(mti: &str, with: Value) -> Step {
        Step {
            frame: Some(mti.into()),
            with: with.as_object().expect("an object").clone(),
            ..Step::default()
        }
    }

    #[test]
    fn a_symbol_binds_at_its_first_match_and_holds_after() {
        let events = vec![
            event(1, "frame", "0200", json!({"stan": 7})),
            event(2, "frame", "0200", json!({"stan": 8})),
            event(3, "frame", "0400", json!({"stan": 8})),
            event(4, "frame", "0400", json!({"stan": 7})),
        ];
        let steps =
            [frame_step("0200", json!({"stan": 2})), frame_step("0400", json!({"stan": 2}))];
        let mut symbols = Symbols::default();
        let found = match_steps_with(&steps, &events, &mut symbols).unwrap();
        // The 0400 of 8 is skipped: symbol 2 is 7.
        assert_eq!(found, vec![1, 4]);
        assert_eq!(symbols.real("stan", "2").as_deref(), Some("7"));
    }

    #[test]
    fn two_symbols_never_bind_one_value() {
        // The case wants two different trades; the device sent one twice.
        let events = vec![
            event(1, "frame", "0200", json!({"stan": 5})),
            event(2, "frame", "0200", json!({"stan": 5})),
        ];
        let steps =
            [frame_step("0200", json!({"stan": 2})), frame_step("0200", json!({"stan": 3}))];
        let deviation = match_steps_with(&steps, &events, &mut Symbols::default()).unwrap_err();
        assert_eq!(deviation.step, 2);
    }

    #[test]
    fn a_bound_symbol_refuses_another_value() {
        let events = vec![
            event(1, "frame", "0200", json!({"stan": 5})),
            event(2, "frame", "0400", json!({"stan": 6})),
        ];
        let steps =
            [frame_step("0200", json!({"stan": 2})), frame_step("0400", json!({"stan": 2}))];
        assert_eq!(match_steps_with(&steps, &events, &mut Symbols::default()).unwrap_err().step, 2);
    }

    #[test]
    fn nested_keys_are_symbols_and_other_fields_stay_literal() {
        let events = vec![
            event(
                1,
                "switch",
                "reversal_queued",
                json!({"key": {"stan": 9, "batch": 4}, "reason": "98"}),
            ),
            event(
                2,
                "switch",
                "reversal_queued",
                json!({"key": {"stan": 9, "batch": 4}, "reason": "06"}),
            ),
        ];
        let step = |reason: &str| Step {
            switch: Some("reversal_queued".into()),
            with: json!({"key": {"stan": 2, "batch": 1}, "reason": reason})
                .as_object()
                .unwrap()
                .clone(),
            ..Step::default()
        };
        let mut symbols = Symbols::default();
        assert_eq!(match_steps_with(&[step("06")], &events, &mut symbols).unwrap(), vec![2]);
        assert_eq!(symbols.real("batch", "1").as_deref(), Some("4"));
        assert!(match_steps_with(&[step("22")], &events, &mut Symbols::default()).is_err());
    }

    #[test]
    fn a_never_step_judges_by_binding_without_binding() {
        let events = vec![
            event(1, "frame", "0200", json!({"stan": 5})),
            event(2, "frame", "0200", json!({"stan": 6})),
            event(3, "frame", "0400", json!({"stan": 5})),
        ];
        let never = |stan: u64| Step {
            never: Some(Pattern {
                frame: Some("0200".into()),
                with: json!({"stan": stan}).as_object().unwrap().clone(),
                ..Pattern::default()
            }),
            until: Some(Pattern {
                frame: Some("0400".into()),
                with: json!({"stan": 2}).as_object().unwrap().clone(),
                ..Pattern::default()
            }),
            ..Step::default()
        };
        // Symbol 2 is 5; a 0200 of any other STAN (symbol 3 → 6) comes
        // before the 0400 of 5: a deviation.
        let steps = [frame_step("0200", json!({"stan": 2})), never(3)];
        assert_eq!(match_steps_with(&steps, &events, &mut Symbols::default()).unwrap_err().step, 2);
        // Literally, no STAN 2 is there at all: the simulator's matching
        // deviates at the first step.
        assert_eq!(match_steps(&steps, &events).unwrap_err().step, 1);
    }

    #[test]
    fn an_event_without_the_key_does_not_match_a_step_naming_it() {
        let events = vec![event(1, "frame", "0200", json!({}))];
        let steps = [frame_step("0200", json!({"stan": 2}))];
        assert!(match_steps_with(&steps, &events, &mut Symbols::default()).is_err());
    }
}
