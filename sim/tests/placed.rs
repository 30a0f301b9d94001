//! Placed faults land: a fault a scenario places on a trade or a phase must
//! really happen in its run, or the scenario tests less than it says.

use std::path::{Path, PathBuf};

use possim_sim::execute::execute;
use possim_sim::placed;
use possim_sim::scenario::load::load_and_compile;
use possim_sim::world::RunOptions;

/// Every scenario the simulated world runs (live scenarios and frame
/// fixtures aside), in a stable order.
fn simulated_scenarios(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "live" && name != "frames" {
                simulated_scenarios(&path, found);
            }
        } else if name.ends_with(".yaml") {
            found.push(path);
        }
    }
}

/// Regression: `faults/protocol.yaml` placed a power cut "mid batch upload"
/// on a terminal whose batches always balanced, so no seed ever uploaded a
/// batch and the fault never happened, silently.
#[test]
fn every_placed_fault_of_every_bundled_scenario_lands_on_its_default_seed() {
    let mut paths = Vec::new();
    simulated_scenarios(Path::new("../scenarios"), &mut paths);
    let mut checked = 0;
    let mut missed = Vec::new();
    for path in &paths {
        let scenario = load_and_compile(path).expect("a bundled scenario");
        if scenario.faults.protocol.is_empty() {
            continue;
        }
        let options = RunOptions { seed: scenario.run.seed, swarm: false };
        let report = execute(&scenario, &options).expect("the run completes");
        checked += 1;
        for fault in report.placed.iter().filter(|p| !p.landed()) {
            missed.push(format!("{}: {fault}", path.display()));
        }
    }
    assert!(checked >= 20, "only {checked} scenarios place faults");
    assert!(missed.is_empty(), "placed faults that never landed:\n{}", missed.join("\n"));
}

#[test]
fn a_placed_fault_the_run_never_reaches_is_reported_as_not_landed() {
    // Trade 1000 of a terminal: no run of this scenario gets that far.
    let text = std::fs::read_to_string("../scenarios/faults/protocol.yaml").unwrap();
    let text = text.replace(
        "- {kind: drop_request, terminal: PR000004, trade: 4}",
        "- {kind: drop_request, terminal: PR000004, trade: 1000}",
    );
    let scenario = possim_sim::scenario::parse_and_compile(&text, "protocol.yaml").unwrap();
    let report = execute(&scenario, &RunOptions { seed: 0, swarm: false }).unwrap();
    let never: Vec<String> =
        report.placed.iter().filter(|p| !p.landed()).map(ToString::to_string).collect();
    assert_eq!(never, ["drop_request on PR000004: drop request of trade 1000"]);
    let line = placed::line(&report.placed).unwrap();
    assert!(
        line.ends_with("; never: drop_request on PR000004: drop request of trade 1000"),
        "{line}"
    );
}
