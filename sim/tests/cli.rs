//! The `possim` command line as CI and engineers use it: exit codes, the
//! one-line repro, scenario errors with file:line:column, and shards that
//! together give exactly the single-machine sweep.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// The address space every `possim` these tests start may use, in KiB
/// (`ulimit -v`): 4 GiB. The largest bundled run (the soak) needs a tenth
/// of it, and a refused input almost nothing; an input that makes possim
/// grow until it is killed fails here, as an allocation failure, instead
/// of filling the machine CI runs on.
const ADDRESS_SPACE_KIB_MAX: u64 = 4 * 1024 * 1024;

/// `possim` with `args`, from the repository's root, under
/// [`ADDRESS_SPACE_KIB_MAX`].
fn limited(args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_KIB_MAX} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_possim"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    command
}

fn possim(args: &[&str]) -> (i32, String, String) {
    let output = limited(args).output().expect("possim runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_quickstart_passes_and_prints_its_verdicts_and_hash() {
    let (code, out, _) = possim(&["run", "scenarios/quickstart.yaml", "--seed", "7"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict   pass"), "{out}");
    assert!(out.contains("no-double-debit: passed"), "{out}");
    assert!(out.contains("hash "), "{out}");
    assert!(out.contains("line_drop_frame"), "the placed fault really happened: {out}");
}

#[test]
fn a_variant_fails_with_exit_1_and_a_repro_line() {
    let (code, out, _) =
        possim(&["run", "scenarios/variants/reversal_persist_after_send.yaml", "--seed", "0"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("every-unanswered-trade-reversed: "), "{out}");
    assert!(
        out.contains(
            "repro     possim replay scenarios/variants/reversal_persist_after_send.yaml --seed 0"
        ),
        "{out}"
    );
}

#[test]
fn a_malformed_scenario_exits_2_naming_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("possim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/quickstart.yaml"
    ))
    .unwrap()
    .replace("  tick_ms: 10", "  tick_ms: 10\n  tick_size: 3");
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = possim(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let line = text_line(&std::fs::read_to_string(&path).unwrap(), "tick_size");
    assert!(err.contains(&format!("bad.yaml:{line}:3")), "{err}");
    assert!(err.contains("tick_size"), "{err}");
}

/// Regression: `possim replay ... | head` printed "error: Broken pipe" and
/// exited 1, the code of a failed invariant.
#[test]
fn a_reader_that_stops_reading_gets_exit_141_and_no_error_message() {
    let mut child = limited(&["replay", "scenarios/quickstart.yaml", "--seed", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("possim runs");
    // The trace (about 150 KB) is more than a pipe holds, so the write meets
    // the closed end whenever the reader goes.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("possim ends");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{err}");
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
}

fn text_line(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn sweep_hashes(extra: &[&str]) -> BTreeMap<u64, String> {
    let mut args =
        vec!["sweep", "scenarios/faults/protocol.yaml", "--seeds", "0..6", "--jobs", "1", "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = possim(&args);
    assert!(code == 0 || code == 1, "{err}");
    let mut lines = out.lines();
    // First what was swept, then the seeds.
    let sweep: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(sweep["sweep"]["seeds"], "0..6", "{out}");
    lines
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (value["seed"].as_u64().unwrap(), value["hash"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn three_shards_together_are_the_whole_sweep() {
    let whole = sweep_hashes(&[]);
    assert_eq!(whole.len(), 6);
    let mut joined = BTreeMap::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let part = sweep_hashes(&["--shard", shard]);
        assert_eq!(part.len(), 2, "shard {shard}");
        for (seed, hash) in part {
            assert!(joined.insert(seed, hash).is_none(), "seed {seed} in two shards");
        }
    }
    assert_eq!(joined, whole);
}

/// The coverage line of `possim sweep ... --coverage --json` output.
fn coverage_line(out: &str) -> serde_json::Value {
    let line = out.lines().find(|l| l.starts_with("{\"coverage\"")).expect("a coverage line");
    serde_json::from_str(line).unwrap()
}

#[test]
fn coverage_of_shards_merged_is_the_coverage_of_the_whole_sweep() {
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "scenarios/faults/protocol.yaml",
            "--seeds",
            "0..2",
            "--jobs",
            "1",
            "--json",
            "--coverage",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = possim(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let whole = coverage_line(&sweep(&[]));
    let dir = std::env::temp_dir().join(format!("possim-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (index, shard) in ["1/2", "2/2"].iter().enumerate() {
        let path = dir.join(format!("shard{index}.jsonl"));
        std::fs::write(&path, sweep(&["--shard", shard])).unwrap();
        files.push(path.display().to_string());
    }
    let mut args = vec!["coverage", "--json"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = possim(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(coverage_line(&out), whole);
    assert_eq!(whole["coverage"]["runs"], 2);
    assert_eq!(
        whole["coverage"]["placed"]
            ["power_off on PR000003: power off in the middle of a batch upload"],
        2
    );

    let (code, out, _) = possim(&["coverage", &files[0]]);
    assert_eq!(code, 0);
    assert!(out.contains("placed faults landed: 10 of 10 reached"), "{out}");

    std::fs::write(dir.join("seeds.jsonl"), "{\"seed\":0}\n").unwrap();
    let seeds_only = dir.join("seeds.jsonl").display().to_string();
    let (code, _, err) = possim(&["coverage", &seeds_only]);
    assert_eq!(code, 2);
    assert!(err.contains("seeds.jsonl: no coverage line"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A scratch directory of this test process, made anew.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file of `bytes` NUL bytes (sparse: nothing is written).
fn nul_file(path: &std::path::Path, bytes: u64) {
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

/// Regression: a scenario file was read whole, however long (`possim run
/// /dev/zero` filled the memory), and one of NUL bytes under it was quoted
/// whole in the error.
#[test]
fn a_scenario_file_past_its_bound_is_refused_unread_and_a_long_line_is_cut() {
    let dir = scratch("long-scenario");
    let long = dir.join("long.yaml");
    nul_file(&long, 16 * 1024 * 1024 + 1);
    let long = long.to_str().unwrap();
    let bound = "cannot read the scenario: the file is longer than the bound SCENARIO_BYTES_MAX = 16777216 bytes";
    for args in [vec!["run", long], vec!["shrink", long, "--seed", "0"]] {
        let (code, out, err) = possim(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(err, format!("error: {long}: {bound}\n"), "{args:?}");
    }
    let (code, _, err) = possim(&["run", "/dev/zero"]);
    assert_eq!((code, err), (2, format!("error: /dev/zero: {bound}\n")));

    // Under the bound, a megabyte of NUL bytes is one line: quoted cut short.
    let nul = dir.join("nul.yaml");
    nul_file(&nul, 1 << 20);
    let (code, _, err) = possim(&["run", nul.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.len() < 1_000, "{} bytes of error: {}", err.len(), &err[..err.len().min(2_000)]);
    assert!(err.contains("nul.yaml:1:1: ") && err.contains('…'), "{err}");

    // 200 MB of NUL bytes, as the issue tried: refused unread.
    let huge = dir.join("huge.yaml");
    nul_file(&huge, 200_000_000);
    let huge = huge.to_str().unwrap();
    let (code, _, err) = possim(&["run", huge]);
    assert_eq!((code, err), (2, format!("error: {huge}: {bound}\n")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `possim frame decode < /dev/zero` ends at the input bound.
#[test]
fn frame_decode_of_dev_zero_is_refused_at_its_bound() {
    let output = limited(&["frame", "decode"])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .expect("possim runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err, "error: stdin is longer than the bound FRAME_INPUT_BYTES_MAX = 65536 bytes\n");
}

/// The quick start with one edit, run: exit 2, a `file:line:column:` error
/// naming the bound, in a message of sane length.
fn refused_at(edited: String, name: &str, line_of: &str, bound: &str) {
    let path = scratch(name).join(format!("{name}.yaml"));
    std::fs::write(&path, &edited).unwrap();
    let (code, out, err) = possim(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let line = text_line(&edited, line_of);
    assert!(err.starts_with(&format!("error: {}:{line}:", path.display())), "{err}");
    assert!(err.contains(bound), "{err}");
    assert!(err.len() < 1_000, "{} bytes of error", err.len());
}

/// Sizes past their bounds are refused at their line before anything is
/// built: a billion cards, a million terminals, a run of 1e15 ms (which
/// wrapped simulated time, or stopped the run mid-way).
#[test]
fn sizes_past_their_bounds_are_refused_at_their_line_within_the_memory_limit() {
    let quickstart = bundled("scenarios/quickstart.yaml");
    let cards = quickstart.replace("count: 20\n", "count: 1000000000\n");
    refused_at(cards, "cards", "count: 1000000000", "CARDS_MAX = 1000000");
    let terminals = quickstart.replace(
        "terminals:\n",
        "terminal_groups:\n  - {prefix: X, count: 1000000, merchant: \"898100000000001\", tmk: 0123456789ABCDEF}\nterminals:\n",
    );
    refused_at(terminals, "terminals", "count: 1000000,", "TERMINALS_PER_FARM_MAX = 5000");
    for value in ["1e15", "1000000000000000"] {
        let long = quickstart.replace("safety_ms: 1200000 ", &format!("safety_ms: {value} "));
        refused_at(long, "long", "safety_ms:", "safety_ms");
    }
}

/// Regression: `possim frame decode < /dev/zero` read stdin until the
/// memory ran out.
#[test]
fn frame_input_past_its_bound_is_refused_unread() {
    let dir = scratch("long-frame");
    let path = dir.join("zeros.bin");
    nul_file(&path, 1 << 20);
    for args in [vec!["frame", "decode"], vec!["frame", "encode"]] {
        let output = limited(&args)
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .expect("possim runs");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err, "error: stdin is longer than the bound FRAME_INPUT_BYTES_MAX = 65536 bytes\n",
            "{args:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: `--seeds 0..10000000000000` listed the seeds (and sized a
/// progress bar) until the machine ran out of memory.
#[test]
fn a_sweep_of_more_seeds_than_the_bound_is_refused() {
    let (code, out, err) =
        possim(&["sweep", "scenarios/quickstart.yaml", "--seeds", "0..10000000000000"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--seeds 0..10000000000000: 10000000000000 seeds is over the bound SWEEP_SEEDS_MAX = 1000000"), "{err}");
}

/// A variant's sweep fails on an invariant it does not list: before, it
/// passed as soon as its own invariant was caught once, whatever else failed.
#[test]
fn a_variant_sweep_fails_on_an_invariant_it_does_not_list() {
    let listed = "scenarios/variants/clearing_from_own_approvals.yaml";
    let (code, out, err) = possim(&["sweep", listed, "--seeds", "0..5", "--jobs", "1"]);
    assert_eq!(code, 0, "every invariant it breaks is listed: {out}{err}");
    let text = bundled("scenarios/variants/clearing_from_own_approvals.yaml");
    let unlisted: String = text
        .lines()
        .filter(|line| !line.contains("also_violates"))
        .map(|line| format!("{line}\n"))
        .collect();
    let path = scratch("unlisted").join("unlisted.yaml");
    std::fs::write(&path, unlisted).unwrap();
    let (code, out, err) =
        possim(&["sweep", path.to_str().unwrap(), "--seeds", "0..5", "--jobs", "1"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("unexpected violations: "), "{out}");
    assert!(out.contains("no-double-debit"), "{out}");
}

#[test]
fn also_violates_without_violates_is_refused_at_its_line() {
    let text = bundled("scenarios/quickstart.yaml");
    let path = scratch("also").join("also.yaml");
    let text = text.replace(
        "  placed_may_miss: true\n",
        "  placed_may_miss: true\n  also_violates: [conservation]\n",
    );
    assert!(text.contains("also_violates"));
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = possim(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("also_violates"), "{err}");
}

/// A placed fault that never lands fails the run, naming it; before, the
/// run passed having tested less than the scenario said.
#[test]
fn a_placed_fault_that_never_lands_fails_the_run_unless_allowed() {
    let text = bundled("scenarios/quickstart.yaml")
        .replace("terminal: QS000002, trade: 2}", "terminal: QS000002, trade: 999}");
    assert!(text.contains("trade: 999"));
    let strict: String = text.replace("  placed_may_miss: true\n", "  placed_may_miss: false\n");
    let path = scratch("placed").join("strict.yaml");
    std::fs::write(&path, strict).unwrap();
    let (code, out, err) = possim(&["run", path.to_str().unwrap(), "--seed", "0"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("never: drop_answer on QS000002"), "{out}");
    assert!(out.contains("verdict   FAIL: placed-fault-missed"), "{out}");
    let allowed = path.with_file_name("allowed.yaml");
    std::fs::write(&allowed, &text).unwrap();
    let (code, out, err) = possim(&["run", allowed.to_str().unwrap(), "--seed", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("never: drop_answer on QS000002"), "the miss is still printed: {out}");
}

/// Regression: a scenario whose workload made no trade passed all eight
/// invariants, exit 0, having judged nothing.
#[test]
fn a_run_in_which_no_trade_reaches_an_issuer_fails_unless_declared() {
    let text = "name: idle\nmerchants: [{id: '898100000000001'}]\n\
                terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
                issuers: [{index: 0, bins: ['622202']}]\n\
                cards: [{pan: '6222020000000001', balance_fen: 100000}]\n\
                workload: {arrivals_per_terminal_per_hour: 0}\n\
                run: {safety_ms: 60000}\n";
    let path = scratch("idle").join("idle.yaml");
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = possim(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("exercised nothing: no trade reached an issuer"), "{out}");
    assert!(out.contains("verdict   FAIL: exercised-nothing"), "{out}");
    assert!(out.contains("conservation: judged nothing (no settlements)"), "{out}");
    let declared = path.with_file_name("declared.yaml");
    std::fs::write(&declared, format!("{text}expect: {{exercises_nothing: true}}\n")).unwrap();
    let (code, out, err) = possim(&["run", declared.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("expected (expect.exercises_nothing)"), "{out}");
}

/// A bundled scenario's text, by its path from the repository's root.
fn bundled(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    std::fs::read_to_string(path).expect("the scenario is bundled")
}

/// `faults/protocol.yaml` with `edit` appended to its protocol faults, run
/// as `name`: exit 2, and the error names the file, the line holding
/// `token` and the column where it starts.
fn placed_fault_refused(edit: &str, name: &str, token: &str, message: &str) {
    let last = "    - {kind: drop_request, terminal: PR000004, trade: 4}\n";
    placed_fault_refused_with(last, &format!("{last}{edit}"), name, token, message);
}

/// As [`placed_fault_refused`], with `from` replaced by `to`.
fn placed_fault_refused_with(from: &str, to: &str, name: &str, token: &str, message: &str) {
    let text = bundled("scenarios/faults/protocol.yaml");
    assert!(text.contains(from), "{name}: the scenario holds {from:?}");
    let text = text.replace(from, to);
    let path = scratch(name).join(format!("{name}.yaml"));
    std::fs::write(&path, &text).unwrap();
    let (code, out, err) = possim(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{name}: {out}{err}");
    let line = text_line(&text, token);
    let column = text.lines().nth(line - 1).unwrap().find(token).unwrap() + 1;
    let at = format!("error: {}:{line}:{column}: ", path.display());
    assert!(err.starts_with(&at), "{name}: expected {at:?} in {err}");
    assert!(err.contains(message), "{name}: {err}");
}

#[test]
fn an_unknown_phase_or_placement_kind_or_a_weight_out_of_range_exits_2_at_its_place() {
    placed_fault_refused(
        "    - {kind: power_off, terminal: PR000001, trade: 1, phase: during_sign_on, off_ms: 1}\n",
        "phase",
        "during_sign_on",
        "unknown variant `during_sign_on`",
    );
    placed_fault_refused(
        "    - {kind: crash_the_switch, terminal: PR000001, restart_after_ms: 1}\n",
        "kind",
        "crash_the_switch",
        "unknown variant `crash_the_switch`",
    );
    placed_fault_refused_with(
        "        power_off_during_sign_in: 1\n",
        "        power_off_during_sign_on: 1\n",
        "swarm-kind",
        "power_off_during_sign_on",
        "power_off_during_sign_in",
    );
    placed_fault_refused_with(
        "        cutoff_during_settlement: 1\n",
        "        cutoff_during_settlement: 1001\n",
        "swarm-weight",
        "1001",
        "expected a weight from 0 to 1000, not 1001",
    );
    placed_fault_refused(
        "    - {kind: cutoff_during_settlement, terminal: PR000009, for_ms: 1}\n",
        "terminal",
        "PR000009",
        "PR000009",
    );
}

#[test]
fn serve_and_drive_refuse_the_simulated_only_phases_and_kinds_at_their_place() {
    let text = bundled("scenarios/faults/protocol.yaml").replace(
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n",
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n\
         \x20   - {kind: power_off, terminal: PR000001, trade: 1, phase: during_sign_in, off_ms: 1}\n",
    );
    let path = scratch("live-refused").join("live.yaml");
    std::fs::write(&path, &text).unwrap();
    let line = text_line(&text, "during_sign_in");
    let column = text.lines().nth(line - 1).unwrap().find("phase:").unwrap() + 1;
    for args in [
        vec!["drive", path.to_str().unwrap(), "--target", "127.0.0.1:9"],
        vec!["serve", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
    ] {
        let (code, out, err) = possim(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.starts_with(&format!("error: {}:{line}:", path.display())),
            "{args:?}: {err} (column {column})"
        );
        assert!(
            err.contains("power_off phase during_sign_in exists only in the simulated world"),
            "{err}"
        );
    }
}
