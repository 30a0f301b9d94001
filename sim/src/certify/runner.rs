//! Loading a directory of cases and running them: each case's scenario
//! runs once (scripted, so the seed does not matter), its steps are matched
//! against the trace and its outcome against the end state.
//!
//! ```no_run
//! use possim_sim::certify::runner::{load_suite, run_case};
//! let cases = load_suite(std::path::Path::new("scenarios/certification")).unwrap();
//! for case in &cases {
//!     let result = run_case(case, None).unwrap();
//!     println!("{} {}", case.case.id, if result.passed() { "pass" } else { "FAIL" });
//! }
//! ```

use std::path::{Path, PathBuf};

use super::case::{Case, Guard};
use super::evidence::Evidence;
use super::guard;
use super::matcher::events;
use super::outcome;
use crate::execute::execute;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::error::{FieldPath, ScenarioError};
use crate::scenario::locate::Locations;
use crate::scenario::model::Scenario;
use crate::scenario::{load, validate};
use crate::world::RunOptions;

/// Case files one suite may hold.
pub const CASES_MAX: usize = 1_000;

/// A case file, read, checked and compiled.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub path: PathBuf,
    pub scenario: Scenario,
    pub compiled: CompiledScenario,
    pub case: Case,
}

/// One case's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseVerdict {
    /// The first step (or outcome) that deviated; `None`: the case passed.
    pub deviation: Option<String>,
    pub wall_ms: u64,
    /// The steps beside the run's frames, when the case failed.
    pub evidence: Option<Evidence>,
}

impl CaseVerdict {
    pub fn passed(&self) -> bool {
        self.deviation.is_none()
    }
}

/// An error with no place in a text (a file or directory not read).
fn no_place(file: &str, message: String) -> ScenarioError {
    ScenarioError { file: file.to_owned(), line: 0, column: 0, message, snippet: None }
}

/// Reads one case file: a scenario with a `case:` section.
pub fn load_case(path: &Path) -> Result<LoadedCase, ScenarioError> {
    let file = path.display().to_string();
    let text = load::read_text(path)
        .map_err(|reason| no_place(&file, format!("cannot read the case: {reason}")))?;
    let scenario = load::parse(&text, &file)?;
    let compiled = validate::compile_located(&scenario, &text, &file)?;
    let Some(case) = scenario.case.clone() else {
        return Err(ScenarioError::at(
            &file,
            &text,
            1,
            1,
            "not a certification case: no `case:` section".to_string(),
        ));
    };
    Ok(LoadedCase { path: path.to_owned(), scenario, compiled, case })
}

/// Every `*.yaml` in `dir`, by file name; case ids must be unique.
pub fn load_suite(dir: &Path) -> Result<Vec<LoadedCase>, ScenarioError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|error| no_place(&shown, format!("cannot read the case directory: {error}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(no_place(&shown, "no case files (*.yaml) in this directory".into()));
    }
    if paths.len() > CASES_MAX {
        return Err(no_place(&shown, format!("more than {CASES_MAX} case files")));
    }
    let mut cases: Vec<LoadedCase> = Vec::with_capacity(paths.len());
    for path in paths {
        let loaded = load_case(&path)?;
        if let Some(first) = cases.iter().find(|other| other.case.id == loaded.case.id) {
            let file = path.display().to_string();
            let text = load::read_text(&path).unwrap_or_default();
            let at = FieldPath::root().key("case").key("id");
            let (line, column) = Locations::of(&text).map_or((1, 1), |map| map.find(&at));
            return Err(ScenarioError::at(
                &file,
                &text,
                line,
                column,
                format!("case id {} is already used by {}", loaded.case.id, first.path.display()),
            ));
        }
        cases.push(loaded);
    }
    Ok(cases)
}

/// Judges `case` on a scenario's run: steps first, then the outcome.
pub fn judge(case: &Case, scenario: &CompiledScenario) -> Result<Option<String>, String> {
    judge_with_evidence(case, scenario).map(|(deviation, _)| deviation)
}

/// As [`judge`], with the evidence: which event each step matched, the
/// frames observed, and the outcome's complaint when the steps held.
pub fn judge_with_evidence(
    case: &Case,
    scenario: &CompiledScenario,
) -> Result<(Option<String>, Evidence), String> {
    let options = RunOptions { seed: scenario.run.seed, swarm: false };
    let report = execute(scenario, &options).map_err(|error| error.to_string())?;
    let events = events(&report.trace);
    let mut evidence = Evidence::of(case, &events);
    if let Some(deviation) = &evidence.deviation {
        return Ok((Some(deviation.to_string()), evidence));
    }
    evidence.outcome = outcome::check(&case.outcome, &report).err();
    Ok((evidence.outcome.clone(), evidence))
}

/// Runs a case, clean (`guard` `None`) or under one guard.
pub fn run_case(loaded: &LoadedCase, guard: Option<&Guard>) -> Result<CaseVerdict, String> {
    let started = std::time::Instant::now();
    let (deviation, evidence) = match guard {
        None => judge_with_evidence(&loaded.case, &loaded.compiled)?,
        Some(guard) => {
            let guarded = guard::apply(&loaded.scenario, guard)?;
            let compiled = guarded.compile().map_err(|error| error.to_string())?;
            judge_with_evidence(&loaded.case, &compiled)?
        }
    };
    let evidence = deviation.is_some().then_some(evidence);
    Ok(CaseVerdict { deviation, wall_ms: started.elapsed().as_millis() as u64, evidence })
}
