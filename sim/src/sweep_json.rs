//! The lines `possim sweep --json` writes, and the one parser that reads
//! them back for `possim tally` and `possim merge`.
//!
//! A sweep's output is, in order: one `{"sweep": {...}}` line saying what
//! was swept (the scenario's name, path and hash, the whole seed range, the
//! shard, swarm, coverage); one line per seed; and, with `--coverage`, one
//! `{"coverage": {...}}` line. Output of an older possim has no sweep line
//! and fewer fields per seed: [`classify`] reads it too (tally counts it),
//! and `possim merge` refuses it, since it cannot check what it merges.
//!
//! Everything on these lines is deterministic but `wall_ms`, the seed's wall
//! time, which only the report's timings show.
//!
//! ```
//! use possim_sim::sweep_json::{classify, Line};
//! let header = r#"{"sweep":{"scenario":"quickstart","path":"q.yaml","scenario_hash":"00ff","seeds":"0..3","shard":"1/3","swarm":false,"coverage":false}}"#;
//! let Line::Sweep(sweep) = classify(1, header).unwrap() else { panic!() };
//! assert_eq!(sweep.range().unwrap(), (0, 3));
//! assert_eq!(sweep.shard_of().unwrap(), (1, 3));
//! let Line::Seed(seed) = classify(2, r#"{"seed":0,"passed":true}"#).unwrap() else { panic!() };
//! assert!(seed.passed && seed.outcomes.is_empty());
//! assert_eq!(classify(3, "hello").unwrap_err().to_string().split(':').next(), Some("line 3"));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::coverage::Coverage;

/// The longest line read, in bytes: a seed line holds the first violation
/// of each failing invariant, a few hundred bytes; the coverage line some
/// tens of kilobytes.
pub const LINE_BYTES_MAX: usize = 1 << 20;

/// What a sweep's first line says about the whole sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepLine {
    /// The scenario's name (its `name:`).
    pub scenario: String,
    /// The scenario file as the sweep was given it: the repro lines name it.
    pub path: String,
    /// FNV-1a (64 bit, 16 hex digits) of the scenario file's bytes.
    pub scenario_hash: String,
    /// The whole range `A..B`, shard or not.
    pub seeds: String,
    /// `K/N` when the sweep ran one shard of the range.
    pub shard: Option<String>,
    pub swarm: bool,
    /// Whether a coverage line follows the seed lines.
    pub coverage: bool,
}

impl SweepLine {
    /// The range `A..B` as numbers, `A < B`.
    pub fn range(&self) -> Option<(u64, u64)> {
        let (a, b) = self.seeds.split_once("..")?;
        let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
        (a < b).then_some((a, b))
    }

    /// The shard as `(K, N)`, `1 <= K <= N`; `(1, 1)` for a whole sweep.
    pub fn shard_of(&self) -> Option<(u64, u64)> {
        let Some(text) = &self.shard else { return Some((1, 1)) };
        let (k, n) = text.split_once('/')?;
        let (k, n) = (k.parse::<u64>().ok()?, n.parse::<u64>().ok()?);
        (n >= 1 && (1..=n).contains(&k)).then_some((k, n))
    }
}

/// One seed's line. Fields an older possim did not write default to empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedLine {
    pub seed: u64,
    pub passed: bool,
    /// The failed invariants (or `run-error`, `panic`).
    #[serde(default)]
    pub failed: Vec<String>,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub trades: u64,
    #[serde(default)]
    pub simulated_ms: u64,
    /// Why the seed did not reach its verdicts.
    #[serde(default)]
    pub error: Option<String>,
    /// The report's failure text for the seed; absent when it passed.
    #[serde(default)]
    pub failure: Option<String>,
    /// Trades by outcome, and faults by kind (only what is not zero).
    #[serde(default)]
    pub outcomes: BTreeMap<String, u64>,
    #[serde(default)]
    pub faults: BTreeMap<String, u64>,
    /// The seed's wall time: the one field that differs between two runs.
    #[serde(default)]
    pub wall_ms: u64,
}

/// One line of a sweep's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Sweep(SweepLine),
    Seed(SeedLine),
    Coverage(Box<Coverage>),
    /// Only white space.
    Blank,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("line {line}: longer than the bound LINE_BYTES_MAX = {LINE_BYTES_MAX} bytes")]
    TooLong { line: usize },
    #[error("line {line}: not a sweep line: {message}")]
    NotSweep { line: usize, message: String },
}

impl LineError {
    pub fn line(&self) -> usize {
        match self {
            LineError::TooLong { line } | LineError::NotSweep { line, .. } => *line,
        }
    }
}

/// What line `line` (1-based, for the message) of a sweep's output is.
pub fn classify(line: usize, text: &str) -> Result<Line, LineError> {
    if text.len() > LINE_BYTES_MAX {
        return Err(LineError::TooLong { line });
    }
    if text.trim().is_empty() {
        return Ok(Line::Blank);
    }
    let not_sweep =
        |error: serde_json::Error| LineError::NotSweep { line, message: error.to_string() };
    let value: serde_json::Value = serde_json::from_str(text).map_err(not_sweep)?;
    let Some(object) = value.as_object() else {
        return Err(LineError::NotSweep { line, message: "not a JSON object".into() });
    };
    if let Some(sweep) = object.get("sweep") {
        return Ok(Line::Sweep(SweepLine::deserialize(sweep).map_err(not_sweep)?));
    }
    if let Some(coverage) = object.get("coverage") {
        return Ok(Line::Coverage(Box::new(Coverage::deserialize(coverage).map_err(not_sweep)?)));
    }
    Ok(Line::Seed(SeedLine::deserialize(value).map_err(not_sweep)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lines_and_new_lines_both_read() {
        let old = r#"{"seed":3,"passed":false,"failed":["slip-truth"],"hash":"ab","trades":2,"simulated_ms":9,"error":null}"#;
        let Line::Seed(seed) = classify(1, old).unwrap() else { panic!("a seed line") };
        assert_eq!((seed.seed, seed.failure, seed.wall_ms), (3, None, 0));
        let new = r#"{"seed":3,"passed":false,"failed":["slip-truth"],"failure":"slip-truth: x","outcomes":{"approved":2},"wall_ms":5}"#;
        let Line::Seed(seed) = classify(1, new).unwrap() else { panic!("a seed line") };
        assert_eq!(seed.failure.as_deref(), Some("slip-truth: x"));
        assert_eq!(seed.outcomes["approved"], 2);
    }

    #[test]
    fn a_line_over_the_bound_is_refused_before_it_is_parsed() {
        let long =
            format!("{{\"seed\":1,\"passed\":true,\"error\":\"{}\"}}", "x".repeat(LINE_BYTES_MAX));
        assert_eq!(classify(7, &long), Err(LineError::TooLong { line: 7 }));
    }

    #[test]
    fn a_malformed_sweep_line_is_not_taken_for_a_seed() {
        let error = classify(2, r#"{"sweep":{"scenario":"q"}}"#).unwrap_err();
        assert!(
            error.to_string().starts_with("line 2: not a sweep line: missing field"),
            "{error}"
        );
    }
}
