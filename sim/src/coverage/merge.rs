//! Reading coverage back from `possim sweep --coverage --json` output, so
//! the slices of a long sweep (seed ranges, `--shard K/N` on many machines,
//! several scenarios) merge into one listing: `possim coverage FILE...`.
//!
//! A sweep's JSON output is one line per seed, then one `{"coverage": ...}`
//! line; the seed lines are skipped.
//!
//! ```
//! use possim_sim::coverage::merge::from_sweep_json;
//! let text = r#"{"seed":0,"passed":true}
//! {"coverage":{"runs":1,"codes":{"00 approved":3}}}
//! "#;
//! let coverage = from_sweep_json(text).unwrap();
//! assert_eq!((coverage.runs, coverage.codes["00 approved"]), (1, 3));
//! assert_eq!(from_sweep_json("{\"seed\":0}\n").unwrap_err().to_string(),
//!            "no coverage line (write it with possim sweep --coverage --json)");
//! ```

use super::count::Coverage;

/// Lines read at most from one file: a sweep writes one per seed.
pub const LINES_MAX: usize = 10_000_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("line {line}: not a JSON object: {message}")]
    NotJson { line: usize, message: String },
    #[error("line {line}: the coverage object is malformed: {message}")]
    Malformed { line: usize, message: String },
    #[error("no coverage line (write it with possim sweep --coverage --json)")]
    Missing,
    #[error("more than {LINES_MAX} lines")]
    TooLong,
}

/// Every coverage object in `text`, merged.
pub fn from_sweep_json(text: &str) -> Result<Coverage, MergeError> {
    let mut total: Option<Coverage> = None;
    for (index, line) in text.lines().enumerate() {
        if index >= LINES_MAX {
            return Err(MergeError::TooLong);
        }
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| MergeError::NotJson { line: line_no, message: e.to_string() })?;
        let Some(object) = value.as_object() else {
            return Err(MergeError::NotJson { line: line_no, message: "not an object".into() });
        };
        let Some(coverage) = object.get("coverage") else { continue };
        let coverage: Coverage = serde_json::from_value(coverage.clone())
            .map_err(|e| MergeError::Malformed { line: line_no, message: e.to_string() })?;
        total.get_or_insert_with(Coverage::default).merge(&coverage);
    }
    total.ok_or(MergeError::Missing)
}
