//! `possim certify`: runs the certification cases, prints a table (id,
//! title, pass/fail, the first step that deviated), writes the report and
//! the JUnit file; `--matrix` prints the cases × guards table instead.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use possim_reports::{write_suite, CaseResult, Suite};
use possim_sim::certify::matrix;
use possim_sim::certify::runner::{load_suite, run_case};

use super::exit;
use super::frame::InputError;

#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// The directory of case files.
    #[arg(default_value = "scenarios/certification")]
    pub dir: PathBuf,
    /// Write summary.md, junit.xml and report.html into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run every case under every guard any case names and print the
    /// Markdown matrix; exit 1 unless every case passes clean and fails
    /// under one of its own guards.
    #[arg(long)]
    pub matrix: bool,
    /// With --matrix: only each case's own guards (faster).
    #[arg(long, requires = "matrix")]
    pub own_guards: bool,
}

pub fn run(args: CertifyArgs) -> Result<u8> {
    let cases =
        load_suite(&args.dir).map_err(|error| anyhow::anyhow!(InputError(error.to_string())))?;
    if args.matrix {
        let columns = matrix::columns(&cases);
        let rows = matrix::rows(&cases, (!args.own_guards).then_some(columns.as_slice()));
        let mut out = std::io::stdout().lock();
        write!(out, "{}", matrix::markdown(&rows, &columns))?;
        let uncertified: Vec<&str> =
            rows.iter().filter(|row| !row.certified()).map(|row| row.id.as_str()).collect();
        if uncertified.is_empty() {
            eprintln!("matrix: {} cases, each passes clean and fails under a guard", rows.len());
            return Ok(exit::PASS);
        }
        eprintln!(
            "matrix: FAIL: not passing clean or caught by none of their guards: {}",
            uncertified.join(", ")
        );
        return Ok(exit::FAIL);
    }
    let mut results = Vec::with_capacity(cases.len());
    let mut out = std::io::stdout().lock();
    let width = cases.iter().map(|c| c.case.title.chars().count()).max().unwrap_or(5).min(60);
    writeln!(out, "{:<8} {:<width$} {:<6} first deviation", "id", "title", "result")?;
    for loaded in &cases {
        let verdict = run_case(loaded, None).map_err(|error| anyhow::anyhow!(error))?;
        let id = &loaded.case.id;
        let title = &loaded.case.title;
        let repro = format!("possim run {}", loaded.path.display());
        let result = match &verdict.deviation {
            None => CaseResult::pass(id, title, verdict.wall_ms),
            Some(deviation) => CaseResult::fail(id, title, deviation, verdict.wall_ms),
        }
        .with_repro(repro);
        writeln!(
            out,
            "{id:<8} {title:<width$} {:<6} {}",
            if result.passed { "pass" } else { "FAIL" },
            verdict.deviation.as_deref().unwrap_or("-")
        )?;
        results.push(result);
    }
    let suite = Suite { name: "certification".into(), cases: results };
    writeln!(
        out,
        "{} cases: {} passed, {} failed",
        suite.cases.len(),
        suite.cases.len() - suite.failures(),
        suite.failures()
    )?;
    if let Some(dir) = &args.out {
        write_suite(dir, &suite)?;
        writeln!(out, "report    {}", dir.display())?;
    }
    Ok(if suite.passed() { exit::PASS } else { exit::FAIL })
}
