//! `possim certify`: runs the certification cases, prints a table (id,
//! title, pass/fail, the first step that deviated), writes the report and
//! the JUnit file; `--matrix` prints the cases × guards table instead;
//! `--drive ADDR` plays the host cases against a real acquirer host
//! ([`possim_sim::certify::drive`]); `--host-registry` prints what such a
//! host must have provisioned. Exit 0: every case passed (with `--matrix`:
//! every case passes clean and fails under every guard it names); 1: not
//! (with `--drive`: a case failed or was not exercised); 2: a bad case file
//! or directory, an unknown `--case` id, or a selected case `--drive`
//! cannot play.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use possim_reports::{write_suite, CaseResult, Suite};
use possim_sim::certify::drive::{drivable, drive_case, DriveCaseOptions, HostVerdict};
use possim_sim::certify::runner::{load_suite, run_case, LoadedCase};
use possim_sim::certify::{matrix, registry};
use possim_sim::live::log::LiveLog;

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
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["matrix", "drive", "host_registry"])]
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
    /// Play the host cases (`device: host`) against the real acquirer host
    /// at this address (ip:port), one after another.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["matrix", "host_registry"])]
    pub drive: Option<String>,
    /// With --drive: each case ends by then (workload and closing), judged
    /// on what came; a step not reached is "not exercised".
    #[arg(long, default_value_t = 60_000, requires = "drive")]
    pub case_timeout_ms: u64,
    /// With --drive: play the cases' scripts this many times faster
    /// (terminal timeouts are not sped up).
    #[arg(long, default_value_t = 10.0, requires = "drive")]
    pub speed: f64,
    /// Print (YAML, a scenario) what a host under test must have
    /// provisioned to run the host cases: merchants, terminals with their
    /// TMKs, issuers and cards.
    #[arg(long, conflicts_with = "matrix")]
    pub host_registry: bool,
}

/// The fastest a case's script may be played.
const SPEED_MAX: f64 = 1_000.0;
/// A connection that completes no frame for this long is closed.
const IDLE_TIMEOUT_MS: u64 = 30_000;

pub fn run(args: CertifyArgs) -> Result<u8> {
    let cases =
        load_suite(&args.dir).map_err(|error| anyhow::anyhow!(InputError(error.to_string())))?;
    if args.host_registry {
        let text = registry::host_registry(&cases)
            .map_err(|why| anyhow::anyhow!(InputError(format!("{}: {why}", args.dir.display()))))?;
        print!("{text}");
        return Ok(exit::PASS);
    }
    let cases = select(cases, &args.cases, &args.dir)?;
    if args.serve.is_some() {
        return super::certify_serve::run(&args, cases);
    }
    if let Some(target) = &args.drive {
        return drive_cases(&args, target, cases);
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
    summarise(&mut out, &suite, "cases", "failed", args.out.as_deref())?;
    Ok(if suite.passed() { exit::PASS } else { exit::FAIL })
}

/// The suite's last line (`50 cases: 50 passed, 0 failed`) and, with
/// `--out`, its report directory.
fn summarise(
    out: &mut impl Write,
    suite: &Suite,
    counted: &str,
    failed: &str,
    dir: Option<&std::path::Path>,
) -> Result<()> {
    let failures = suite.failures();
    writeln!(
        out,
        "{} {counted}: {} passed, {failures} {failed}",
        suite.cases.len(),
        suite.cases.len() - failures
    )?;
    if let Some(dir) = dir {
        write_suite(dir, suite)?;
        writeln!(out, "report    {}", dir.display())?;
    }
    Ok(())
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

/// `--drive`: the selected host cases (all of them when none is named), one
/// after another against the host at `target`.
fn drive_cases(args: &CertifyArgs, target: &str, cases: Vec<LoadedCase>) -> Result<u8> {
    let bad = |text: String| anyhow::anyhow!(InputError(text));
    let target: std::net::SocketAddr =
        target.parse().map_err(|error| bad(format!("--drive {target}: {error}")))?;
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= SPEED_MAX) {
        return Err(bad(format!("--speed {}: must be over 0 and at most {SPEED_MAX}", args.speed)));
    }
    if args.case_timeout_ms == 0 {
        return Err(bad("--case-timeout-ms must be at least 1".into()));
    }
    let cases: Vec<LoadedCase> = if args.cases.is_empty() {
        cases.into_iter().filter(|loaded| drivable(loaded).is_ok()).collect()
    } else {
        for loaded in &cases {
            drivable(loaded).map_err(bad)?;
        }
        cases
    };
    if cases.is_empty() {
        return Err(bad(format!("{} holds no `device: host` case", args.dir.display())));
    }
    let options = DriveCaseOptions {
        target,
        case_timeout_ms: args.case_timeout_ms,
        speed: args.speed,
        idle_timeout_ms: IDLE_TIMEOUT_MS,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut out = std::io::stdout().lock();
    let width = cases.iter().map(|c| c.case.title.chars().count()).max().unwrap_or(5).min(60);
    writeln!(out, "driving {} host case(s) against {target}", cases.len())?;
    writeln!(out, "{:<8} {:<width$} {:<13} first deviation", "id", "title", "result")?;
    let mut results = Vec::with_capacity(cases.len());
    let mut lines = Vec::new();
    for loaded in &cases {
        let id = &loaded.case.id;
        let title = &loaded.case.title;
        // The decision log is kept quiet: the verdict line says what matters.
        let driven = drive_case(loaded, &options, &runtime, LiveLog::quiet())
            .map_err(|why| bad(format!("{}: {why}", loaded.path.display())))?;
        let verdict = &driven.verdict;
        let repro = format!("possim certify --drive {target} --case {id} {}", args.dir.display());
        let mut result = match verdict {
            HostVerdict::Pass => CaseResult::pass(id, title, driven.wall_ms),
            HostVerdict::Fail(why) => CaseResult::fail(id, title, why, driven.wall_ms),
            HostVerdict::NotExercised(why) => {
                CaseResult::fail(id, title, format!("not exercised: {why}"), driven.wall_ms)
            }
        }
        .with_repro(repro);
        if let (false, Some(evidence)) = (verdict.passed(), &driven.evidence) {
            result = result.with_evidence(evidence.view());
        }
        let detail = if verdict.detail().is_empty() { "-" } else { verdict.detail() };
        writeln!(out, "{id:<8} {title:<width$} {:<13} {detail}", verdict.label())?;
        if !verdict.passed() {
            lines.push(format!("{id} {}: {detail}", verdict.label()));
        }
        results.push(result);
    }
    let suite = Suite { name: format!("host certification against {target}"), cases: results };
    let failed = "failed or not exercised; balances are the host's, not judged";
    summarise(&mut out, &suite, "host cases", failed, args.out.as_deref())?;
    drop(out);
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    for line in &lines {
        eprintln!("certify --drive: {line}");
    }
    Ok(if suite.passed() { exit::PASS } else { exit::FAIL })
}
