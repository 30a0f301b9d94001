//! A live run's verdicts as a report: one case per check, written with
//! `possim_reports::write_suite` (summary.md, junit.xml, report.html), the
//! decision log beside them (decisions.jsonl), and a table on stdout.
//!
//! Neither may claim more than was seen: a check whose watcher stopped
//! recording at a bound is "incomplete" and fails the run (exit 1) as a
//! violation would, and the table and decisions.jsonl say how many log
//! lines were left out of the file.
//!
//! ```
//! use possim_sim::live::report::{suite, Verdict};
//! let verdicts = vec![Verdict { id: "x".into(), title: "x holds".into(), exercised: 2,
//!                                violations: vec![], incomplete: None }];
//! let suite = suite("serve s.yaml", &verdicts, 10);
//! assert!(suite.passed());
//! assert!(suite.cases[0].title.contains("judged 2 times"));
//! ```

use std::io::Write;
use std::path::Path;

use possim_reports::{CaseResult, Suite};

use super::log::LiveLog;

/// One check's verdict, from either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub id: String,
    pub title: String,
    /// Times the rule had something to judge.
    pub exercised: u64,
    pub violations: Vec<String>,
    /// Why the check did not see all it should have judged.
    pub incomplete: Option<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.incomplete.is_none()
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
                let mut text = verdict.violations.clone();
                if let Some(why) = &verdict.incomplete {
                    text.push(format!("incomplete: {why}"));
                }
                CaseResult::fail(&verdict.id, title, text.join("\n"), wall_ms)
            }
        })
        .collect();
    Suite { name: name.to_string(), cases }
}

/// How much of the decision log the report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTally {
    pub kept: usize,
    pub dropped: u64,
    pub lines_max: usize,
}

impl LogTally {
    pub fn of(log: &LiveLog) -> LogTally {
        LogTally { kept: log.lines().len(), dropped: log.dropped(), lines_max: log.lines_max() }
    }
}

/// The table printed on stdout.
pub fn print_table(
    out: &mut impl Write,
    verdicts: &[Verdict],
    log: LogTally,
) -> std::io::Result<()> {
    writeln!(out, "{:<34} {:<10} {:>7}  detail", "check", "verdict", "judged")?;
    for verdict in verdicts {
        let detail = verdict.violations.first().cloned().unwrap_or_default();
        let more = verdict.violations.len().saturating_sub(1);
        let detail = if more > 0 { format!("{detail} (+{more} more)") } else { detail };
        let (word, detail) = match &verdict.incomplete {
            _ if !verdict.violations.is_empty() => ("FAIL", detail),
            Some(why) => ("INCOMPLETE", why.clone()),
            None => ("pass", detail),
        };
        writeln!(out, "{:<34} {:<10} {:>7}  {}", verdict.id, word, verdict.exercised, detail)?;
    }
    if log.dropped == 0 {
        writeln!(out, "decisions {} lines kept, 0 dropped", log.kept)?;
    } else {
        writeln!(
            out,
            "decisions {} lines kept, {} DROPPED past the bound of {} (stderr has every line)",
            log.kept, log.dropped, log.lines_max
        )?;
    }
    let failed = verdicts.iter().filter(|v| !v.violations.is_empty()).count();
    let incomplete = verdicts.iter().filter(|v| v.violations.is_empty() && !v.passed()).count();
    match (failed, incomplete) {
        (0, 0) => writeln!(out, "verdict   compliant"),
        (failed, 0) => writeln!(out, "verdict   NON-COMPLIANT: {failed} check(s) failed"),
        (failed, incomplete) => writeln!(
            out,
            "verdict   NON-COMPLIANT: {failed} check(s) failed, {incomplete} incomplete \
             (stopped recording at a bound: not judged in full)"
        ),
    }
}

/// Writes the report directory: the suite's files and the decision log,
/// which ends by saying how many lines it left out, if any.
pub fn write(dir: &Path, suite: &Suite, log_lines: &[String], log: LogTally) -> anyhow::Result<()> {
    possim_reports::write_suite(dir, suite)?;
    let mut text = log_lines.join("\n");
    text.push('\n');
    if log.dropped > 0 {
        let line = serde_json::json!({
            "event": "log-truncated",
            "kept": log.kept,
            "dropped": log.dropped,
            "lines_max": log.lines_max,
            "reason": "the kept log is bounded; stderr had every line",
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
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
    log: &LiveLog,
) -> anyhow::Result<bool> {
    let suite = suite(name, verdicts, wall_ms);
    let tally = LogTally::of(log);
    print_table(&mut std::io::stdout().lock(), verdicts, tally)?;
    if let Some(dir) = out {
        write(dir, &suite, &log.lines(), tally)?;
    }
    Ok(suite.passed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(incomplete: Option<&str>) -> Verdict {
        Verdict {
            id: "stan-unique-in-batch".into(),
            title: "a STAN is never reused within a batch".into(),
            exercised: 5,
            violations: vec![],
            incomplete: incomplete.map(String::from),
        }
    }

    #[test]
    fn an_incomplete_check_and_a_truncated_log_are_said_not_passed_over() {
        let log = LiveLog::quiet_keeping(3);
        for index in 0..5u64 {
            log.line("request", &[("stan", index.into())]);
        }
        let tally = LogTally::of(&log);
        assert_eq!(tally, LogTally { kept: 3, dropped: 2, lines_max: 3 });
        let verdicts = [verdict(Some("2 STANs past the bound of 3 per terminal"))];
        let mut table = Vec::new();
        print_table(&mut table, &verdicts, tally).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("INCOMPLETE"), "{table}");
        assert!(table.contains("3 lines kept, 2 DROPPED past the bound of 3"), "{table}");
        assert!(table.contains("NON-COMPLIANT: 0 check(s) failed, 1 incomplete"), "{table}");
        assert!(!suite("s", &verdicts, 1).passed());

        let dir = std::env::temp_dir().join(format!("possim-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, &suite("s", &verdicts, 1), &log.lines(), tally).unwrap();
        let text = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().last().unwrap().contains(r#""dropped":2"#), "{text}");
        let _ = std::fs::remove_dir_all(dir);

        let mut table = Vec::new();
        let whole = LogTally { kept: 3, dropped: 0, lines_max: 3 };
        print_table(&mut table, &[verdict(None)], whole).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("verdict   compliant") && table.contains("0 dropped"), "{table}");
    }
}
