//! The pinned trace hashes (`scenarios/pinned-hashes.tsv`) recomputed
//! through the library: every pinned run checked here must hash to the
//! manifest's value, and a change that moves a trace fails here, naming each
//! moved run. The manifest is rewritten only by `possim hashes --write`, in
//! the commit that says why.
//!
//! `cargo test` checks every pinned run of the quick start, the faults, the
//! variants, the repros and the certification cases, on each of its pinned
//! seeds, but the soak, which is slow in a debug build (20 s a seed even in
//! release). `possim hashes` checks it too, in release, in CI (`.ci/run`),
//! with every other pinned run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use possim_sim::execute::execute;
use possim_sim::pinned::{parse_manifest, runs, MANIFEST};
use possim_sim::scenario::load::load_simulable;
use possim_sim::world::RunOptions;

/// The pinned scenarios left to `possim hashes` (release, CI): slow in debug.
const SLOW_IN_DEBUG: &[&str] = &["scenarios/soak/"];

#[test]
fn every_pinned_run_but_the_slow_ones_hashes_to_the_manifest() {
    let compared = check(|scenario| !SLOW_IN_DEBUG.iter().any(|slow| scenario.starts_with(slow)));
    assert!(compared.len() > 100, "only {} runs compared: not a check", compared.len());
    for family in ["scenarios/quickstart.yaml", "faults/", "variants/", "repros/", "certification/"]
    {
        assert!(compared.iter().any(|s| s.contains(family)), "no pinned run of {family} compared");
    }
}

/// Recomputes the hash of every bundled pinned run whose scenario `wanted`
/// selects, asserts each equals the manifest's, and returns the scenario of
/// each run compared.
fn check(wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(MANIFEST)).expect("the manifest reads");
    let pins = parse_manifest(&text).expect("the manifest parses");
    let pinned: BTreeMap<(&str, u64), &str> =
        pins.iter().map(|p| ((p.scenario.as_str(), p.seed), p.hash.as_str())).collect();
    assert_eq!(pinned.len(), pins.len(), "a run pinned twice in {MANIFEST}");

    let bundled: Vec<(String, u64)> = runs(&root)
        .expect("the bundled scenarios list")
        .into_iter()
        .filter(|(scenario, _)| wanted(scenario))
        .collect();

    // Each selected bundled run is pinned, and each selected pinned run is bundled.
    let unpinned: Vec<&(String, u64)> =
        bundled.iter().filter(|(s, seed)| !pinned.contains_key(&(s.as_str(), *seed))).collect();
    assert!(unpinned.is_empty(), "bundled but not in {MANIFEST}: {unpinned:?}");
    let gone: Vec<&(&str, u64)> = pinned
        .keys()
        .filter(|(s, seed)| wanted(s) && !bundled.iter().any(|(b, bs)| b == s && bs == seed))
        .collect();
    assert!(gone.is_empty(), "pinned in {MANIFEST} but not bundled: {gone:?}");

    let hashed = hash_all(&root, &bundled);
    assert_eq!(hashed.len(), bundled.len(), "every selected bundled run was hashed");
    let moved: Vec<String> = hashed
        .iter()
        .filter(|(scenario, seed, hash)| pinned[&(scenario.as_str(), *seed)] != hash)
        .map(|(scenario, seed, hash)| {
            let pin = pinned[&(scenario.as_str(), *seed)];
            format!("{scenario} seed {seed}: pinned {pin}, now {hash}")
        })
        .collect();
    assert!(
        moved.is_empty(),
        "{} of {} pinned trace hashes moved (a change that moves traces rewrites {MANIFEST} \
         with `possim hashes --write` and says why):\n{}",
        moved.len(),
        hashed.len(),
        moved.join("\n")
    );
    hashed.into_iter().map(|(scenario, _, _)| scenario).collect()
}

/// (scenario, seed, trace hash) of each run, a scenario compiled once for
/// its seeds, on as many threads as the machine has cores (at most 4).
fn hash_all(root: &Path, runs: &[(String, u64)]) -> Vec<(String, u64, String)> {
    let mut by_scenario: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (scenario, seed) in runs {
        by_scenario.entry(scenario.as_str()).or_default().push(*seed);
    }
    let scenarios: Vec<(&str, Vec<u64>)> = by_scenario.into_iter().collect();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut hashed = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((scenario, seeds)) = scenarios.get(index) else { break };
                        let path: PathBuf = root.join(scenario);
                        let compiled = load_simulable(&path)
                            .unwrap_or_else(|error| panic!("{scenario} loads: {error}"));
                        for &seed in seeds {
                            let report = execute(&compiled, &RunOptions { seed, swarm: false })
                                .unwrap_or_else(|error| panic!("{scenario} seed {seed}: {error}"));
                            hashed.push((scenario.to_string(), seed, report.trace.hash()));
                        }
                    }
                    hashed
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("a worker panicked")).collect()
    })
}
