//! Same scenario and seed, byte-identical run; different seeds, different
//! runs. (CI also runs `possim run --check-determinism` on 20 seeds of every
//! bundled scenario.)

use std::path::Path;

use possim_sim::execute::execute;
use possim_sim::scenario::load::load_and_compile;
use possim_sim::world::RunOptions;

fn hash(path: &str, seed: u64, swarm: bool) -> String {
    let scenario = load_and_compile(Path::new(path)).expect("a bundled scenario");
    let report = execute(&scenario, &RunOptions { seed, swarm }).expect("the run completes");
    report.trace.hash()
}

#[test]
fn a_seed_replays_to_the_same_trace_hash() {
    for path in ["../scenarios/quickstart.yaml", "../scenarios/faults/protocol.yaml"] {
        assert_eq!(hash(path, 3, false), hash(path, 3, false), "{path}");
    }
}

#[test]
fn swarm_mode_is_deterministic_too() {
    let path = "../scenarios/faults/line.yaml";
    assert_eq!(hash(path, 5, true), hash(path, 5, true));
}

#[test]
fn different_seeds_give_different_traces() {
    let path = "../scenarios/quickstart.yaml";
    assert_ne!(hash(path, 1, false), hash(path, 2, false));
    assert_ne!(hash(path, 1, false), hash(path, 1, true), "swarm draws its own faults");
}
