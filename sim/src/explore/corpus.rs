//! The corpus on disk: a directory holding `corpus.jsonl` (one entry a
//! line: the input, the run it came from, the cells it reached) and
//! `state.json` (the scenario's name, generations and runs made so far), so
//! the next `possim explore --corpus DIR` continues where this one stopped.
//!
//! ```
//! use possim_sim::explore::corpus::{load, save};
//! use possim_sim::explore::Corpus;
//! let dir = std::env::temp_dir().join(format!("possim-corpus-doc-{}", std::process::id()));
//! let corpus = Corpus { scenario: "s".into(), ..Corpus::default() };
//! save(&dir, &corpus).unwrap();
//! assert_eq!(load(&dir, "s").unwrap(), corpus);
//! assert!(load(&dir, "other").unwrap_err().contains("explored scenario s"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Corpus, Entry};

pub const ENTRIES: &str = "corpus.jsonl";
pub const STATE: &str = "state.json";
/// Entries read at most from one corpus.
pub const ENTRIES_MAX: usize = 1_000_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    scenario: String,
    generations: u64,
    runs: u64,
}

/// The corpus in `dir`; an empty one when `dir` has none yet. `scenario`
/// is the name of the scenario explored: a corpus of another is refused.
pub fn load(dir: &Path, scenario: &str) -> Result<Corpus, String> {
    let state_path = dir.join(STATE);
    let mut corpus = Corpus { scenario: scenario.to_string(), ..Corpus::default() };
    if !state_path.exists() {
        return Ok(corpus);
    }
    let text = std::fs::read_to_string(&state_path)
        .map_err(|error| format!("{}: cannot read: {error}", state_path.display()))?;
    let state: State = serde_json::from_str(&text)
        .map_err(|error| format!("{}: malformed: {error}", state_path.display()))?;
    if state.scenario != scenario {
        return Err(format!(
            "{}: this corpus explored scenario {}, not {scenario}",
            dir.display(),
            state.scenario
        ));
    }
    corpus.generations = state.generations;
    corpus.runs = state.runs;
    let entries_path = dir.join(ENTRIES);
    let text = match std::fs::read_to_string(&entries_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(format!("{}: cannot read: {error}", entries_path.display())),
    };
    for (index, line) in text.lines().enumerate() {
        if index >= ENTRIES_MAX {
            return Err(format!("{}: more than {ENTRIES_MAX} entries", entries_path.display()));
        }
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(line).map_err(|error| {
            format!("{}:{}: malformed entry: {error}", entries_path.display(), index + 1)
        })?;
        corpus.entries.push(entry);
    }
    Ok(corpus)
}

/// Writes `corpus` into `dir` (made if missing), each file whole then
/// renamed into place.
pub fn save(dir: &Path, corpus: &Corpus) -> Result<(), String> {
    let fail = |path: &Path, error: &dyn std::fmt::Display| {
        format!("{}: cannot write: {error}", path.display())
    };
    std::fs::create_dir_all(dir).map_err(|error| fail(dir, &error))?;
    let mut lines = String::new();
    for entry in &corpus.entries {
        let line = serde_json::to_string(entry).map_err(|error| fail(dir, &error))?;
        lines.push_str(&line);
        lines.push('\n');
    }
    let state = State {
        scenario: corpus.scenario.clone(),
        generations: corpus.generations,
        runs: corpus.runs,
    };
    let state = serde_json::to_string_pretty(&state).map_err(|error| fail(dir, &error))? + "\n";
    for (name, text) in [(ENTRIES, lines), (STATE, state)] {
        let path = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        std::fs::write(&partial, text).map_err(|error| fail(&partial, &error))?;
        std::fs::rename(&partial, &path).map_err(|error| fail(&path, &error))?;
    }
    Ok(())
}
