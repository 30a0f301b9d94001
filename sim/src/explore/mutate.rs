//! Deriving a child input from a parent: move a placed fault to another
//! terminal, trade or phase (or onto another fault's trade), add one drawn
//! as swarm mode draws its placements (with its `focus`, on the trade of a
//! fault already there), remove one, or change the world seed.
//!
//! ```
//! use possim_sim::explore::mutate::Input;
//! let line = r#"{"seed":7,"faults":[{"kind":"drop_answer","terminal":"T0000001","trade":2}]}"#;
//! let input: Input = serde_json::from_str(line).unwrap();
//! assert_eq!((input.seed, input.faults.len()), (7, 1));
//! assert_eq!(serde_json::to_string(&input).unwrap(), line);
//! ```

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{PowerPhase, ProtocolFault};
use crate::swarm_placed;

/// World seeds an input draws are below this: short repro lines.
pub const SEED_MAX: u64 = 999_999;
/// Placed faults one input carries at most.
pub const FAULTS_MAX: usize = 8;
/// Mutations stacked on one child at most.
const STACK_MAX: u64 = 3;

/// One run: a world seed and the faults placed on top of the scenario's,
/// written as a scenario's `faults.protocol` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub seed: u64,
    #[serde(default)]
    pub faults: Vec<ProtocolFault>,
}

/// A new input owing nothing to the corpus: a drawn seed and the
/// placements swarm mode draws for it.
pub fn fresh(scenario: &CompiledScenario, rng: &mut Rng) -> Input {
    let seed = rng.between(0, SEED_MAX);
    let mut faults = swarm_placed::draw(scenario, seed);
    faults.truncate(FAULTS_MAX);
    Input { seed, faults }
}

/// `parent` with one to three mutations.
pub fn mutate(scenario: &CompiledScenario, parent: &Input, rng: &mut Rng) -> Input {
    let mut child = parent.clone();
    for _ in 0..rng.between(1, STACK_MAX) {
        // Move 4, add 3, remove 2, reseed 1, in tenths.
        let op = rng.between(0, 9);
        let have = !child.faults.is_empty();
        match op {
            0..=3 if have => {
                let last = child.faults.len() as u64 - 1;
                let index = rng.between(0, last) as usize;
                if last > 0 && rng.chance(0.25) {
                    // Onto another fault's trade.
                    let other = child.faults[rng.between(0, last) as usize].clone();
                    align(&mut child.faults[index], &other);
                } else {
                    move_fault(scenario, &mut child.faults[index], rng);
                }
            }
            6..=7 if have => {
                let index = rng.between(0, child.faults.len() as u64 - 1) as usize;
                child.faults.remove(index);
            }
            8..=9 => child.seed = rng.between(0, SEED_MAX),
            _ => {
                if child.faults.len() < FAULTS_MAX {
                    if let Some(mut fault) = swarm_placed::draw_one(scenario, rng) {
                        // As swarm mode's `focus`: on the trade of a fault
                        // already there, so two faults meet on one trade.
                        let focus = scenario.faults.swarm.placed.focus;
                        if have && rng.chance(focus) {
                            let index = rng.between(0, child.faults.len() as u64 - 1) as usize;
                            align(&mut fault, &child.faults[index]);
                        }
                        let at = rng.between(0, child.faults.len() as u64) as usize;
                        child.faults.insert(at, fault);
                    }
                } else {
                    let index = rng.between(0, child.faults.len() as u64 - 1) as usize;
                    child.faults.remove(index);
                }
            }
        }
    }
    child
}

/// `fault` moved onto `other`'s terminal and trade (when both name them).
fn align(fault: &mut ProtocolFault, other: &ProtocolFault) {
    *fault.terminal_mut() = other.terminal();
    if let (Some(number), Some(own)) = (other.trade(), fault.trade_mut()) {
        *own = number;
    }
}

/// `fault` on another terminal, another trade (a neighbour or any), or,
/// for a power cut, another phase.
fn move_fault(scenario: &CompiledScenario, fault: &mut ProtocolFault, rng: &mut Rng) {
    let terminals = &scenario.terminals;
    let trade_max = u64::from(scenario.faults.swarm.placed.trade_max.max(1));
    let what = rng.between(0, 2);
    if what == 0 && !terminals.is_empty() {
        let index = rng.between(0, terminals.len() as u64 - 1) as usize;
        let id = terminals[index].config.terminal_id;
        *fault.terminal_mut() = id;
        return;
    }
    if what == 2 {
        if let ProtocolFault::PowerOff { phase, .. } = fault {
            let phases = [
                PowerPhase::AfterRequestLeft,
                PowerPhase::AfterIssuerApproved,
                PowerPhase::MidBatchUpload,
            ];
            *phase = phases[rng.between(0, 2) as usize];
            return;
        }
    }
    if let Some(trade) = fault.trade_mut() {
        *trade = match rng.between(0, 2) {
            0 => trade.saturating_sub(1).max(1),
            1 => trade.saturating_add(1),
            _ => rng.between(1, trade_max) as u32,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;
    use crate::scenario::fixtures::ONE_TERMINAL;
    use crate::scenario::load::parse_and_compile;

    #[test]
    fn children_stay_within_bounds_and_are_deterministic() {
        let scenario = parse_and_compile(ONE_TERMINAL, "s.yaml").unwrap();
        let mut parent = Input { seed: 5, faults: Vec::new() };
        for round in 0..200 {
            let label = format!("t {round}");
            let child = mutate(&scenario, &parent, &mut Streams::new(9).stream(&label));
            let again = mutate(&scenario, &parent, &mut Streams::new(9).stream(&label));
            assert_eq!(child, again);
            assert!(child.faults.len() <= FAULTS_MAX);
            assert!(child.seed <= SEED_MAX);
            parent = child;
        }
    }
}
