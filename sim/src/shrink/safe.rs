//! Switching a scenario's unsafe policies off: a shrunk repro must fail
//! because of its policy, so with every policy back at its safe default it
//! must pass.
//!
//! ```
//! use possim_sim::scenario::load::parse;
//! use possim_sim::shrink::safe::make_safe;
//! let text = "name: s\nmerchants: [{id: '1'}]\nissuers: [{index: 0, bins: ['6'], policy: {reversal_idempotent: false}}]\n";
//! let mut scenario = parse(text, "s.yaml").unwrap();
//! assert_eq!(make_safe(&mut scenario), vec!["issuer 0 reversal_idempotent: false".to_string()]);
//! assert!(make_safe(&mut scenario).is_empty());
//! ```

use possim_models::issuer::IssuerPolicy;
use possim_models::terminal::TerminalConfig;

use crate::scenario::model::Scenario;

/// The terminal's policy fields; each default is the safe choice.
const POLICIES: [&str; 6] = [
    "reversal_persist",
    "reversal_exhausted",
    "offline_upload",
    "upload_end_code_when_unbalanced",
    "journal_clear",
    "cashier_retry_after_failure",
];

/// The policies of `config` that differ from `safe`'s, with their values.
fn unsafe_policies(config: &TerminalConfig, safe: &TerminalConfig) -> Vec<(&'static str, String)> {
    let (Ok(config), Ok(safe)) = (serde_json::to_value(config), serde_json::to_value(safe)) else {
        return Vec::new();
    };
    POLICIES
        .iter()
        .filter(|name| config.get(**name) != safe.get(**name))
        .map(|name| {
            (*name, config.get(*name).map_or(String::new(), |v| v.to_string().replace('"', "")))
        })
        .collect()
}

/// Turns every unsafe policy off; returns what it changed, one line each.
pub fn make_safe(scenario: &mut Scenario) -> Vec<String> {
    let mut changed = Vec::new();
    let safe = TerminalConfig::default();
    let mut configs: Vec<(String, &mut TerminalConfig)> = Vec::new();
    for terminal in &mut scenario.terminals {
        configs.push((terminal.id.trimmed().to_string(), &mut terminal.config));
    }
    for group in &mut scenario.terminal_groups {
        configs.push((format!("group {}", group.prefix), &mut group.config));
    }
    for (name, config) in configs {
        for (policy, value) in unsafe_policies(config, &safe) {
            changed.push(format!("terminal {name} {policy}: {value}"));
        }
        config.reversal_persist = safe.reversal_persist;
        config.reversal_exhausted = safe.reversal_exhausted;
        config.offline_upload = safe.offline_upload;
        config.upload_end_code_when_unbalanced = safe.upload_end_code_when_unbalanced;
        config.journal_clear = safe.journal_clear;
        config.cashier_retry_after_failure = safe.cashier_retry_after_failure;
    }
    if scenario.workload.cashier.retry_after_failure {
        changed.push("cashier retry_after_failure: true".into());
        scenario.workload.cashier.retry_after_failure = false;
    }
    if scenario.switch.duplicate_check == Some(false) {
        changed.push("switch duplicate_check: false".into());
        scenario.switch.duplicate_check = None;
    }
    if scenario.switch.mac_checked_on_0200_only == Some(true) {
        changed.push("switch mac_checked_on_0200_only: true".into());
        scenario.switch.mac_checked_on_0200_only = None;
    }
    if scenario.switch.clearing_from_own_approvals == Some(true) {
        changed.push("switch clearing_from_own_approvals: true".into());
        scenario.switch.clearing_from_own_approvals = None;
    }
    if scenario.switch.forward_repeated_reversals == Some(true) {
        changed.push("switch forward_repeated_reversals: true".into());
        scenario.switch.forward_repeated_reversals = None;
    }
    for issuer in &mut scenario.issuers {
        if issuer.policy.as_ref().is_some_and(|p| *p != IssuerPolicy::default()) {
            changed.push(format!("issuer {} reversal_idempotent: false", issuer.index));
            issuer.policy = None;
        }
    }
    changed
}
