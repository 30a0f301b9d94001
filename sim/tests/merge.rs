//! `possim merge`: shards run apart and joined give the report directory
//! one sweep of the whole range writes, byte for byte but for the timing
//! fields; shards that are not one sweep are refused with one line naming
//! the file and line, exit 2.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

const VARIANT: &str = "scenarios/variants/cashier_retry.yaml";

/// `possim` with `args` in `dir`.
fn possim_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("possim runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A scratch directory of this test, made anew.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-merge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `possim sweep SCENARIO --seeds SEEDS --json EXTRA...` run in `dir`, its
/// standard output written to `dir/NAME`; the exit code.
fn shard(dir: &Path, scenario: &str, seeds: &str, extra: &[&str], name: &str) -> i32 {
    let mut args = vec!["sweep", scenario, "--seeds", seeds, "--jobs", "1", "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = possim_in(dir, &args);
    assert!(code == 0 || code == 1, "{err}");
    std::fs::write(dir.join(name), out).unwrap();
    code
}

/// `possim merge FILES... --out OUT` in `dir`.
fn merge(dir: &Path, files: &[&str], out: &str) -> (i32, String, String) {
    let mut args: Vec<&str> = vec!["merge"];
    args.extend_from_slice(files);
    args.extend_from_slice(&["--out", out]);
    possim_in(dir, &args)
}

/// A refusal: exit 2 and one line on standard error that says `needle`.
fn refused(dir: &Path, files: &[&str], needle: &str) {
    let (code, _, err) = merge(dir, files, "refused");
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!dir.join("refused").exists(), "no report written when refused");
}

#[test]
fn three_shards_merged_are_one_sweep_of_the_whole_range() {
    let dir = scratch("three");
    std::fs::create_dir_all(dir.join("scenarios/variants")).unwrap();
    std::fs::copy(root().join(VARIANT), dir.join(VARIANT)).unwrap();
    let (single_code, _, err) = possim_in(
        &dir,
        &["sweep", VARIANT, "--seeds", "2..9", "--jobs", "2", "--coverage", "--out", "single"],
    );
    assert_eq!(single_code, 0, "the variant catches what it expects: {err}");
    for k in 1..=3 {
        let spec = format!("{k}/3");
        shard(&dir, VARIANT, "2..9", &["--coverage", "--shard", &spec], &format!("s{k}.jsonl"));
    }
    // Given in any order: the report is the range's, not the files'.
    let (code, out, err) = merge(&dir, &["s3.jsonl", "s1.jsonl", "s2.jsonl"], "merged");
    assert_eq!(code, single_code, "{out}{err}");
    assert!(
        out.starts_with("merged 3 shards: 7 seeds 2..9 of variant-cashier-retry: 7 failing"),
        "{out}"
    );
    support::assert_same_report(&dir.join("single"), &dir.join("merged"));
    let html = std::fs::read_to_string(dir.join("merged/report.html")).unwrap();
    // The lowest failing seeds' runs, replayed by the merge, are on the page.
    assert!(html.contains("possim replay scenarios/variants/cashier_retry.yaml --seed 2"));
    assert!(std::fs::read_to_string(dir.join("merged/coverage.txt")).unwrap().contains("runs"));

    // `tally` still counts these files, the sweep line and all.
    let (code, out, err) = possim_in(&dir, &["tally", "s1.jsonl", "s2.jsonl", "s3.jsonl"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("| **all** | 7 |"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_seed_fails_the_merge_as_it_fails_the_sweep() {
    let dir = scratch("failing");
    // The variant without its `expect`: every caught violation now fails.
    let text = std::fs::read_to_string(root().join(VARIANT)).unwrap();
    let bare = text.split("\nexpect:").next().unwrap();
    std::fs::write(dir.join("bare.yaml"), bare).unwrap();
    let (single_code, _, err) = possim_in(
        &dir,
        &["sweep", "bare.yaml", "--seeds", "0..4", "--jobs", "1", "--out", "single"],
    );
    assert_eq!(single_code, 1, "{err}");
    shard(&dir, "bare.yaml", "0..4", &["--shard", "1/2"], "a.jsonl");
    shard(&dir, "bare.yaml", "0..4", &["--shard", "2/2"], "b.jsonl");
    let (code, out, err) = merge(&dir, &["a.jsonl", "b.jsonl"], "merged");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("every-unanswered-trade-reversed: 4 seeds, first 0"), "{out}");
    assert!(out.contains("  possim replay bare.yaml --seed 0"), "{out}");
    support::assert_same_report(&dir.join("single"), &dir.join("merged"));

    // The scenario changed since the shards ran: the merge would report
    // runs of another scenario.
    std::fs::write(dir.join("bare.yaml"), format!("{bare}\n# edited\n")).unwrap();
    refused(&dir, &["a.jsonl", "b.jsonl"], "bare.yaml: the file's hash is ");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_that_are_not_one_sweep_are_refused_with_file_and_line() {
    let dir = scratch("refused");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::copy(root().join("scenarios/quickstart.yaml"), dir.join("scenarios/quickstart.yaml"))
        .unwrap();
    let q = "scenarios/quickstart.yaml";
    for k in 1..=3 {
        shard(&dir, q, "0..5", &["--shard", &format!("{k}/3")], &format!("s{k}.jsonl"));
    }
    shard(&dir, q, "0..5", &["--shard", "1/2"], "half.jsonl");
    shard(&dir, q, "0..5", &["--shard", "2/3", "--swarm"], "swarm.jsonl");
    shard(&dir, q, "0..6", &["--shard", "3/3"], "longer.jsonl");
    std::fs::create_dir_all(dir.join("scenarios/variants")).unwrap();
    std::fs::copy(root().join(VARIANT), dir.join(VARIANT)).unwrap();
    shard(&dir, VARIANT, "0..5", &["--shard", "2/3"], "other.jsonl");
    let (code, _, err) = merge(&dir, &["s1.jsonl", "s2.jsonl", "s3.jsonl"], "ok");
    assert_eq!(code, 0, "the three shards merge: {err}");
    let s2 = std::fs::read_to_string(dir.join("s2.jsonl")).unwrap();
    let lines: Vec<&str> = s2.lines().collect();
    assert_eq!(lines.len(), 3, "a sweep line and seeds 1 and 4: {s2}");
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();

    // Missing: a shard not handed over, or cut short.
    refused(
        &dir,
        &["s1.jsonl", "s3.jsonl"],
        "seed 1 of 0..5 is in no file (2 seeds missing): shard 2/3 holds it",
    );
    write("cut.jsonl", format!("{}\n{}\n", lines[0], lines[1]));
    refused(
        &dir,
        &["s1.jsonl", "cut.jsonl", "s3.jsonl"],
        "seed 4 of 0..5 is in no file (1 seed missing): shard 2/3 holds it",
    );
    // Duplicates: the same shard twice, a seed line twice.
    refused(
        &dir,
        &["s1.jsonl", "s2.jsonl", "s2.jsonl", "s3.jsonl"],
        "s2.jsonl:1: shard 2/3 again (first at s2.jsonl:1)",
    );
    write("twice.jsonl", format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[1], lines[2]));
    refused(
        &dir,
        &["s1.jsonl", "twice.jsonl", "s3.jsonl"],
        "twice.jsonl:3: seed 1 again (first at twice.jsonl:2)",
    );
    // Overlapping: shards of another split of the range.
    refused(
        &dir,
        &["s1.jsonl", "half.jsonl"],
        "half.jsonl:1: shards of different sweeps: shard count 2 here, 3 at s1.jsonl:1",
    );
    // Of other sweeps: scenario, swarm, range, scenario hash.
    refused(
        &dir,
        &["s1.jsonl", "other.jsonl", "s3.jsonl"],
        "other.jsonl:1: shards of different sweeps: scenario variant-cashier-retry here, quickstart at s1.jsonl:1",
    );
    refused(
        &dir,
        &["s1.jsonl", "swarm.jsonl", "s3.jsonl"],
        "swarm.jsonl:1: shards of different sweeps: swarm true here, false at s1.jsonl:1",
    );
    refused(
        &dir,
        &["s1.jsonl", "s2.jsonl", "longer.jsonl"],
        "longer.jsonl:1: shards of different sweeps: seeds 0..6 here, 0..5 at s1.jsonl:1",
    );
    let hash_at = lines[0].find("\"scenario_hash\":\"").unwrap() + "\"scenario_hash\":\"".len();
    let other_hash =
        format!("{}0000000000000000{}", &lines[0][..hash_at], &lines[0][hash_at + 16..]);
    write("hash.jsonl", format!("{other_hash}\n{}\n{}\n", lines[1], lines[2]));
    refused(
        &dir,
        &["s1.jsonl", "hash.jsonl", "s3.jsonl"],
        "hash.jsonl:1: shards of different sweeps: scenario hash 0000000000000000 here,",
    );
    // A seed line the shard does not hold.
    write(
        "stray.jsonl",
        format!("{}\n{}\n", lines[0], lines[1].replacen("\"seed\":1,", "\"seed\":2,", 1)),
    );
    refused(&dir, &["stray.jsonl"], "stray.jsonl:2: seed 2 is not in shard 2/3 of 0..5");
    // Malformed, older, oversized input.
    write("bad.jsonl", format!("{}\n{{\"seed\":1,\"passed\":tru\n", lines[0]));
    refused(&dir, &["bad.jsonl"], "bad.jsonl:2: not a sweep line: ");
    write("old.jsonl", format!("{}\n{}\n", lines[1], lines[2]));
    refused(&dir, &["old.jsonl"], "old.jsonl:1: a seed line before any sweep line");
    write("long.jsonl", format!("{}\n{}\n", lines[0], "x".repeat((1 << 20) + 1)));
    refused(
        &dir,
        &["long.jsonl"],
        "long.jsonl:2: longer than the bound LINE_BYTES_MAX = 1048576 bytes",
    );
    refused(&dir, &["absent.jsonl"], "absent.jsonl: cannot read: ");
    let _ = std::fs::remove_dir_all(&dir);
}
