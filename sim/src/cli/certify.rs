//! `possim certify`: runs the certification cases, prints a table (id,
//! title, pass/fail, the first step that deviated), writes the report and
//! the JUnit file; `--matrix` prints the cases × guards table instead.
//! Exit 0: every case passed (with `--matrix`: every case passes clean and
//! fails under every guard it names); 1: not; 2: a bad case file or
//! directory, or an unknown `--case` id.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use possim_reports::{write_suite, CaseResult, Suite};
use possim_sim::certify::matrix;
use possim_sim::certify::runner::{load_suite, run_case, LoadedCase};

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
    /// Only this case (its id, e.g. CT-04); repeat for more.
    #[arg(long = "case", value_name = "ID")]
    pub cases: Vec<String>,
    /// Run every case under every guard any case names and print the
    /// Markdown matrix; exit 1 if a case fails clean or passes under a
    /// guard it names.
    #[arg(long)]
    pub matrix: bool,
    /// With --matrix: only each case's own guards (faster).
    #[arg(long, requires = "matrix")]
    pub own_guards: bool,
    /// Run the `device: terminal` cases against a real terminal that
    /// connects to this address (port 0 picks one; the operator script's
    /// first line names it). docs/CERTIFICATION.md, "A real terminal".
    #[arg(long, value_name = "ADDR", conflicts_with = "matrix")]
    pub serve: Option<String>,
    /// With --serve: `console` (sentences for a person, nothing read back)
    /// or `json` (JSON Lines on stdout, answers on stdin).
    #[arg(long, default_value = "console", requires = "serve", value_parser = ["console", "json"])]
    pub operator: String,
    /// With --serve: the deadline of the operator's `ready` and of each
    /// acknowledgement.
    #[arg(long, default_value_t = 60_000, requires = "serve")]
    pub operator_timeout_ms: u64,
    /// With --serve: after the last instruction, a case ends once the
    /// terminal has sent nothing for this long.
    #[arg(long, default_value_t = 3_000, requires = "serve")]
    pub linger_ms: u64,
    /// With --serve: the device's terminal id (field 41), in place of each
    /// case's own.
    #[arg(long, requires = "serve")]
    pub terminal: Option<String>,
    /// With --serve: the device's merchant id (field 42).
    #[arg(long, requires = "serve")]
    pub merchant: Option<String>,
    /// With --serve: the device's terminal master key, hex.
    #[arg(long, requires = "serve")]
    pub tmk: Option<String>,
}

pub fn run(args: CertifyArgs) -> Result<u8> {
    let cases =
        load_suite(&args.dir).map_err(|error| anyhow::anyhow!(InputError(error.to_string())))?;
    let cases = select(cases, &args.cases, &args.dir)?;
    if args.serve.is_some() {
        return super::certify_serve::run(&args, cases);
    }
    if args.matrix {
        let columns = matrix::columns(&cases);
        let rows = matrix::rows(&cases, (!args.own_guards).then_some(columns.as_slice()));
        let mut out = std::io::stdout().lock();
        write!(out, "{}", matrix::markdown(&rows, &columns))?;
        let problems: Vec<String> = rows.iter().flat_map(matrix::Row::problems).collect();
        if problems.is_empty() {
            eprintln!(
                "matrix: {} cases, each passes clean and fails under every guard it names",
                rows.len()
            );
            return Ok(exit::PASS);
        }
        for problem in &problems {
            eprintln!("matrix: FAIL: {problem}");
        }
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
        let mut result = match &verdict.deviation {
            None => CaseResult::pass(id, title, verdict.wall_ms),
            Some(deviation) => CaseResult::fail(id, title, deviation, verdict.wall_ms),
        }
        .with_repro(repro);
        if let Some(evidence) = &verdict.evidence {
            result = result.with_evidence(evidence.view());
        }
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

/// The cases named by `--case`, in the suite's order; all when none is
/// named. An id the suite does not hold is bad input: a typo must not pass
/// as a run of nothing.
pub(super) fn select(
    cases: Vec<LoadedCase>,
    ids: &[String],
    dir: &Path,
) -> Result<Vec<LoadedCase>> {
    if ids.is_empty() {
        return Ok(cases);
    }
    if let Some(unknown) = ids.iter().find(|id| !cases.iter().any(|c| &c.case.id == *id)) {
        let known: Vec<&str> = cases.iter().map(|c| c.case.id.as_str()).collect();
        return Err(anyhow::anyhow!(InputError(format!(
            "unknown case id {unknown}: {} holds {}",
            dir.display(),
            known.join(", ")
        ))));
    }
    Ok(cases.into_iter().filter(|c| ids.contains(&c.case.id)).collect())
}
