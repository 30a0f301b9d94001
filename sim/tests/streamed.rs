//! A streamed run (the oracle's log and the summary take each record as it
//! is written, the trace keeps almost none) reports what a run that keeps
//! every record reports: hash, length, verdicts with their evidence,
//! summary, placed faults. Safe scenarios, faulted ones under swarm, and
//! unsafe variants that fail.

use std::path::Path;

use possim_sim::execute::{execute, execute_streamed};
use possim_sim::scenario::load::load_simulable;
use possim_sim::world::RunOptions;

fn same(scenario: &str, seed: u64, swarm: bool) -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let compiled = load_simulable(&root.join(scenario)).expect("a bundled scenario");
    let options = RunOptions { seed, swarm };
    let kept = execute(&compiled, &options).expect("the run completes");
    let streamed = execute_streamed(&compiled, &options).expect("the run completes");
    assert_eq!(streamed.trace.hash(), kept.trace.hash(), "{scenario} seed {seed}");
    assert_eq!(streamed.trace.len(), kept.trace.len(), "{scenario} seed {seed}");
    assert_eq!(streamed.trace.header(), kept.trace.header(), "{scenario} seed {seed}");
    assert_eq!(streamed.verdicts, kept.verdicts, "{scenario} seed {seed}");
    assert_eq!(streamed.summary, kept.summary, "{scenario} seed {seed}");
    assert_eq!(streamed.placed, kept.placed, "{scenario} seed {seed}");
    assert_eq!(streamed.failed(), kept.failed(), "{scenario} seed {seed}");
    assert!(streamed.trace.records().len() * 10 < kept.trace.records().len());
    kept.passed()
}

#[test]
fn a_streamed_run_reports_what_a_kept_one_does() {
    assert!(same("scenarios/quickstart.yaml", 0, false));
    for seed in 0..4 {
        same("scenarios/faults/protocol.yaml", seed, true);
    }
    for faults in ["backbone", "device", "hosts", "line"] {
        same(&format!("scenarios/faults/{faults}.yaml"), 1, true);
    }
}

#[test]
fn every_unsafe_variant_fails_the_same_way_streamed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/variants");
    let mut variants: Vec<String> = std::fs::read_dir(&root)
        .expect("the variants")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    variants.sort();
    assert!(variants.len() >= 10);
    for variant in variants {
        assert!(!same(&format!("scenarios/variants/{variant}"), 0, false), "{variant}");
    }
}
