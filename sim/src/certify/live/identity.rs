//! A real device's identity in a case: the case names its own terminal id,
//! merchant and TMK; a real terminal keeps its own. `--terminal`,
//! `--merchant` and `--tmk` put the device's values in the case's place
//! everywhere the case names them — the scenario's registry (terminal,
//! merchant), the script and the fault plan, and the steps' `from`, `to`,
//! `terminal` values and `text` — so the host knows the device and the steps
//! judge it. Absent, the case's own values stand (the operator then
//! configures the terminal from the `case` line).
//!
//! ```
//! use possim_sim::certify::live::identity::{apply, DeviceIdentity};
//! use possim_sim::scenario::parse;
//! let text = "name: c\nmerchants: [{id: '898100000000001'}]\n\
//!             issuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: CT040001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!             cards: [{pan: '6222020000000001', balance_fen: 100}]\n";
//! let scenario = parse(text, "c.yaml").unwrap();
//! let device = DeviceIdentity { terminal: Some("POS00042".into()), ..DeviceIdentity::default() };
//! let moved = apply(&scenario, &device).unwrap();
//! assert_eq!(moved.terminals[0].id.trimmed(), "POS00042");
//! assert_eq!(moved.terminals[0].merchant.as_str(), "898100000000001");
//! ```

use serde_json::Value;

use crate::scenario::model::Scenario;

/// The device's own parameters; `None`: the case's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub terminal: Option<String>,
    pub merchant: Option<String>,
    /// Hex, as the scenario writes a TMK.
    pub tmk: Option<String>,
}

/// Every string equal to `from`, or holding it, with `to` in its place.
fn replace(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) if text.contains(from) => *text = text.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|item| replace(item, from, to)),
        Value::Object(map) => map.values_mut().for_each(|item| replace(item, from, to)),
        _ => {}
    }
}

/// The scenario with the device's identity in the case terminal's place.
/// A case for a real terminal names exactly one terminal.
pub fn apply(scenario: &Scenario, device: &DeviceIdentity) -> Result<Scenario, String> {
    if scenario.terminals.len() != 1 || !scenario.terminal_groups.is_empty() {
        return Err(format!(
            "a case for a real terminal names exactly one terminal; {} names {} and {} groups",
            scenario.name,
            scenario.terminals.len(),
            scenario.terminal_groups.len()
        ));
    }
    let own = &scenario.terminals[0];
    let mut value = serde_json::to_value(scenario).map_err(|e| e.to_string())?;
    if let Some(terminal) = &device.terminal {
        replace(&mut value, own.id.trimmed(), terminal);
    }
    if let Some(merchant) = &device.merchant {
        replace(&mut value, own.merchant.as_str(), merchant);
    }
    if let Some(tmk) = &device.tmk {
        value["terminals"][0]["tmk"] = Value::String(tmk.clone());
    }
    serde_json::from_value(value).map_err(|error| format!("the device's identity: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    const TEXT: &str = "name: c\nmerchants: [{id: '898100000000001'}]\n\
        issuers: [{index: 0, bins: ['622202']}]\n\
        terminals: [{id: CT040001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
        cards: [{pan: '6222020000000001', balance_fen: 100000}]\n\
        workload:\n  arrivals_per_terminal_per_hour: 0\n  script:\n\
        \x20   - {at_ms: 10000, terminal: CT040001, trade: sale, card: '6222020000000001'}\n\
        faults:\n  protocol: [{kind: drop_answer, terminal: CT040001, trade: 1}]\n\
        case:\n  id: LT-04\n  title: t\n  rule: r\n  device: terminal\n  steps:\n\
        \x20   - {frame: '0400', with: {from: CT040001, to: switch}}\n";

    #[test]
    fn the_device_takes_the_case_terminal_s_place_everywhere() {
        let scenario = parse(TEXT, "c.yaml").unwrap();
        let device = DeviceIdentity {
            terminal: Some("POS00042".into()),
            merchant: Some("123456789012345".into()),
            tmk: Some("FEDCBA9876543210".into()),
        };
        let moved = apply(&scenario, &device).unwrap();
        let terminal = &moved.terminals[0];
        assert_eq!(terminal.id.trimmed(), "POS00042");
        assert_eq!(terminal.merchant.as_str(), "123456789012345");
        assert_eq!(terminal.tmk, "FEDCBA9876543210");
        assert_eq!(moved.merchants[0].id.as_str(), "123456789012345");
        assert_eq!(moved.workload.script[0].terminal.trimmed(), "POS00042");
        assert_eq!(moved.faults.protocol[0].terminal().trimmed(), "POS00042");
        let step = &moved.case.as_ref().unwrap().steps[0];
        assert_eq!(step.with["from"], "POS00042");
        assert!(moved.compile().is_ok());
    }

    #[test]
    fn no_identity_leaves_the_case_as_it_is() {
        let scenario = parse(TEXT, "c.yaml").unwrap();
        assert_eq!(apply(&scenario, &DeviceIdentity::default()).unwrap(), scenario);
    }
}
