//! The certification suite: every case passes clean and fails under at
//! least one of its own guards; the step matcher; a bad case file; the
//! evidence a failing case's report shows; the outcome a live run judges.

use std::path::Path;
use std::process::Command;

use possim_sim::certify::case::{Pattern, Step};
use possim_sim::certify::matcher::{match_steps, Event};
use possim_sim::certify::matrix;
use possim_sim::certify::outcome;
use possim_sim::certify::runner::{load_suite, run_case};

fn suite_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/certification")
}

/// The suite itself, and the matrix property: each case passes clean and
/// is caught by one of the guards it names (runs each case once clean and
/// once per own guard).
#[test]
fn every_case_passes_clean_and_fails_under_one_of_its_guards() {
    let cases = load_suite(&suite_dir()).expect("the suite loads");
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let rows = matrix::rows(&cases, None);
    let mut problems = Vec::new();
    for row in &rows {
        if let Some(deviation) = &row.clean {
            problems.push(format!("{} fails clean: {deviation}", row.id));
        }
        if row.cells.is_empty() {
            problems.push(format!("{} names no guard", row.id));
        } else if !row.cells.iter().any(|cell| cell.own && cell.caught()) {
            problems.push(format!("{} passes under every guard it names", row.id));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

fn event(seq: u64, name: &str, stan: u64) -> Event {
    Event {
        seq,
        at_ms: seq * 1_000,
        source: "terminal",
        name: name.into(),
        fields: serde_json::json!({"stan": stan, "reason": "timeout"}),
        line: format!("{{\"event\":\"{name}\",\"stan\":{stan}}}"),
    }
}

fn step(name: &str, stan: u64) -> Step {
    let mut with = serde_json::Map::new();
    with.insert("stan".into(), stan.into());
    Step { terminal: Some(name.into()), with, ..Step::default() }
}

fn pattern(name: &str) -> Pattern {
    Pattern { terminal: Some(name.into()), ..Pattern::default() }
}

fn story() -> Vec<Event> {
    vec![
        event(1, "trade_started", 2),
        event(2, "trade_timed_out", 2),
        event(3, "reversal_sent", 2),
        event(4, "reversal_acknowledged", 2),
        event(5, "trade_started", 3),
    ]
}

#[test]
fn steps_found_in_order_as_a_subsequence() {
    let found = match_steps(&[step("trade_started", 2), step("reversal_sent", 2)], &story());
    assert_eq!(found, Ok(vec![1, 3]));
    // Fields are compared by text too: "2" matches 2.
    let mut by_text = step("trade_started", 3);
    by_text.with.insert("stan".into(), "3".into());
    assert_eq!(match_steps(&[by_text], &story()), Ok(vec![5]));
}

#[test]
fn the_first_step_not_found_is_the_deviation_with_what_came_instead() {
    let steps = [step("trade_started", 2), step("reversal_sent", 3), step("trade_started", 3)];
    let deviation = match_steps(&steps, &story()).unwrap_err();
    assert_eq!(deviation.step, 2);
    assert!(deviation.expected.contains("reversal_sent stan=3"), "{}", deviation.expected);
    assert!(
        deviation.found.contains("#3"),
        "the same event with other fields: {}",
        deviation.found
    );
    // Out of order is not found either.
    let backwards = [step("reversal_acknowledged", 2), step("reversal_sent", 2)];
    assert_eq!(match_steps(&backwards, &story()).unwrap_err().step, 2);
}

#[test]
fn a_never_step_fails_on_the_event_inside_its_window_only() {
    let no_trade_until_ack = Step {
        never: Some(pattern("trade_started")),
        until: Some(pattern("reversal_acknowledged")),
        ..Step::default()
    };
    let steps = [step("trade_timed_out", 2), no_trade_until_ack.clone(), step("trade_started", 3)];
    assert_eq!(match_steps(&steps, &story()), Ok(vec![2, 4, 5]));
    // The same window where a trade starts inside it.
    let mut events = story();
    events.swap(3, 4);
    let deviation = match_steps(&steps, &events).unwrap_err();
    assert_eq!(deviation.step, 2);
    assert!(deviation.found.contains("trade_started"), "{}", deviation.found);
    // Without `until`, the window runs to the end.
    let never_again = Step { never: Some(pattern("trade_timed_out")), ..Step::default() };
    assert!(match_steps(&[step("trade_timed_out", 2), never_again.clone()], &story()).is_ok());
    assert_eq!(match_steps(&[never_again], &story()).unwrap_err().step, 1);
    // An `until` that never comes is a deviation too.
    let open = Step {
        never: Some(pattern("slip_printed")),
        until: Some(pattern("settlement_completed")),
        ..Step::default()
    };
    assert_eq!(match_steps(&[open], &story()).unwrap_err().step, 1);
}

#[test]
fn within_ms_bounds_the_time_after_the_previous_step() {
    let mut late = step("reversal_sent", 2);
    late.within_ms = Some(500);
    let deviation = match_steps(&[step("trade_timed_out", 2), late.clone()], &story());
    assert_eq!(deviation.unwrap_err().step, 2);
    late.within_ms = Some(1_000);
    assert!(match_steps(&[step("trade_timed_out", 2), late], &story()).is_ok());
}

fn possim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_possim")).args(args).output().expect("possim runs")
}

/// A bad case file: exit 2, one error at its file, line and column.
#[test]
fn a_bad_case_file_exits_2_with_its_place() {
    let dir = std::env::temp_dir().join(format!("possim-certify-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(suite_dir().join("ct01_sign_in_001.yaml")).unwrap();
    let bad = good
        .replace("{switch: forwarded, with: {kind: sale}}", "{switch: forwarded, frame: \"0200\"}");
    assert_ne!(good, bad, "the case file changed: update this test");
    let file = dir.join("bad.yaml");
    std::fs::write(&file, &bad).unwrap();
    let line = bad.lines().position(|l| l.contains("switch: forwarded, frame")).unwrap() + 1;
    let output = possim(&["certify", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let place = format!("bad.yaml:{line}:7: a step names one source, not switch and frame");
    assert!(stderr.contains(&place), "{stderr}");
    // An unknown guard is refused where it is written.
    let typo = good.replace("switch.quirks:", "switch.quirk:");
    std::fs::write(&file, &typo).unwrap();
    let output = possim(&["certify", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown switch field `quirk`"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A case that deviates: exit 1, the table names the step, the JUnit file
/// carries the same text.
#[test]
fn a_failing_case_exits_1_and_reports_the_step() {
    let dir = std::env::temp_dir().join(format!("possim-certify-fail-{}", std::process::id()));
    let out = dir.join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(suite_dir().join("ct01_sign_in_001.yaml")).unwrap();
    let wrong = good.replace(
        "{switch: signed_in, with: {terminal: CT010001, mode: \"001\", batch: 1}}",
        "{switch: signed_in, with: {terminal: CT010001, mode: \"003\", batch: 1}}",
    );
    assert_ne!(good, wrong);
    std::fs::write(dir.join("wrong.yaml"), wrong).unwrap();
    let output = possim(&["certify", dir.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("CT-01") && stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("step 2: expected switch signed_in"), "{stdout}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("step 2: expected switch signed_in"), "{junit}");
    // The clean case passes, exit 0.
    std::fs::write(dir.join("wrong.yaml"), good).unwrap();
    let output = possim(&["certify", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_case_is_deterministic() {
    let cases = load_suite(&suite_dir()).expect("the suite loads");
    let first = cases.iter().find(|c| c.case.id == "CT-04").expect("CT-04");
    let a = run_case(first, None).unwrap();
    let b = run_case(first, None).unwrap();
    assert_eq!(a.deviation, b.deviation);
}

/// A scratch directory holding `files` (name, text), made anew.
fn scratch_suite(name: &str, files: &[(&str, String)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("possim-certify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn ct10() -> String {
    std::fs::read_to_string(suite_dir().join("ct10_inquiry_never_reverses.yaml")).unwrap()
}

/// Regression: a case of `never` steps alone passed on a run in which
/// nothing happened. It is now a bad case file (exit 2, at its steps).
#[test]
fn a_case_that_needs_nothing_to_happen_is_refused() {
    let good = ct10();
    let steps_at = good.find("  steps:\n").unwrap();
    let outcome_at = good.find("  outcome:\n").unwrap();
    let vacuous = format!(
        "{}  steps:\n    - never: {{frame: \"0400\"}}\n{}",
        &good[..steps_at],
        &good[outcome_at..]
    );
    let dir = scratch_suite("vacuous", &[("vacuous.yaml", vacuous.clone())]);
    let output = possim(&["certify", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let line = vacuous.lines().position(|l| l.contains("- never:")).unwrap() + 1;
    // One line, then the quoted place, as every scenario error.
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.contains(&format!("vacuous.yaml:{line}:")), "{stderr}");
    assert!(first.contains("nothing has to happen"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `never` step the run never reached (the trace ended at the step
/// before it) is "not exercised", not a pass.
#[test]
fn a_never_step_past_the_end_of_the_run_is_not_exercised() {
    let never_again = Step { never: Some(pattern("trade_started")), ..Step::default() };
    let deviation = match_steps(&[step("trade_started", 3), never_again], &story()).unwrap_err();
    assert_eq!(deviation.step, 2);
    assert!(deviation.found.starts_with("not exercised"), "{deviation}");
}

/// `--case` runs only the cases named; an id the suite does not hold is
/// bad input: exit 2 and one line, not a run of nothing.
#[test]
fn an_unknown_case_id_exits_2_with_one_line() {
    let dir = scratch_suite("select", &[("ct10.yaml", ct10())]);
    let output = possim(&["certify", dir.to_str().unwrap(), "--case", "CT-99"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown case id CT-99") && stderr.contains("CT-10"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let output = possim(&["certify", dir.to_str().unwrap(), "--case", "CT-10"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 cases: 1 passed"), "{stdout}");
    let output = possim(&["certify", dir.to_str().unwrap(), "--matrix", "--case", "CT-99"]);
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: `--matrix` exited 0 when one own guard caught the case and
/// another went unnoticed (**PASSES**), though docs/CERTIFICATION.md says
/// a **PASSES** exits 1.
#[test]
fn the_matrix_exits_1_when_an_own_guard_passes() {
    let good = ct10();
    let unnoticed = good.replace(
        "    - mutation: reverse_every_trade\n",
        "    - mutation: reverse_every_trade\n    - mutation: tamper_keeps_keys\n",
    );
    assert_ne!(good, unnoticed, "the case file changed: update this test");
    let dir = scratch_suite("matrix", &[("ct10.yaml", good)]);
    let output = possim(&["certify", dir.to_str().unwrap(), "--matrix", "--own-guards"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    std::fs::write(dir.join("ct10.yaml"), unnoticed).unwrap();
    let output = possim(&["certify", dir.to_str().unwrap(), "--matrix", "--own-guards"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("**PASSES**"), "{stdout}");
    assert!(
        stderr.contains("CT-10 passes under its own guard `mutation: tamper_keeps_keys`"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A deviation carries the seqs of the steps that held before it, so a
/// report can mark them found.
#[test]
fn a_deviation_names_the_steps_matched_before_it() {
    let steps = [step("trade_started", 2), step("reversal_sent", 2), step("trade_started", 9)];
    let deviation = match_steps(&steps, &story()).unwrap_err();
    assert_eq!(deviation.step, 3);
    assert_eq!(deviation.matched, vec![1, 3]);
    assert_eq!(deviation.forbidden, None);
    let no_trade = Step { never: Some(pattern("trade_started")), ..Step::default() };
    let deviation = match_steps(&[step("trade_timed_out", 2), no_trade], &story()).unwrap_err();
    assert_eq!((deviation.matched, deviation.forbidden), (vec![2], Some(5)));
}

/// The report of a failing case shows its steps (found, the deviation, not
/// reached) beside every frame of the run, the matched ones highlighted;
/// JUnit keeps one test case per case with the deviation as its message.
#[test]
fn a_failing_case_report_shows_the_steps_beside_the_frames() {
    let cases = load_suite(&suite_dir()).expect("the suite loads");
    let ct04 = cases.iter().find(|case| case.case.id == "CT-04").expect("CT-04");
    let clean = run_case(ct04, None).expect("runs");
    assert!(clean.passed() && clean.evidence.is_none(), "{:?}", clean.deviation);
    let guard = &ct04.case.guards[0];
    let verdict = run_case(ct04, Some(guard)).expect("runs");
    let deviation = verdict.deviation.clone().expect("CT-04 fails under its guard");
    let evidence = verdict.evidence.expect("a failed case carries its evidence");
    let view = evidence.view();
    assert_eq!(view.steps.len(), ct04.case.steps.len());
    let failed_at = evidence.deviation.as_ref().expect("a step deviated").step;
    for (index, row) in view.steps.iter().enumerate() {
        use possim_reports::evidence::StepMark;
        let number = index + 1;
        match &row.mark {
            StepMark::Found { .. } | StepMark::Held => assert!(number < failed_at, "{row:?}"),
            StepMark::Deviated { .. } => assert_eq!(number, failed_at),
            StepMark::NotReached => assert!(number > failed_at, "{row:?}"),
        }
    }
    assert!(view.frames.iter().any(|frame| frame.mti == "0200" && frame.step == Some(1)));
    assert!(view.frames.iter().any(|frame| frame.mti == "0810" && frame.step.is_none()));
    let suite = possim_reports::Suite {
        name: "certification".into(),
        cases: vec![
            possim_reports::CaseResult::fail("CT-04", &ct04.case.title, &deviation, 1)
                .with_evidence(view),
            possim_reports::CaseResult::pass("CT-05", "passes", 1),
        ],
    };
    let page = possim_reports::html::suite(&suite);
    assert!(page.contains("id=\"evidence-CT-04\""), "{page}");
    assert!(!page.contains("id=\"evidence-CT-05\""), "{page}");
    // The steps as written, the deviation, and the frames observed.
    assert!(page.contains("frame 0200 from=CT040001 to=switch stan=2 amount_fen=10000"), "{page}");
    assert!(page.contains("DEVIATION: expected"), "{page}");
    assert!(page.contains("CT040001 → switch</td><td>0800</td>"), "{page}");
    assert!(page.contains("<tr class=\"matched\"><td>#"), "{page}");
    let xml = possim_reports::junit::render(&suite).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");
    assert!(xml.contains(&deviation.replace('"', "&quot;")) || xml.contains(&deviation), "{xml}");
}

/// `possim certify --out` writes the evidence for a failing case.
#[test]
fn certify_out_writes_the_evidence_of_a_failing_case() {
    let text = std::fs::read_to_string(suite_dir().join("ct04_timeout_reversal_98.yaml")).unwrap();
    let broken = text.replace("stan: 2, code: \"98\"", "stan: 2, code: \"A0\"");
    assert_ne!(text, broken, "the case file changed: update this test");
    let dir = scratch_suite("evidence", &[("ct04.yaml", broken)]);
    let out = dir.join("report");
    let output = possim(&["certify", dir.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("id=\"evidence-CT-04\""), "{page}");
    assert!(page.contains("code=A0"), "the expected step: {page}");
    assert!(page.contains("<td>0400</td><td>2</td><td>98</td>"), "the frame observed: {page}");
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 1, "{xml}");
    assert!(xml.contains("step 5: expected"), "{xml}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The end state from matcher events is the end state from the trace; a
/// live run against a real terminal judges the balances and names the
/// counts it could not see, against a real host the reverse.
#[test]
fn the_end_state_from_events_and_what_a_live_run_judges() {
    use possim_sim::certify::case::Device;
    let cases = load_suite(&suite_dir()).expect("the suite loads");
    let ct04 = cases.iter().find(|case| case.case.id == "CT-04").expect("CT-04");
    let options = possim_sim::world::RunOptions { seed: 0, swarm: false };
    let report = possim_sim::execute::execute(&ct04.compiled, &options).expect("runs");
    let events = possim_sim::certify::matcher::events(&report.trace);
    let opening = outcome::opening_balances(&ct04.compiled);
    assert_eq!(opening["6222020000000001"], 100_000);
    let state = outcome::EndState::of_events(&opening, &events);
    assert_eq!(state, outcome::EndState::of(&report.trace));
    assert_eq!(state.balances["6222020000000001"], 95_000);
    let named = &ct04.case.outcome;
    assert_eq!(
        outcome::check_live(named, Device::Terminal, &state),
        Ok(vec!["approved", "reversed"])
    );
    assert_eq!(outcome::check_live(named, Device::Host, &state), Ok(vec!["balances"]));
    // A live terminal run sees no terminal events: the balances still judge.
    let wire: Vec<_> = events.iter().filter(|e| e.source != "terminal").cloned().collect();
    let seen = outcome::EndState::of_events(&opening, &wire);
    assert_eq!(seen.approved, 0);
    assert!(outcome::check_live(named, Device::Terminal, &seen).is_ok());
    let mut wrong = named.clone();
    wrong.balances.insert("6222020000000001".into(), 90_000);
    let error = outcome::check_live(&wrong, Device::Terminal, &seen).unwrap_err();
    assert!(error.contains("expected 90000; found 95000"), "{error}");
}

/// docs/CERTIFICATION.md lists every case with the device it names (or
/// "simulator only"), as the case files say.
#[test]
fn the_device_table_in_the_docs_matches_the_case_files() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CERTIFICATION.md"),
    )
    .unwrap();
    let cases = load_suite(&suite_dir()).expect("the suite loads");
    for loaded in &cases {
        let case = &loaded.case;
        let device = case.device.map_or("simulator only", |device| device.name());
        let row = format!("| {} {} | {device} |", case.id, case.title);
        assert!(docs.contains(&row), "docs/CERTIFICATION.md lacks the row {row}");
    }
    let terminal = cases.iter().filter(|c| c.case.device.is_some()).count();
    assert!(terminal >= 39, "{terminal} cases judged from the wire");
}
