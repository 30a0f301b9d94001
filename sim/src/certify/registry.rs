//! What a host under test must have provisioned to run the host cases: the
//! union of their merchants, registered terminals (with their TMKs),
//! issuers (with their BINs) and cards, written as a scenario that
//! `possim serve` plays as such a host (`scenarios/live/host_cases.yaml`
//! is this, for `scenarios/certification`). A terminal a case marks
//! `registered: false` is left out: the host must not know it.
//!
//! ```
//! use possim_sim::certify::registry::host_registry;
//! use possim_sim::certify::runner::load_suite;
//! let cases = load_suite(std::path::Path::new("../scenarios/certification")).unwrap();
//! let text = host_registry(&cases).unwrap();
//! assert!(text.contains("CH010001"));
//! assert!(!text.contains("CH040002"), "an unregistered terminal is not provisioned");
//! ```

use std::collections::BTreeMap;

use super::case::Device;
use super::runner::LoadedCase;
use crate::scenario::model::{CardSpec, IssuerSpec, Merchant, Scenario, TerminalSpec};
use crate::shrink::yaml::to_yaml;

/// The name of the registry scenario.
pub const REGISTRY_NAME: &str = "host-cases";

/// The registry of every `device: host` case in `cases`, as scenario YAML.
pub fn host_registry(cases: &[LoadedCase]) -> Result<String, String> {
    let mut merchants: BTreeMap<String, Merchant> = BTreeMap::new();
    let mut terminals: BTreeMap<String, TerminalSpec> = BTreeMap::new();
    let mut issuers: BTreeMap<u16, IssuerSpec> = BTreeMap::new();
    let mut cards: BTreeMap<String, CardSpec> = BTreeMap::new();
    let hosts = cases.iter().filter(|loaded| loaded.case.device == Some(Device::Host));
    let mut names = Vec::new();
    for loaded in hosts {
        names.push(loaded.case.id.clone());
        let scenario = &loaded.scenario;
        if !scenario.terminal_groups.is_empty() || !scenario.card_groups.is_empty() {
            return Err(format!(
                "case {}: a host case lists its terminals and cards one by one (no groups), so \
                 that the registry names each",
                loaded.case.id
            ));
        }
        for merchant in &scenario.merchants {
            merchants.entry(merchant.id.to_string()).or_insert_with(|| merchant.clone());
        }
        for terminal in scenario.terminals.iter().filter(|t| t.registered) {
            let id = terminal.id.trimmed().to_string();
            if terminals.contains_key(&id) {
                return Err(format!("terminal {id} is used by two host cases"));
            }
            // The host keeps the terminal's identity, key and response
            // timeout; the case's line profile and the terminal's own
            // policies are not the host's business.
            let mut spec = terminal.clone();
            spec.link = "clean".into();
            spec.config = possim_models::terminal::TerminalConfig {
                response_timeout_ms: terminal.config.response_timeout_ms,
                ..Default::default()
            };
            terminals.insert(id, spec);
        }
        for issuer in &scenario.issuers {
            let entry = issuers.entry(issuer.index).or_insert_with(|| issuer.clone());
            for bin in &issuer.bins {
                if !entry.bins.contains(bin) {
                    entry.bins.push(bin.clone());
                }
            }
        }
        for card in &scenario.cards {
            let pan = card.pan.as_str().to_string();
            if cards.contains_key(&pan) {
                return Err(format!("card {pan} is used by two host cases"));
            }
            cards.insert(pan, card.clone());
        }
    }
    if names.is_empty() {
        return Err("no `device: host` case in the suite".into());
    }
    let text = format!("name: {REGISTRY_NAME}\nmerchants: []\nissuers: []\n");
    let mut scenario: Scenario =
        crate::scenario::load::parse(&text, "registry").map_err(|error| error.to_string())?;
    scenario.description =
        "what a host under test must provision to run the host certification cases".into();
    scenario.merchants = merchants.into_values().collect();
    scenario.terminals = terminals.into_values().collect();
    scenario.issuers = issuers.into_values().collect();
    scenario.cards = cards.into_values().collect();
    let header = vec![
        format!("The host cases' registry: {}.", names.join(", ")),
        "Written by `possim certify --host-registry`; `possim serve` on this file is a".into(),
        "host that passes them.".into(),
    ];
    to_yaml(&scenario, &header).map_err(|error| error.to_string())
}
