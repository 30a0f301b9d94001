//! A certification case: the optional `case:` section of a scenario file —
//! its id, title, the domain rule it checks, the unsafe policies and faults
//! it guards against, the expected message sequence (steps) and the end
//! state (outcome).
//!
//! ```
//! use possim_sim::scenario::parse;
//! let text = "\
//! name: c
//! merchants: [{id: M1}]
//! issuers: [{index: 0, bins: ['622202']}]
//! terminals: [{id: T1, merchant: M1, tmk: 0123456789ABCDEF}]
//! cards: [{pan: '6222020000000001', balance_fen: 100}]
//! case:
//!   id: CX-01
//!   title: sign-in
//!   rule: 'DOMAIN.md, Terminal life cycle: \"the host ... sends fresh working keys\"'
//!   guards: [reversal_persist: after_send]
//!   steps:
//!     - {terminal: request_sent, with: {mti: '0800'}}
//!     - {never: {terminal: sign_in_failed}}
//!   outcome: {batch: 1}
//! ";
//! let scenario = parse(text, "c.yaml").unwrap();
//! let case = scenario.case.unwrap();
//! assert_eq!(case.steps.len(), 2);
//! assert_eq!(case.guards[0].label(), "reversal_persist: after_send");
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::error::{CompileError, FieldPath};
use crate::scenario::model::Scenario;

/// Steps one case may list; a longer story is two cases.
pub const STEPS_MAX: usize = 200;
/// Guards one case may name.
pub const GUARDS_MAX: usize = 16;

/// The sources a step can match, in the order a step names them.
pub const SOURCES: [&str; 8] =
    ["terminal", "switch", "network", "issuer", "frame", "fault", "phase", "verdict"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique across the suite, e.g. `CT-07`.
    pub id: String,
    pub title: String,
    /// The domain rule, quoted from DOMAIN.md with its section.
    pub rule: String,
    /// What the case guards against: each an unsafe policy or a fault that
    /// must make the case fail (checked by the matrix).
    #[serde(default)]
    pub guards: Vec<Guard>,
    /// The expected message sequence, matched in order.
    pub steps: Vec<Step>,
    /// The end state.
    #[serde(default)]
    pub outcome: Outcome,
    /// The real device this case can pre-check besides possim's own model
    /// (`possim certify --serve` for `terminal`, `--drive` for `host`);
    /// absent: simulator only, because some step needs a model's own event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
}

/// Which real device a case judges from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// A real terminal: possim plays switch, network and issuers, so a step
    /// may name any source but `terminal` (the terminal's own events are
    /// not on the wire).
    Terminal,
    /// A real acquirer host: possim plays the terminals, so a step may name
    /// any source but `switch`, `network` and `issuer` (the host's inside is
    /// not on the wire), and the outcome names no balances.
    Host,
}

impl Device {
    /// The step sources a real device of this kind hides from possim.
    pub fn hidden_sources(self) -> &'static [&'static str] {
        match self {
            Device::Terminal => &["terminal"],
            Device::Host => &["switch", "network", "issuer"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Device::Terminal => "terminal",
            Device::Host => "host",
        }
    }
}

/// What to look for in one trace record. Exactly one source key names the
/// event (`terminal: reversal_sent`, `frame: "0400"`, `fault: power_cut`);
/// `with` lists fields the event must carry (a subset: nested mappings
/// match a subset too); `text` must occur in the record's JSON line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub terminal: Option<String>,
    pub switch: Option<String>,
    pub network: Option<String>,
    pub issuer: Option<String>,
    pub frame: Option<String>,
    pub fault: Option<String>,
    pub phase: Option<String>,
    pub verdict: Option<String>,
    #[serde(default)]
    pub with: serde_json::Map<String, serde_json::Value>,
    pub text: Option<String>,
}

/// One step: an event that must come next (a pattern, optionally `within_ms`
/// of the previous step's event), or an event that must not happen
/// (`never`) before `until` (or within `within_ms`, or to the end).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub terminal: Option<String>,
    pub switch: Option<String>,
    pub network: Option<String>,
    pub issuer: Option<String>,
    pub frame: Option<String>,
    pub fault: Option<String>,
    pub phase: Option<String>,
    pub verdict: Option<String>,
    #[serde(default)]
    pub with: serde_json::Map<String, serde_json::Value>,
    pub text: Option<String>,
    pub within_ms: Option<u64>,
    pub never: Option<Pattern>,
    pub until: Option<Pattern>,
}

impl Step {
    /// The step's own pattern (what must happen), if it is not a `never`.
    pub fn pattern(&self) -> Pattern {
        Pattern {
            terminal: self.terminal.clone(),
            switch: self.switch.clone(),
            network: self.network.clone(),
            issuer: self.issuer.clone(),
            frame: self.frame.clone(),
            fault: self.fault.clone(),
            phase: self.phase.clone(),
            verdict: self.verdict.clone(),
            with: self.with.clone(),
            text: self.text.clone(),
        }
    }
}

impl Pattern {
    /// Source and event name, when exactly one source key is written.
    pub fn source(&self) -> Result<(&'static str, &str), String> {
        let named: Vec<(&'static str, &str)> = SOURCES
            .iter()
            .zip([
                &self.terminal,
                &self.switch,
                &self.network,
                &self.issuer,
                &self.frame,
                &self.fault,
                &self.phase,
                &self.verdict,
            ])
            .filter_map(|(source, name)| name.as_deref().map(|name| (*source, name)))
            .collect();
        match named.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!("a step names one source: {}", SOURCES.join(", "))),
            more => Err(format!(
                "a step names one source, not {}",
                more.iter().map(|(source, _)| *source).collect::<Vec<_>>().join(" and ")
            )),
        }
    }

    /// A short description: `terminal reversal_sent reason=timeout`.
    pub fn describe(&self) -> String {
        let (source, name) = self.source().unwrap_or(("?", "?"));
        let mut text = format!("{source} {name}");
        for (key, value) in &self.with {
            text.push_str(&format!(" {key}={}", compact(value)));
        }
        if let Some(needle) = &self.text {
            text.push_str(&format!(" text~{needle:?}"));
        }
        text
    }
}

/// A JSON value in YAML's flow style, plain strings unquoted:
/// `{terminal: T1, stan: 1}`, `[a, b]`.
pub fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(compact).collect::<Vec<_>>().join(", "))
        }
        serde_json::Value::Object(map) => {
            let fields: Vec<String> =
                map.iter().map(|(key, value)| format!("{key}: {}", compact(value))).collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

/// The end state of a case's run. Every absent count is not checked; the
/// oracle's invariants and healing must pass in every case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outcome {
    /// Trades answered approved (terminal `trade_answered`, approved).
    pub approved: Option<u64>,
    /// Trades answered with a decline.
    pub declined: Option<u64>,
    /// Reversals the host acknowledged (00, 12 or 25).
    pub reversed: Option<u64>,
    /// Commands the terminal refused locally.
    pub refused: Option<u64>,
    /// Offline trades counted as uploaded (00 or 94).
    pub offline_uploaded: Option<u64>,
    /// Settlements completed.
    pub settled: Option<u64>,
    /// Every terminal's batch number at the end.
    pub batch: Option<u32>,
    /// Card account balances at the issuer at the end, by card number.
    pub balances: BTreeMap<String, i64>,
}

/// One unsafe policy or fault, written `key: value`: a terminal policy
/// (`reversal_persist: after_send`, applied to every terminal),
/// `switch.<field>`, `network.<field>`, `issuer.<policy field>` (every
/// issuer), `cashier.<field>`, or a fault added to the plan (`protocol:
/// {...}`, `scheduled: {...}`). See `guard.rs`.
///
/// A guard may set up to [`GUARD_SETTINGS_MAX`] keys in one mapping, applied
/// together: a host whose parts are each harmless alone and unsafe together
/// (a switch that passes every reversal on, an issuer that books each) is
/// one guard, not two that each pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    /// In the order written; never empty.
    pub settings: Vec<GuardSetting>,
}

/// One `key: value` of a guard.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSetting {
    pub key: String,
    pub value: serde_json::Value,
}

/// Settings one guard may combine.
pub const GUARD_SETTINGS_MAX: usize = 4;

impl Guard {
    /// A guard of one setting.
    pub fn one(key: impl Into<String>, value: serde_json::Value) -> Guard {
        Guard { settings: vec![GuardSetting { key: key.into(), value }] }
    }

    /// `key: value`, as written (flow style for mappings); combined
    /// settings joined with ` + `.
    pub fn label(&self) -> String {
        let shown: Vec<String> = self
            .settings
            .iter()
            .map(|setting| format!("{}: {}", setting.key, compact(&setting.value)))
            .collect();
        shown.join(" + ")
    }
}

impl Serialize for Guard {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        for setting in &self.settings {
            map.insert(setting.key.clone(), setting.value.clone());
        }
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Guard {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::deserialize(deserializer)?;
        if map.is_empty() || map.len() > GUARD_SETTINGS_MAX {
            return Err(D::Error::custom(format!(
                "a guard is 1 to {GUARD_SETTINGS_MAX} `key: value` settings applied together, \
                 not {} keys",
                map.len()
            )));
        }
        let settings = map.into_iter().map(|(key, value)| GuardSetting { key, value }).collect();
        Ok(Guard { settings })
    }
}

fn fail<T>(path: FieldPath, message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError::new(path, message))
}

/// Checks a case's own shape (not that it passes): texts present, every
/// step well formed, every guard applicable to the scenario.
pub fn check(case: &Case, scenario: &Scenario) -> Result<(), CompileError> {
    let at = FieldPath::root().key("case");
    let printable = |text: &str| !text.trim().is_empty() && !text.chars().any(char::is_control);
    if !printable(&case.id) || case.id.len() > 32 || case.id.contains(char::is_whitespace) {
        return fail(at.key("id"), "a case id is 1 to 32 printable characters, no spaces");
    }
    if !printable(&case.title) {
        return fail(at.key("title"), "a case needs a one-line title");
    }
    if case.rule.trim().is_empty() {
        return fail(at.key("rule"), "a case quotes the rule it checks (DOMAIN.md section)");
    }
    if case.steps.is_empty() || case.steps.len() > STEPS_MAX {
        return fail(at.key("steps"), format!("a case has 1 to {STEPS_MAX} steps"));
    }
    for (index, step) in case.steps.iter().enumerate() {
        check_step(step, at.key("steps").index(index))?;
    }
    // Such a case passes on a run in which nothing happened at all: a pass
    // that judged nothing is not a pass.
    if case.steps.iter().all(|step| step.never.is_some() && step.until.is_none()) {
        return fail(
            at.key("steps"),
            "every step is a `never` step without `until`: nothing has to happen, so the case \
             would pass on a run in which nothing happened; add a step that must be found",
        );
    }
    if case.guards.len() > GUARDS_MAX {
        return fail(at.key("guards"), format!("a case names at most {GUARDS_MAX} guards"));
    }
    for (index, guard) in case.guards.iter().enumerate() {
        let path = at.key("guards").index(index);
        let guarded =
            super::guard::apply(scenario, guard).or_else(|why| fail(path.clone(), why))?;
        if let Err(error) = guarded.compile() {
            return fail(path, format!("{}: the guarded scenario fails: {}", guard.label(), error));
        }
    }
    if let Some(device) = case.device {
        check_device(case, device, &at)?;
    }
    for pan in case.outcome.balances.keys() {
        let known = scenario.cards.iter().any(|card| card.pan.as_str() == pan)
            || scenario.card_groups.iter().any(|group| pan.starts_with(&group.bin));
        if !known {
            return fail(at.key("outcome").key("balances").key(pan), format!("unknown card {pan}"));
        }
    }
    Ok(())
}

/// A case that names a real device judges only what that device shows on
/// the wire (and, for a terminal, what possim's own hosts did).
fn check_device(case: &Case, device: Device, at: &FieldPath) -> Result<(), CompileError> {
    let hidden = device.hidden_sources();
    for (index, step) in case.steps.iter().enumerate() {
        let patterns = [Some(step.pattern()), step.never.clone(), step.until.clone()];
        for pattern in patterns.iter().flatten() {
            if let Ok((source, name)) = pattern.source() {
                if hidden.contains(&source) {
                    return fail(
                        at.key("steps").index(index),
                        format!(
                            "`{source}: {name}` is not on the wire of a real {}: a case with \
                             `device: {}` judges frames and possim's own side only",
                            device.name(),
                            device.name()
                        ),
                    );
                }
            }
        }
    }
    if device == Device::Host && !case.outcome.balances.is_empty() {
        return fail(
            at.key("outcome").key("balances"),
            "a real host's balances are not on the wire: a case with `device: host` names none",
        );
    }
    Ok(())
}

fn check_pattern(pattern: &Pattern, at: &FieldPath) -> Result<(), CompileError> {
    let (source, name) = pattern.source().or_else(|why| fail(at.clone(), why))?;
    let key = at.key(source);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return fail(key, format!("{name:?} is not an event name (letters, digits, _ and -)"));
    }
    if source == "frame" && !(name.len() == 4 && name.chars().all(|c| c.is_ascii_digit())) {
        return fail(key, format!("a frame step names an MTI of four digits, not {name:?}"));
    }
    Ok(())
}

fn check_step(step: &Step, at: FieldPath) -> Result<(), CompileError> {
    match (&step.never, &step.until) {
        (Some(never), until) => {
            let own = step.pattern();
            if own.source().is_ok() || !own.with.is_empty() || own.text.is_some() {
                return fail(at, "a `never` step names nothing else but `until` and `within_ms`");
            }
            check_pattern(never, &at.key("never"))?;
            if let Some(until) = until {
                check_pattern(until, &at.key("until"))?;
            }
            Ok(())
        }
        (None, Some(_)) => fail(at.key("until"), "`until` belongs to a `never` step"),
        (None, None) => check_pattern(&step.pattern(), &at),
    }
}
