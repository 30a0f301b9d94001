//! `possim explore`: the same command makes the same corpus and findings,
//! whatever `--jobs`; a bug switched on is found and its repro fails on
//! replay; a saved corpus resumes where it stopped; bad input exits 2 with
//! one line. The budgets are tiny: these run in debug builds.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn fixture(name: &str) -> String {
    root().join("sim/tests/fixtures").join(name).display().to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-explore-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Exit code, stdout, stderr.
fn possim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_possim")).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// stdout but its timing line, `dir` written as DIR.
fn findings(stdout: &str, dir: &Path) -> String {
    stdout
        .lines()
        .filter(|line| !line.starts_with("wall "))
        .map(|line| line.replace(&dir.display().to_string(), "DIR") + "\n")
        .collect()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|error| panic!("{}: {error}", dir.join(name).display()))
}

fn explore(scenario: &str, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let dir = dir.display().to_string();
    let mut args = vec!["explore", scenario, "--corpus", dir.as_str()];
    args.extend_from_slice(extra);
    possim(&args)
}

/// The explore seed under which the guard fixture's bug is found early.
const GUARD_SEED: &str = "2";

#[test]
fn the_same_command_twice_makes_the_same_corpus_and_findings() {
    let safe = fixture("explore_safe.yaml");
    let (a, b) = (scratch("same-a"), scratch("same-b"));
    let args = ["--budget-runs", "48", "--seed", "5", "--jobs", "2"];
    let (code_a, out_a, _) = explore(&safe, &a, &args);
    let (code_b, out_b, _) = explore(&safe, &b, &args);
    assert_eq!((code_a, code_b), (0, 0), "{out_a}");
    assert!(out_a.contains("found     nothing"), "{out_a}");
    assert_eq!(findings(&out_a, &a), findings(&out_b, &b));
    assert_eq!(read(&a, "corpus.jsonl"), read(&b, "corpus.jsonl"));
    assert_eq!(read(&a, "state.json"), read(&b, "state.json"));
    assert!(read(&a, "corpus.jsonl").lines().count() >= 2, "the bare run and some other");
}

#[test]
fn jobs_1_and_jobs_2_find_the_same_failure_and_the_repro_fails_on_replay() {
    let guard = fixture("explore_guard.yaml");
    let (one, two) = (scratch("jobs-1"), scratch("jobs-2"));
    let args = ["--budget-runs", "200", "--seed", GUARD_SEED, "--shrink-runs-max", "30"];
    let with = |jobs: &'static str| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--jobs", jobs]);
        all
    };
    let (code_one, out_one, err_one) = explore(&guard, &one, &with("1"));
    let (code_two, out_two, _) = explore(&guard, &two, &with("2"));
    assert_eq!(code_one, 1, "the bug is found: {out_one}{err_one}");
    assert_eq!(code_two, 1, "{out_two}");
    assert_eq!(findings(&out_one, &one), findings(&out_two, &two));
    assert_eq!(read(&one, "corpus.jsonl"), read(&two, "corpus.jsonl"));
    assert!(out_one.contains("no-double-debit"), "{out_one}");

    // The repro line replays the failure.
    let repro = out_two.lines().find_map(|line| line.strip_prefix("repro     ")).unwrap();
    let words: Vec<&str> = repro.split_whitespace().collect();
    assert_eq!(&words[..2], ["possim", "replay"], "{repro}");
    assert_eq!(words[3], "--seed");
    let (code, stdout, _) = possim(&["run", words[2], "--seed", words[4]]);
    assert_eq!(code, 1, "the repro fails: {stdout}");
    assert!(stdout.contains("no-double-debit: 1 violations"), "{stdout}");

    // So does the shrunk scenario, on another seed.
    let shrunk = out_two.lines().find_map(|line| line.strip_prefix("shrunk    ")).unwrap();
    let path = shrunk.split_whitespace().next().unwrap();
    assert!(path.ends_with("-shrunk.yaml"), "{shrunk}");
    let (code, stdout, _) = possim(&["run", path, "--seed", "1"]);
    assert_eq!(code, 1, "the shrunk repro fails: {stdout}");
    let shrunk_one = read(&one, Path::new(path).file_name().unwrap().to_str().unwrap());
    let shrunk_two = std::fs::read_to_string(path).unwrap();
    let body = |text: &str| -> String {
        text.lines().filter(|line| !line.starts_with('#')).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(body(&shrunk_one), body(&shrunk_two), "the same shrunk scenario");
}

#[test]
fn a_saved_corpus_resumes_where_it_stopped() {
    let safe = fixture("explore_safe.yaml");
    let (split, whole) = (scratch("resume-split"), scratch("resume-whole"));
    let args = |runs: &'static str| ["--budget-runs", runs, "--seed", "3", "--jobs", "2"];
    let (code, first, _) = explore(&safe, &split, &args("32"));
    assert_eq!(code, 0, "{first}");
    let after_first = read(&split, "corpus.jsonl");
    let (code, second, _) = explore(&safe, &split, &args("32"));
    assert_eq!(code, 0, "{second}");
    assert!(second.contains("(corpus had 32)"), "{second}");
    let resumed = read(&split, "corpus.jsonl");
    assert!(resumed.starts_with(&after_first), "the second session adds to the first");
    assert!(read(&split, "state.json").contains("\"runs\": 64"));
    // Two sessions of two generations each are one of four.
    let (code, _, _) = explore(&safe, &whole, &args("64"));
    assert_eq!(code, 0);
    assert_eq!(resumed, read(&whole, "corpus.jsonl"));
    assert_eq!(read(&split, "state.json"), read(&whole, "state.json"));

    // A corpus of another scenario is refused.
    let (code, _, stderr) =
        explore(&fixture("explore_guard.yaml"), &split, &["--budget-runs", "1"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("explored scenario explore-safe"), "{stderr}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let safe = fixture("explore_safe.yaml");
    let cases: [(&[&str], &str); 4] = [
        (&["explore", &safe, "--budget-runs", "0"], "an empty budget"),
        (&["explore", &safe, "--budget-cpu-s", "0"], "an empty budget"),
        (&["explore", &safe], "no budget"),
        (&["explore", "no/such/scenario.yaml", "--budget-runs", "5"], "cannot read the scenario"),
    ];
    for (args, words) in cases {
        let (code, stdout, stderr) = possim(args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
}

/// What exploration found on the quick start under `--swarm` (run 156,
/// shrunk to one power cut after the issuer approved a pre-auth): the
/// pre-auth reversed after its hold would have lapsed made the issuer place
/// the hold again, already past its expiry, and holds-accounted failed. The
/// issuer now marks such a pre-auth expired and holds nothing again.
#[test]
fn the_hold_expiry_run_exploration_found_passes() {
    let (code, out, err) =
        possim(&["run", &fixture("explore_found_hold_expiry.yaml"), "--seed", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("holds-accounted: passed (1 holds)"), "{out}");
}
