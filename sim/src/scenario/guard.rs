//! Applying a guard: the case's scenario with one unsafe policy switched on
//! or one fault added. The matrix runs each case under each of its guards
//! and expects it to fail.
//!
//! | key | applies to |
//! |---|---|
//! | a `TerminalConfig` field (`reversal_persist`, `mutation`, ...) or `terminal.<field>` | every terminal and terminal group |
//! | `switch.<field>` / `network.<field>` | the switch / network overrides |
//! | `issuer.<field>` | every issuer's policy |
//! | `cashier.<field>` | the workload's cashier |
//! | `protocol` / `scheduled` | one fault added to the plan |
//! | `registered` | every listed terminal registered with the host (or not) |
//!
//! A guard of several settings applies them in the order written.
//!
//! ```
//! use possim_sim::certify::case::Guard;
//! use possim_sim::certify::guard::apply;
//! use possim_sim::scenario::parse;
//! let text = "name: c\nmerchants: [{id: M1}]\nissuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: T1, merchant: M1, tmk: 0123456789ABCDEF}]\n";
//! let scenario = parse(text, "c.yaml").unwrap();
//! let guard = Guard::one("reversal_persist", "after_send".into());
//! let guarded = apply(&scenario, &guard).unwrap();
//! assert_ne!(guarded.terminals[0].config, scenario.terminals[0].config);
//! let typo = Guard::one("reversal_persistence", "after_send".into());
//! assert!(apply(&scenario, &typo).is_err());
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::case::{Guard, GuardSetting};
use crate::scenario::model::{ProtocolFault, Scenario, ScheduledFault};

/// Sets `field` of `target` (through its serde form) to `value`.
fn patch<T: Serialize + DeserializeOwned>(
    target: &T,
    field: &str,
    value: &Value,
    what: &str,
) -> Result<T, String> {
    let mut tree = serde_json::to_value(target).map_err(|error| error.to_string())?;
    let Value::Object(map) = &mut tree else {
        return Err(format!("{what} is not a mapping"));
    };
    if !map.contains_key(field) {
        return Err(format!("unknown {what} field `{field}`"));
    }
    map.insert(field.to_owned(), value.clone());
    serde_json::from_value(tree).map_err(|error| format!("{what}.{field}: {error}"))
}

/// The scenario with `guard` applied, without its case (a guarded run is
/// judged by the original case).
pub fn apply(scenario: &Scenario, guard: &Guard) -> Result<Scenario, String> {
    let mut guarded = scenario.clone();
    guarded.case = None;
    for setting in &guard.settings {
        apply_setting(&mut guarded, setting)?;
    }
    Ok(guarded)
}

/// One setting of a guard, applied to `guarded` in place.
fn apply_setting(guarded: &mut Scenario, guard: &GuardSetting) -> Result<(), String> {
    let (scope, field) = match guard.key.split_once('.') {
        Some((scope, field)) => (scope, field),
        None => match guard.key.as_str() {
            "protocol" | "scheduled" | "registered" => (guard.key.as_str(), ""),
            field => ("terminal", field),
        },
    };
    match scope {
        "terminal" => {
            if guarded.terminals.is_empty() && guarded.terminal_groups.is_empty() {
                return Err("no terminal to apply a terminal guard to".into());
            }
            for terminal in &mut guarded.terminals {
                terminal.config = patch(&terminal.config, field, &guard.value, "terminal config")?;
            }
            for group in &mut guarded.terminal_groups {
                group.config = patch(&group.config, field, &guard.value, "terminal config")?;
            }
        }
        "switch" => guarded.switch = patch(&guarded.switch, field, &guard.value, "switch")?,
        "network" => guarded.network = patch(&guarded.network, field, &guard.value, "network")?,
        "cashier" => {
            guarded.workload.cashier =
                patch(&guarded.workload.cashier, field, &guard.value, "cashier")?
        }
        "issuer" => {
            for issuer in &mut guarded.issuers {
                let policy = issuer.policy.clone().unwrap_or_default();
                issuer.policy = Some(patch(&policy, field, &guard.value, "issuer policy")?);
            }
        }
        // A host that knows every terminal (`registered: true`): a stranger
        // signs in as if it were one of its own.
        "registered" => {
            let registered = guard.value.as_bool().ok_or("registered: true or false")?;
            for terminal in &mut guarded.terminals {
                terminal.registered = registered;
            }
        }
        "protocol" => {
            let fault: ProtocolFault = serde_json::from_value(guard.value.clone())
                .map_err(|error| format!("protocol fault: {error}"))?;
            guarded.faults.protocol.push(fault);
        }
        "scheduled" => {
            let fault: ScheduledFault = serde_json::from_value(guard.value.clone())
                .map_err(|error| format!("scheduled fault: {error}"))?;
            guarded.faults.scheduled.push(fault);
        }
        other => {
            return Err(format!(
                "unknown guard scope `{other}` (a terminal field, terminal., switch., network., issuer., cashier., protocol, scheduled)"
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    const BASE: &str = "name: c\nmerchants: [{id: M1}]\nissuers: [{index: 0, bins: ['622202']}]\n\
                        terminals: [{id: T1, merchant: M1, tmk: 0123456789ABCDEF}]\n";

    fn guard(yaml: &str) -> Result<Guard, serde_json::Error> {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("yaml");
        serde_json::from_value(value)
    }

    #[test]
    fn a_combined_guard_applies_every_setting_and_is_labelled_as_written() {
        let scenario = parse(BASE, "c.yaml").unwrap();
        let combined =
            guard("{switch.forward_repeated_reversals: true, issuer.reversal_idempotent: false}")
                .unwrap();
        assert_eq!(
            combined.label(),
            "switch.forward_repeated_reversals: true + issuer.reversal_idempotent: false"
        );
        let guarded = apply(&scenario, &combined).unwrap();
        assert_eq!(guarded.switch.forward_repeated_reversals, Some(true));
        let policy = guarded.issuers[0].policy.clone().unwrap();
        assert!(!policy.reversal_idempotent);
        assert!(scenario.switch.forward_repeated_reversals.is_none(), "the original untouched");
        // Serialised back, the same mapping.
        let again: Guard =
            serde_json::from_value(serde_json::to_value(&combined).unwrap()).unwrap();
        assert_eq!(again, combined);
    }

    #[test]
    fn a_combined_guard_with_one_bad_setting_is_refused_whole() {
        let scenario = parse(BASE, "c.yaml").unwrap();
        let typo =
            guard("{switch.forward_repeated_reversals: true, issuer.reversal_idempotence: false}")
                .unwrap();
        let error = apply(&scenario, &typo).unwrap_err();
        assert!(error.contains("reversal_idempotence"), "{error}");
    }

    #[test]
    fn a_guard_sets_one_to_four_keys() {
        let error = guard("{}").unwrap_err().to_string();
        assert!(error.contains("not 0 keys"), "{error}");
        let error = guard("{a: 1, b: 2, c: 3, d: 4, e: 5}").unwrap_err().to_string();
        assert!(error.contains("not 5 keys"), "{error}");
        assert_eq!(guard("{a: 1, b: 2, c: 3, d: 4}").unwrap().settings.len(), 4);
    }
}
