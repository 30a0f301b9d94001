//! The certification suite: every case passes clean and fails under at
//! least one of its own guards; the step matcher; a bad case file.

use std::path::Path;
use std::process::Command;

use possim_sim::certify::case::{Pattern, Step};
use possim_sim::certify::matcher::{match_steps, Event};
use possim_sim::certify::matrix;
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
    let bad = good.replace(
        "{terminal: slip_printed, with: {kind: approval}}",
        "{terminal: slip_printed, switch: answered}",
    );
    assert_ne!(good, bad, "the case file changed: update this test");
    let file = dir.join("bad.yaml");
    std::fs::write(&file, &bad).unwrap();
    let line = bad.lines().position(|l| l.contains("switch: answered")).unwrap() + 1;
    let output = possim(&["certify", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let place = format!("bad.yaml:{line}:7: a step names one source, not terminal and switch");
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
    assert!(stdout.contains("step 3: expected switch signed_in"), "{stdout}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("step 3: expected switch signed_in"), "{junit}");
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
