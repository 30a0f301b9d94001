//! `possim shrink`: the committed repros fail their invariant on any seed
//! and hold it with the unsafe policy off; a run's randomness written down
//! replays the same frames; a variant shrinks to a smaller failing case.

use possim_sim::execute::{execute, RunReport};
use possim_sim::scenario::load::{parse, parse_and_compile};
use possim_sim::scenario::model::{FrameAction, ProtocolFault, Scenario};
use possim_sim::shrink::explicit::explicitise;
use possim_sim::shrink::safe::make_safe;
use possim_sim::shrink::yaml::to_yaml;
use possim_sim::shrink::{shrink, ShrinkOptions};
use possim_sim::trace::{FaultCause, TraceEvent};
use possim_sim::world::RunOptions;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_scenario(scenario: &Scenario, seed: u64) -> RunReport {
    let text = to_yaml(scenario, &[]).expect("writes");
    let compiled = parse_and_compile(&text, "written.yaml").expect("the written scenario loads");
    execute(&compiled, &RunOptions { seed, swarm: false }).expect("runs")
}

/// Every variant with a failing seed has its repro (the one without is
/// `offline_upload_before_settlement_only`, which no fault can break).
const REPROS: [&str; 8] = [
    "cashier_retry",
    "clearing_from_own_approvals",
    "issuer_reversal_not_idempotent",
    "journal_clear_when_sent",
    "reversal_persist_after_send",
    "switch_forwards_repeated_reversals",
    "switch_no_duplicate_check",
    "upload_end_code_207",
];

#[test]
fn every_repro_fails_its_invariant_on_several_seeds_and_holds_it_when_safe() {
    for name in REPROS {
        let path = root().join(format!("scenarios/repros/{name}.yaml"));
        let text = std::fs::read_to_string(&path).expect("the repro exists");
        let scenario = parse(&text, name).expect("the repro parses");
        let variant = parse(
            &std::fs::read_to_string(root().join(format!("scenarios/variants/{name}.yaml")))
                .expect("its variant exists"),
            name,
        )
        .expect("the variant parses");
        let [invariant] = scenario.expect.violates.as_slice() else {
            panic!("{name}: a repro names one invariant")
        };
        assert_eq!(scenario.workload.arrivals_per_terminal_per_hour, 0.0, "{name}: all scripted");
        assert!(
            scenario.workload.script.len() < 10 && scenario.run.safety_ms < variant.run.safety_ms,
            "{name}: smaller than its variant"
        );
        for seed in [0, 1, 2, 3] {
            let report = run_scenario(&scenario, seed);
            assert!(
                report.failed().contains(invariant),
                "{name} seed {seed}: expected {invariant}, failed {:?}",
                report.failed()
            );
        }
        let mut safe = scenario.clone();
        assert!(!make_safe(&mut safe).is_empty(), "{name}: has an unsafe policy");
        let report = run_scenario(&safe, 0);
        assert!(
            !report.failed().contains(invariant),
            "{name}: with its policy off it still fails {invariant}"
        );
    }
}

const LOSSY: &str = r#"
name: lossy
run: {tick_ms: 10, safety_ms: 300000, healing_max_ms: 600000}
merchants: [{id: "898100000000001"}]
links:
  lossy:
    latency_ms: {min: 30, max: 30}
    blackholes_per_hour: 12
    blackhole_ms: {min: 2000, max: 5000}
    resets_per_hour: 12
    drop_per_frame: 0.04
    duplicate_per_frame: 0.04
    corrupt_per_frame: 0.04
terminals:
  - {id: L0000001, merchant: "898100000000001", link: lossy, tmk: 0123456789ABCDEF}
  - {id: L0000002, merchant: "898100000000001", link: lossy, tmk: 1122334455667788}
issuers: [{index: 0, bins: ["622202"]}]
card_groups: [{bin: "622202", count: 5, balance_fen: 10000000}]
workload:
  arrivals_per_terminal_per_hour: 90
  mix: {sale: 8, inquiry: 1, void: 1, refund: 0, pre_auth: 0, offline_sale: 0, ecash: 0}
"#;

/// (time, from, to, stan, fate) of every frame, and (time, kind, target) of
/// every fault: what the run did on the wire, whatever caused it.
fn wire(report: &RunReport) -> (Vec<String>, Vec<String>) {
    let mut frames = Vec::new();
    let mut faults = Vec::new();
    for record in report.trace.records() {
        match &record.event {
            TraceEvent::Frame(frame) => frames.push(format!(
                "{} {:?} {:?} {:?} {:?}",
                record.at.as_millis(),
                frame.from,
                frame.to,
                frame.stan,
                frame.fate
            )),
            TraceEvent::Fault(fault) => {
                faults.push(format!("{} {:?} {}", record.at.as_millis(), fault.kind, fault.target))
            }
            _ => {}
        }
    }
    (frames, faults)
}

#[test]
fn a_run_written_down_replays_the_same_frames_and_faults() {
    let scenario = parse(LOSSY, "lossy.yaml").expect("parses");
    let compiled = parse_and_compile(LOSSY, "lossy.yaml").expect("compiles");
    let original = execute(&compiled, &RunOptions { seed: 5, swarm: false }).expect("runs");
    let random = |report: &RunReport, cause: fn(&FaultCause) -> bool| {
        report
            .trace
            .records()
            .iter()
            .filter(|r| matches!(&r.event, TraceEvent::Fault(f) if cause(&f.cause)))
            .count()
    };
    assert!(random(&original, |c| matches!(c, FaultCause::Profile(_))) >= 4, "faults happened");

    let (written, converted) = explicitise(&scenario, &original.trace, 5);
    assert!(converted.frames > 0 && converted.episodes > 0 && converted.trades > 0);
    let actions: Vec<FrameAction> = written
        .faults
        .protocol
        .iter()
        .filter_map(|f| match f {
            ProtocolFault::Frame { action, .. } => Some(*action),
            _ => None,
        })
        .collect();
    assert_eq!(actions.len(), converted.frames);
    assert!(written
        .links
        .values()
        .all(|l| l.drop_per_frame == 0.0 && l.blackholes_per_hour == 0.0));

    // On another seed: nothing random is left.
    let replayed = run_scenario(&written, 99);
    assert_eq!(random(&replayed, |c| matches!(c, FaultCause::Profile(_))), 0);
    let (frames, faults) = wire(&original);
    let (frames_again, faults_again) = wire(&replayed);
    // A trade is written down at its start; a drawn one that had to wait
    // behind a pending reversal started a little after the cardholder came,
    // so the replay can run a few ticks late from there. What happened, in
    // order, is the same.
    let untimed = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.split_once(' ').map_or(l.clone(), |(_, rest)| rest.to_string()))
            .collect()
    };
    assert_eq!(untimed(&faults_again), untimed(&faults), "the same faults, in order");
    assert_eq!(untimed(&frames_again), untimed(&frames), "the same frames and fates, in order");
    assert_eq!(frames_again[..20], frames[..20], "the start exactly");
}

#[test]
fn a_variant_shrinks_to_a_smaller_case_that_fails_the_same_invariant() {
    let path = root().join("scenarios/variants/switch_no_duplicate_check.yaml");
    let text = std::fs::read_to_string(&path).expect("exists");
    let options = ShrinkOptions { seed: 0, runs_max: 60, ..ShrinkOptions::default() };
    let shrunk = shrink(&text, "switch_no_duplicate_check.yaml", &options).expect("shrinks");
    assert_eq!(shrunk.invariant, "no-double-debit");
    assert!(shrunk.explicit, "the written-down run fails too");
    assert!(shrunk.runs <= 60);
    assert!(
        shrunk.after.trades * 2 <= shrunk.before.trades,
        "{} -> {}",
        shrunk.before,
        shrunk.after
    );
    assert!(shrunk.after.cards < shrunk.before.cards);
    assert!(shrunk.after.faults_written <= shrunk.before.faults_written);
    assert!(shrunk.after.safety_ms * 2 <= shrunk.before.safety_ms);
    assert!(shrunk.seeds.iter().all(|(_, fails)| *fails), "{:?}", shrunk.seeds);
    assert_eq!(shrunk.passes_when_safe, Some(true));
    // The file loads back with the normal loader, header and all.
    let again = parse(&shrunk.yaml, "shrunk.yaml").expect("loads back");
    assert_eq!(again, shrunk.scenario);
    assert!(shrunk.yaml.starts_with("# Shrunk repro: fails no-double-debit."));
}

#[test]
fn a_placed_frame_fault_with_a_bad_bit_is_refused() {
    let text = LOSSY.replace(
        "workload:",
        "faults:\n  protocol:\n    - {kind: frame, terminal: L0000001, direction: down, frame: 3, action: corrupt, bit: 9}\nworkload:",
    );
    let error = parse_and_compile(&text, "s.yaml").expect_err("bit 9 is refused");
    assert!(error.to_string().contains("bit 9 is not 0 to 7"), "{error}");
}
