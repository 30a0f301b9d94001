//! Writing a scenario back as YAML the normal loader reads: every value
//! left at its default is left out, so a shrunk repro shows only what
//! matters, and a header comment says where it came from.
//!
//! ```
//! use possim_sim::scenario::load::parse;
//! use possim_sim::shrink::yaml::to_yaml;
//! let text = "name: s\nmerchants: [{id: '898100000000001'}]\nissuers: [{index: 0, bins: ['622202']}]\n";
//! let scenario = parse(text, "s.yaml").unwrap();
//! let written = to_yaml(&scenario, &["a repro".to_string()]).unwrap();
//! assert!(written.starts_with("# a repro\n"));
//! assert_eq!(parse(&written, "w.yaml").unwrap(), scenario);
//! assert!(!written.contains("safety_ms"));
//! ```

use possim_models::terminal::TerminalConfig;
use serde_json::{Map, Value};

use crate::scenario::model::{
    Backbone, Expectations, FaultPlan, LineProfile, RunSettings, Scenario, Workload,
};

#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("cannot write the scenario: {0}")]
    Write(String),
}

/// Keys the loader takes from elsewhere: writing them in `config` is an error.
const IDENTITY_KEYS: [&str; 4] = ["terminal_id", "merchant_id", "tmk", "calendar"];

/// `scenario` as YAML, each of `header` a comment line on top.
pub fn to_yaml(scenario: &Scenario, header: &[String]) -> Result<String, YamlError> {
    let write = |error: &dyn std::fmt::Display| YamlError::Write(error.to_string());
    let mut value = serde_json::to_value(scenario).map_err(|e| write(&e))?;
    compact(&mut value).map_err(|e| write(&e))?;
    let body = serde_saphyr::to_string(&Styled(&value)).map_err(|e| write(&e))?;
    let mut text = String::new();
    for line in header {
        text.push_str(if line.is_empty() { "#" } else { "# " });
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// A value written in block style, but for list items with nothing nested
/// deeper than a list of scalars: those take one line each, in flow style.
struct Styled<'a>(&'a Value);

/// A mapping of scalars up to this long is written on one line.
const FLOW_ENTRIES_MAX: usize = 4;

/// The bytes of a scenario's text but its comment lines: what a size
/// compares, so a header does not count.
pub fn bytes_without_comments(text: &str) -> usize {
    text.lines().filter(|line| !line.trim_start().starts_with('#')).map(|l| l.len() + 1).sum()
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn is_flat(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().all(|v| match v {
            Value::Array(items) => items.iter().all(is_scalar),
            other => is_scalar(other),
        }),
        Value::Array(items) => items.iter().all(is_scalar),
        _ => true,
    }
}

impl serde::Serialize for Styled<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        use serde_saphyr::{FlowMap, FlowSeq};
        match self.0 {
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map {
                    match value {
                        // Short lists and small sections of scalars on one line.
                        Value::Array(items) if items.iter().all(is_scalar) => {
                            out.serialize_entry(key, &FlowSeq(value))?
                        }
                        Value::Object(inner)
                            if inner.len() <= FLOW_ENTRIES_MAX && inner.values().all(is_scalar) =>
                        {
                            out.serialize_entry(key, &FlowMap(value))?
                        }
                        _ => out.serialize_entry(key, &Styled(value))?,
                    }
                }
                out.end()
            }
            Value::Array(items) if items.iter().all(is_flat) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    match item {
                        Value::Object(_) => out.serialize_element(&FlowMap(item))?,
                        Value::Array(_) => out.serialize_element(&FlowSeq(item))?,
                        scalar => out.serialize_element(scalar)?,
                    }
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Styled(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// Removes every key whose value equals the default's.
fn strip(value: &mut Value, default: &Value) {
    let (Value::Object(map), Value::Object(defaults)) = (value, default) else { return };
    map.retain(|key, item| defaults.get(key) != Some(item));
    for (key, item) in map.iter_mut() {
        if let Some(default) = defaults.get(key) {
            if !is_range(default) {
                strip(item, default);
            }
        }
    }
}

/// A `{min, max}` range: both are required, so one that differs from its
/// default is written whole (`latency_ms: {min: 20, max: 20}` stripped of
/// the default's `min: 20` would not load).
fn is_range(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|map| map.len() == 2 && map.contains_key("min") && map.contains_key("max"))
}

/// Removes nulls, and empty lists and maps (the loader's defaults).
fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for item in map.values_mut() {
                prune(item);
            }
            map.retain(|_, item| match item {
                Value::Null => false,
                Value::Array(items) => !items.is_empty(),
                Value::Object(map) => !map.is_empty(),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn each(value: &mut Value, key: &str, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(Value::Array(items)) = value.get_mut(key) {
        for item in items {
            if let Value::Object(map) = item {
                f(map);
            }
        }
    }
}

fn compact(value: &mut Value) -> Result<(), serde_json::Error> {
    let sections = [
        ("run", serde_json::to_value(RunSettings::default())?),
        ("backbone", serde_json::to_value(Backbone::default())?),
        ("workload", serde_json::to_value(Workload::default())?),
        ("faults", serde_json::to_value(FaultPlan::default())?),
        ("expect", serde_json::to_value(Expectations::default())?),
    ];
    for (key, default) in &sections {
        if let Some(section) = value.get_mut(*key) {
            strip(section, default);
        }
    }
    if let Some(Value::Object(root)) = Some(&mut *value) {
        if root.get("description") == Some(&Value::String(String::new())) {
            root.remove("description");
        }
    }
    let config = serde_json::to_value(TerminalConfig::default())?;
    for key in ["terminals", "terminal_groups"] {
        each(value, key, |terminal| {
            if let Some(own) = terminal.get_mut("config") {
                strip(own, &config);
                if let Value::Object(own) = own {
                    for key in IDENTITY_KEYS {
                        own.remove(key);
                    }
                }
            }
            for (key, default) in [("farm", "farm-0"), ("link", "clean")] {
                if terminal.get(key) == Some(&Value::String(default.into())) {
                    terminal.remove(key);
                }
            }
        });
    }
    let card = serde_json::json!({"pin": "123456", "offline_balance_fen": 0, "status": "active"});
    each(value, "cards", |spec| {
        let mut item = Value::Object(std::mem::take(spec));
        strip(&mut item, &card);
        if let Value::Object(map) = item {
            *spec = map;
        }
    });
    for key in ["merchants", "issuers"] {
        each(value, key, |item| {
            if item.get("name") == Some(&Value::String(String::new())) {
                item.remove("name");
            }
        });
    }
    let profile = serde_json::to_value(LineProfile::default())?;
    if let Some(Value::Object(links)) = value.get_mut("links") {
        for link in links.values_mut() {
            strip(link, &profile);
        }
        // An all-default profile must stay: terminals name it.
        for link in links.values_mut() {
            if link.as_object().is_some_and(|m| m.is_empty()) {
                *link = serde_json::json!({"latency_ms": profile["latency_ms"]});
            }
        }
    }
    if let Some(workload) = value.get_mut("workload") {
        each(workload, "script", |trade| {
            if trade.get("amount_fen") == Some(&Value::from(10_000u64)) {
                trade.remove("amount_fen");
            }
            if trade.get("wrong_pin") == Some(&Value::Bool(false)) {
                trade.remove("wrong_pin");
            }
        });
    }
    prune(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load::parse;

    #[test]
    fn a_range_equal_to_its_default_at_one_end_is_written_whole() {
        let text = "name: s\nmerchants: [{id: '898100000000001'}]\n\
                    issuers: [{index: 0, bins: ['622202']}]\n\
                    links: {fixed: {latency_ms: {min: 20, max: 20}}}\n";
        let scenario = parse(text, "s.yaml").unwrap();
        let written = to_yaml(&scenario, &[]).unwrap();
        assert!(written.contains("min: 20"), "{written}");
        assert_eq!(parse(&written, "w.yaml").unwrap(), scenario);
    }
}
