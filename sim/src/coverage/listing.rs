//! The coverage listing: per category, what was reached with its count,
//! then what the models can produce but no run reached.
//!
//! ```
//! use possim_sim::coverage::{count::Coverage, listing::never_reached};
//! use possim_sim::trace::Trace;
//! let never = never_reached(&Coverage::of(&Trace::new()));
//! assert!(never.iter().any(|(category, item)| *category == "reversal reasons" && item == "timeout"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::count::Coverage;
use super::universe::{
    fault_name, response_codes, trade_kinds, FAULT_PHASES, HOST_FAULTS, PHASES, REVERSAL_REASONS,
    SETTLEMENT_OUTCOMES, TERMINAL_EVENTS, TERMINAL_FAULTS,
};

const PLACED: &str = "placed faults landed";

/// Each category: its name, its counts, and its universe.
fn categories(coverage: &Coverage) -> Vec<(&'static str, &BTreeMap<String, u64>, Vec<String>)> {
    let own = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut faults = Vec::new();
    for kind in TERMINAL_FAULTS {
        for phase in FAULT_PHASES {
            faults.push(format!("{} @ {phase}", fault_name(kind)));
        }
    }
    faults.extend(HOST_FAULTS.iter().map(|kind| fault_name(*kind)));
    vec![
        ("terminal phases", &coverage.phases, own(&PHASES)),
        ("terminal events", &coverage.terminal_events, own(&TERMINAL_EVENTS)),
        ("response codes", &coverage.codes, response_codes()),
        ("reversal reasons", &coverage.reversal_reasons, own(&REVERSAL_REASONS)),
        ("faults by phase", &coverage.faults, faults),
        ("settlements", &coverage.settlements, own(&SETTLEMENT_OUTCOMES)),
        ("trade kinds approved", &coverage.trade_kinds, trade_kinds()),
        (PLACED, &coverage.placed, coverage.placed_planned.iter().cloned().collect()),
        ("phase transitions", &coverage.transitions, Vec::new()),
    ]
}

/// (category, item) of everything the models can produce that no run reached.
pub fn never_reached(coverage: &Coverage) -> Vec<(&'static str, String)> {
    let mut never = Vec::new();
    for (name, counts, universe) in categories(coverage) {
        for item in universe {
            if !counts.contains_key(&item) {
                never.push((name, item));
            }
        }
    }
    never
}

/// The cells `coverage` reached, each `category: item` (`faults by phase:
/// power_cut @ awaiting_answer`): every category but the scenario's own
/// placed faults, which name an input rather than what it reached. What
/// `possim explore` keeps a run for.
pub fn cells(coverage: &Coverage) -> BTreeSet<String> {
    let mut cells = BTreeSet::new();
    for (name, counts, _) in categories(coverage) {
        if name != PLACED {
            cells.extend(counts.keys().map(|item| format!("{name}: {item}")));
        }
    }
    cells
}

/// Every cell the models can produce, as [`cells`] names them: the
/// universe of each category that has one (phase transitions have none).
pub fn universe_cells() -> BTreeSet<String> {
    never_reached(&Coverage::default())
        .into_iter()
        .filter(|(name, _)| *name != PLACED)
        .map(|(name, item)| format!("{name}: {item}"))
        .collect()
}

/// The printed listing.
#[derive(Debug)]
pub struct Listing<'a>(pub &'a Coverage);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coverage = self.0;
        writeln!(f, "coverage  {} runs", coverage.runs)?;
        for (name, counts, universe) in categories(coverage) {
            if name == PLACED && universe.is_empty() {
                continue;
            }
            let reached = counts.len();
            if universe.is_empty() {
                writeln!(f, "{name}: {reached} reached")?;
            } else {
                let known = universe.iter().filter(|item| counts.contains_key(*item)).count();
                writeln!(f, "{name}: {known} of {} reached", universe.len())?;
            }
            for (item, count) in counts {
                writeln!(f, "  {item}  {count}")?;
            }
            let never: Vec<&String> =
                universe.iter().filter(|item| !counts.contains_key(*item)).collect();
            if !never.is_empty() {
                writeln!(
                    f,
                    "  never: {}",
                    never.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )?;
            }
        }
        Ok(())
    }
}
