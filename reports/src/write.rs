//! Writing a report directory.

use std::path::Path;

use crate::case::Suite;
use crate::error::ReportError;
use crate::run::RunRecord;
use crate::sweep::SweepRecord;

/// Writes one file of a report directory, creating the directory.
pub fn file(dir: &Path, name: &str, contents: &str) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|source| ReportError::Write { path, source })
}

/// Writes `summary.md`, `junit.xml` and `report.html` for a suite of cases.
pub fn write_suite(dir: &Path, suite: &Suite) -> Result<(), ReportError> {
    file(dir, "summary.md", &crate::markdown::suite(suite))?;
    file(dir, "junit.xml", &crate::junit::render(suite)?)?;
    file(dir, "report.html", &crate::html::suite(suite))
}

/// Writes one run's `report.html`, `summary.md` and `junit.xml` (one case
/// per invariant). The event log, `trace.jsonl`, is the simulator's to write.
pub fn write_run(dir: &Path, record: &RunRecord) -> Result<(), ReportError> {
    file(dir, "report.html", &crate::run_html::render(record))?;
    file(dir, "summary.md", &crate::run_markdown::render(record))?;
    file(dir, "junit.xml", &crate::junit::render(&record.suite())?)
}

/// Writes a sweep's `report.html`, `summary.md` and `junit.xml` (one case
/// per seed).
pub fn write_sweep(dir: &Path, record: &SweepRecord) -> Result<(), ReportError> {
    file(dir, "report.html", &crate::sweep_html::render(record))?;
    file(dir, "summary.md", &crate::sweep_markdown::render(record))?;
    file(dir, "junit.xml", &crate::junit::render(&record.suite)?)
}
