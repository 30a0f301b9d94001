//! Property tests of the simulator's own parsers: whatever the input, a
//! typed error or a value, never a panic. The frame codec has its own
//! (models-tests/tests/roundtrip.rs); the live framing is tested with
//! random bytes on a socket (tests/live.rs).

use possim_sim::coverage::merge::{from_sweep_json, MergeError};
use possim_sim::coverage::Coverage;
use possim_sim::scenario::parse_and_compile;
use possim_sim::shards::{join, read_sections, ShardErrorKind};
use possim_sim::sweep_json::{SeedLine, SweepLine};
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

/// The outputs of `N` shards of a sweep of `start..start + len`, one text
/// per shard in shard order, with seed `s` failing when `failing[s % len]`.
fn shard_texts(start: u64, len: u64, n: u64, failing: &[bool]) -> Vec<String> {
    (1..=n)
        .map(|k| {
            let sweep = SweepLine {
                scenario: "q".into(),
                path: "q.yaml".into(),
                scenario_hash: "00000000000000ff".into(),
                seeds: format!("{start}..{}", start + len),
                shard: Some(format!("{k}/{n}")),
                swarm: false,
                coverage: false,
            };
            let mut text = serde_json::json!({ "sweep": sweep }).to_string();
            text.push('\n');
            for seed in (start..start + len).filter(|s| (s - start) % n == k - 1) {
                let fails = failing[(seed % len) as usize % failing.len()];
                let line = SeedLine {
                    seed,
                    passed: !fails,
                    failed: if fails { vec!["slip-truth".into()] } else { Vec::new() },
                    failure: fails.then(|| format!("slip-truth: seed {seed}")),
                    wall_ms: seed % 7,
                    ..SeedLine::default()
                };
                text.push_str(&serde_json::to_string(&line).unwrap());
                text.push('\n');
            }
            text
        })
        .collect()
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

    /// Any bytes as a shard's output: its sections, or a typed refusal at
    /// a line of the file.
    #[test]
    fn shard_output_of_any_bytes_reads_or_names_its_line(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        prefix in 0..2usize,
    ) {
        let mut input = Vec::new();
        if prefix == 1 {
            // Past the first line, so the seed lines' checks are reached too.
            input.extend_from_slice(shard_texts(0, 4, 2, &[false]).remove(0).as_bytes());
        }
        input.extend_from_slice(&bytes);
        let lines = input.split(|b| *b == b'\n').count();
        match read_sections("f.jsonl", input.as_slice()) {
            Ok(sections) => prop_assert!(sections.len() <= lines),
            Err(error) => {
                let place = error.place.clone().expect("a place");
                let line: usize = place.strip_prefix("f.jsonl:").expect("file:line").parse().unwrap();
                prop_assert!(line >= 1 && line <= lines, "{error}");
                prop_assert!(!error.to_string().contains('\n'), "{error}");
            }
        }
    }

    /// Shards of one sweep, in any order, join to every seed of the range;
    /// one seed line left out is named, with the shard that holds it; one
    /// seed line given twice is named with both places.
    #[test]
    fn shards_join_to_the_range_and_name_what_is_missing_or_twice(
        start in 0..1_000u64,
        len in 1..40u64,
        n in 1..6u64,
        failing in proptest::collection::vec(any::<bool>(), 1..8),
        order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        drop_at in 0..40u64,
    ) {
        let texts = shard_texts(start, len, n, &failing);
        let read = |texts: &[String]| {
            let mut sections = Vec::new();
            for index in order.iter().filter(|i| **i < texts.len()) {
                let name = format!("s{}.jsonl", index + 1);
                sections.extend(read_sections(&name, texts[*index].as_bytes())?);
            }
            join(sections)
        };
        let joined = read(&texts).expect("the shards join");
        prop_assert_eq!(joined.seeds.keys().copied().collect::<Vec<_>>(), (start..start + len).collect::<Vec<_>>());
        prop_assert_eq!(joined.shards as u64, n);
        prop_assert_eq!(joined.sweep.shard, None);
        for (seed, line) in &joined.seeds {
            let fails = failing[(seed % len) as usize % failing.len()];
            prop_assert_eq!(line.passed, !fails);
        }

        let dropped = start + drop_at % len;
        let shard = (dropped - start) % n;
        let seed_line = format!("{{\"seed\":{dropped},");
        let mut cut = texts.clone();
        cut[shard as usize] = texts[shard as usize]
            .lines()
            .filter(|line| !line.starts_with(&seed_line))
            .map(|line| format!("{line}\n"))
            .collect();
        let error = read(&cut).unwrap_err();
        prop_assert_eq!(error.kind, ShardErrorKind::Missing {
            seed: dropped,
            range: format!("{start}..{}", start + len),
            count: 1,
            shard: format!("{}/{n}", shard + 1),
        });

        let mut twice = texts.clone();
        let line = texts[shard as usize].lines().find(|line| line.starts_with(&seed_line)).unwrap();
        twice[shard as usize].push_str(&format!("{line}\n"));
        let error = read(&twice).unwrap_err();
        let ShardErrorKind::SeedTwice { seed, .. } = error.kind else {
            return Err(TestCaseError::fail(format!("not a seed twice: {error}")));
        };
        prop_assert_eq!(seed, dropped);
    }
}
