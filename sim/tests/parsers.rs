//! Property tests of the simulator's own parsers: whatever the input, a
//! typed error or a value, never a panic. The frame codec has its own
//! (models-tests/tests/roundtrip.rs); the live framing is tested with
//! random bytes on a socket (tests/live.rs).

use possim_sim::coverage::merge::{from_sweep_json, MergeError};
use possim_sim::coverage::Coverage;
use possim_sim::scenario::parse_and_compile;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const QUICKSTART: &str = include_str!("../../scenarios/quickstart.yaml");
const PROTOCOL: &str = include_str!("../../scenarios/faults/protocol.yaml");

/// A scenario with one edit at `at_per_10k` of its length: bytes cut, and
/// a short run of arbitrary text put in.
fn edited(base: &str, at_per_10k: usize, cut: usize, insert: &str) -> String {
    let mut start = base.len() * at_per_10k / 10_000;
    while !base.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + cut).min(base.len());
    while !base.is_char_boundary(end) {
        end += 1;
    }
    format!("{}{insert}{}", &base[..start], &base[end..])
}

/// Cases from `PROPTEST_CASES` (512 when unset); failures persist in
/// `tests/parsers.proptest-regressions` and re-run first.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/parsers.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// A damaged scenario compiles or says where it broke: inside the file,
    /// with a one-line lowercase message.
    #[test]
    fn a_damaged_scenario_compiles_or_names_its_line_and_column(
        which in 0..2usize,
        at in 0..10_000usize,
        cut in 0..40usize,
        insert in "[ -~\n\t]{0,12}",
    ) {
        let base = [QUICKSTART, PROTOCOL][which];
        let text = edited(base, at, cut, &insert);
        if let Err(error) = parse_and_compile(&text, "damaged.yaml") {
            let lines = text.lines().count() as u64 + 1;
            prop_assert!(error.line <= lines, "line {} of {lines}: {}", error.line, error.headline());
            prop_assert!(!error.message.is_empty());
            prop_assert!(!error.message.contains('\n'), "{}", error.message);
            prop_assert!(error.headline().starts_with("damaged.yaml:"));
        }
    }

    /// Any text at all: a merged coverage or a typed error.
    #[test]
    fn sweep_json_of_any_text_reads_or_fails_typed(text in "\\PC{0,200}") {
        match from_sweep_json(&text) {
            Ok(coverage) => prop_assert!(coverage.runs < u64::MAX),
            Err(MergeError::NotJson { line, .. } | MergeError::Malformed { line, .. }) => {
                prop_assert!(line >= 1 && line <= text.lines().count());
            }
            Err(MergeError::Missing | MergeError::TooLong) => {}
        }
    }

    /// What a sweep writes reads back to the same counts, however many
    /// slices it is split into.
    #[test]
    fn coverage_written_by_slices_reads_back_as_their_sum(
        codes in proptest::collection::btree_map("[0-9A-Z]{2} [a-z ]{1,8}", 1..1000u64, 0..6),
        slices in 1..5usize,
    ) {
        let one = Coverage { runs: 1, codes, ..Coverage::default() };
        let mut text = String::from("{\"seed\":0,\"passed\":true}\n");
        for _ in 0..slices {
            text.push_str(&serde_json::json!({ "coverage": one }).to_string());
            text.push('\n');
        }
        let read = from_sweep_json(&text).expect("reads back");
        let mut sum = Coverage::default();
        for _ in 0..slices {
            sum.merge(&one);
        }
        prop_assert_eq!(read, sum);
    }
}
