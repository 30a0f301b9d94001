//! A live run's verdicts as a report: one case per check, written with
//! `possim_reports::write_suite` (summary.md, junit.xml, report.html), the
//! decision log beside them (decisions.jsonl), and a table on stdout.
//!
//! ```
//! use possim_sim::live::report::{suite, Verdict};
//! let verdicts = vec![Verdict { id: "x".into(), title: "x holds".into(), exercised: 2, violations: vec![] }];
//! let suite = suite("serve s.yaml", &verdicts, 10);
//! assert!(suite.passed());
//! assert!(suite.cases[0].title.contains("judged 2 times"));
//! ```

use std::io::Write;
use std::path::Path;

use possim_reports::{CaseResult, Suite};

/// One check's verdict, from either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub id: String,
    pub title: String,
    /// Times the rule had something to judge.
    pub exercised: u64,
    pub violations: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

pub fn suite(name: &str, verdicts: &[Verdict], wall_ms: u64) -> Suite {
    let cases = verdicts
        .iter()
        .map(|verdict| {
            let title = format!("{} (judged {} times)", verdict.title, verdict.exercised);
            if verdict.passed() {
                CaseResult::pass(&verdict.id, title, wall_ms)
            } else {
                CaseResult::fail(&verdict.id, title, verdict.violations.join("\n"), wall_ms)
            }
        })
        .collect();
    Suite { name: name.to_string(), cases }
}

/// The table printed on stdout.
pub fn print_table(out: &mut impl Write, verdicts: &[Verdict]) -> std::io::Result<()> {
    writeln!(out, "{:<34} {:<7} {:>7}  detail", "check", "verdict", "judged")?;
    for verdict in verdicts {
        let detail = verdict.violations.first().cloned().unwrap_or_default();
        let more = verdict.violations.len().saturating_sub(1);
        let detail = if more > 0 { format!("{detail} (+{more} more)") } else { detail };
        writeln!(
            out,
            "{:<34} {:<7} {:>7}  {}",
            verdict.id,
            if verdict.passed() { "pass" } else { "FAIL" },
            verdict.exercised,
            detail
        )?;
    }
    let failed = verdicts.iter().filter(|v| !v.passed()).count();
    if failed == 0 {
        writeln!(out, "verdict   compliant")
    } else {
        writeln!(out, "verdict   NON-COMPLIANT: {failed} check(s) failed")
    }
}

/// Writes the report directory: the suite's files and the decision log.
pub fn write(dir: &Path, suite: &Suite, log_lines: &[String]) -> anyhow::Result<()> {
    possim_reports::write_suite(dir, suite)?;
    let mut text = log_lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("decisions.jsonl"), text)?;
    Ok(())
}

/// The end of a live run, for `serve` and `drive` alike: the table on
/// stdout and, with `out`, the report directory. Whether every check
/// passed.
pub fn finish(
    name: &str,
    verdicts: &[Verdict],
    wall_ms: u64,
    out: Option<&Path>,
    log_lines: &[String],
) -> anyhow::Result<bool> {
    let suite = suite(name, verdicts, wall_ms);
    print_table(&mut std::io::stdout().lock(), verdicts)?;
    if let Some(dir) = out {
        write(dir, &suite, log_lines)?;
    }
    Ok(suite.passed())
}
