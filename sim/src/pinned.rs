//! Pinned trace hashes: the committed manifest of what every bundled
//! scenario's trace hashes to on a few seeds, and the check against it.
//!
//! A change to the simulator or the models either leaves every pinned hash
//! as it is (a refactor, a speed-up) or moves some of them, and then the
//! manifest is rewritten in the same commit (`possim hashes --write`) so the
//! diff shows which traces moved and the commit message says why.
//!
//! The manifest is plain text, one run a line: the scenario's path from the
//! repository's root, the seed, the hash.
//!
//! ```
//! use possim_sim::pinned::{parse_manifest, render_manifest, Pin};
//! let pins = vec![Pin { scenario: "scenarios/quickstart.yaml".into(), seed: 0, hash: "e1875e238af13e66".into() }];
//! let text = render_manifest(&pins);
//! assert_eq!(parse_manifest(&text).unwrap(), pins);
//! assert!(parse_manifest("scenarios/x.yaml zero abc\n").unwrap_err().to_string().contains("line 1"));
//! ```

use std::path::{Path, PathBuf};

/// Where the manifest lives, from the repository's root.
pub const MANIFEST: &str = "scenarios/pinned-hashes.tsv";

/// The runs that are pinned: each bundled scenario directory (or file) with
/// the seeds pinned for it. The soak costs seconds a seed, so it pins one.
pub const PINNED: &[(&str, &[u64])] = &[
    ("scenarios/quickstart.yaml", &[0, 1, 2]),
    ("scenarios/faults", &[0, 1, 2]),
    ("scenarios/variants", &[0, 1, 2]),
    ("scenarios/repros", &[0, 1, 2]),
    ("scenarios/certification", &[0, 1, 2]),
    ("scenarios/soak", &[0]),
];

/// One pinned run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pin {
    /// The scenario's path from the repository's root, with `/` separators.
    pub scenario: String,
    pub seed: u64,
    /// The trace hash, as `possim run` prints it.
    pub hash: String,
}

/// A manifest line that does not read.
#[derive(Debug, thiserror::Error)]
#[error("{MANIFEST}: line {line}: {message}")]
pub struct ManifestError {
    pub line: usize,
    pub message: String,
}

/// The runs to pin, found under `root`, sorted: every `.yaml` directly in
/// each pinned directory, with that entry's seeds.
pub fn runs(root: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut runs = Vec::new();
    for (entry, seeds) in PINNED {
        let path = root.join(entry);
        let mut files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(&path)?
                .map(|item| item.map(|item| item.path()))
                .collect::<std::io::Result<Vec<_>>>()?
                .into_iter()
                .filter(|file| file.extension().is_some_and(|ext| ext == "yaml"))
                .collect()
        } else {
            vec![path]
        };
        files.sort();
        for file in files {
            let relative = file.strip_prefix(root).unwrap_or(&file);
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            for seed in *seeds {
                runs.push((name.clone(), *seed));
            }
        }
    }
    runs.sort();
    Ok(runs)
}

/// The manifest's text: a header that says how to rewrite it, then a line a run.
pub fn render_manifest(pins: &[Pin]) -> String {
    let mut text = String::from(
        "# Pinned trace hashes: scenario, seed, hash. Checked by `possim hashes`\n\
         # (CI runs it); rewritten only by `possim hashes --write`, in the commit\n\
         # whose message says why the moved traces moved.\n",
    );
    for pin in pins {
        text.push_str(&format!("{}\t{}\t{}\n", pin.scenario, pin.seed, pin.hash));
    }
    text
}

/// Reads a manifest's text.
pub fn parse_manifest(text: &str) -> Result<Vec<Pin>, ManifestError> {
    let mut pins = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let fail = |message: String| ManifestError { line: line_number, message };
        let [scenario, seed, hash] = fields.as_slice() else {
            return Err(fail(format!(
                "expected scenario, seed and hash, found {} fields",
                fields.len()
            )));
        };
        let seed =
            seed.parse::<u64>().map_err(|_| fail(format!("the seed {seed:?} is not a number")))?;
        if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(format!("the hash {hash:?} is not 16 hexadecimal digits")));
        }
        pins.push(Pin { scenario: scenario.to_string(), seed, hash: hash.to_string() });
    }
    Ok(pins)
}

/// How the hashes of this build compare with the manifest's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Runs whose hash equals the pinned one.
    pub equal: usize,
    /// (scenario, seed, pinned, now).
    pub moved: Vec<(String, u64, String, String)>,
    /// Runs pinned that are no longer bundled.
    pub gone: Vec<(String, u64)>,
    /// Bundled runs the manifest does not pin.
    pub unpinned: Vec<(String, u64)>,
}

impl Comparison {
    /// Whether this build's traces are the pinned ones, and every run was judged.
    pub fn holds(&self) -> bool {
        self.equal > 0 && self.moved.is_empty() && self.gone.is_empty() && self.unpinned.is_empty()
    }
}

/// Compares `now` (this build's hashes) with the `pinned` ones.
pub fn compare(pinned: &[Pin], now: &[Pin]) -> Comparison {
    let mut comparison = Comparison::default();
    let pinned_by_run: std::collections::BTreeMap<(&str, u64), &str> =
        pinned.iter().map(|p| ((p.scenario.as_str(), p.seed), p.hash.as_str())).collect();
    let now_by_run: std::collections::BTreeMap<(&str, u64), &str> =
        now.iter().map(|p| ((p.scenario.as_str(), p.seed), p.hash.as_str())).collect();
    for (&(scenario, seed), &hash) in &now_by_run {
        match pinned_by_run.get(&(scenario, seed)) {
            Some(&pin) if pin == hash => comparison.equal += 1,
            Some(&pin) => comparison.moved.push((scenario.into(), seed, pin.into(), hash.into())),
            None => comparison.unpinned.push((scenario.into(), seed)),
        }
    }
    for &(scenario, seed) in pinned_by_run.keys() {
        if !now_by_run.contains_key(&(scenario, seed)) {
            comparison.gone.push((scenario.into(), seed));
        }
    }
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(scenario: &str, seed: u64, hash: &str) -> Pin {
        Pin { scenario: scenario.into(), seed, hash: hash.into() }
    }

    #[test]
    fn a_moved_hash_a_gone_run_and_an_unpinned_run_are_each_named() {
        let pinned =
            vec![pin("a.yaml", 0, "0000000000000001"), pin("b.yaml", 0, "0000000000000002")];
        let now = vec![pin("a.yaml", 0, "0000000000000009"), pin("c.yaml", 1, "0000000000000003")];
        let comparison = compare(&pinned, &now);
        assert_eq!(comparison.equal, 0);
        assert_eq!(
            comparison.moved,
            vec![("a.yaml".into(), 0, "0000000000000001".into(), "0000000000000009".into())]
        );
        assert_eq!(comparison.gone, vec![("b.yaml".into(), 0)]);
        assert_eq!(comparison.unpinned, vec![("c.yaml".into(), 1)]);
        assert!(!comparison.holds());
    }

    #[test]
    fn an_empty_comparison_does_not_hold() {
        assert!(!compare(&[], &[]).holds(), "a check that judged nothing is not a pass");
        let same = vec![pin("a.yaml", 0, "0000000000000001")];
        assert!(compare(&same, &same).holds());
    }

    #[test]
    fn the_manifest_refuses_a_short_hash_and_a_missing_field() {
        assert!(parse_manifest("a.yaml 0 abc\n").unwrap_err().message.contains("16 hexadecimal"));
        assert!(parse_manifest("# c\n\na.yaml 0\n").unwrap_err().line == 3);
    }

    #[test]
    fn the_bundled_runs_include_every_small_scenario_and_the_soak() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let runs = runs(&root).unwrap();
        assert!(runs.contains(&("scenarios/quickstart.yaml".into(), 2)));
        assert!(runs.contains(&("scenarios/soak/business_day.yaml".into(), 0)));
        assert!(!runs.contains(&("scenarios/soak/business_day.yaml".into(), 1)));
        assert!(runs.iter().any(|(s, _)| s.starts_with("scenarios/certification/ct01")));
    }
}
