//! A live run's verdicts as a report: one case per check, written with
//! `possim_reports::write_suite` (summary.md, junit.xml, report.html), the
//! decision log beside them (decisions.jsonl), and a table on stdout.
//!
//! Neither may claim more than was seen:
//! - a check whose watcher stopped recording at a bound is "incomplete"
//!   and fails the run (exit 1) as a violation would;
//! - a check the run selected ([`selection`](super::selection)) that judged
//!   nothing is "not exercised" and fails the run, with a line saying what
//!   never happened; one the scenario cannot trigger is "not applicable"
//!   (JUnit: skipped) and fails nothing;
//! - a run whose peer never showed up (no terminal connected, the host
//!   refused or never answered) fails with one line saying so;
//! - the table and decisions.jsonl say how many log lines were left out.
//!
//! ```
//! use possim_sim::live::report::{suite, RunFacts, Status, Verdict};
//! let verdict = Verdict { id: "x".into(), title: "x holds".into(), exercised: 2,
//!                         violations: vec![], incomplete: None, not_applicable: None,
//!                         never_happened: "no x happened".into() };
//! let idle = Verdict { exercised: 0, ..verdict.clone() };
//! assert_eq!(verdict.status(), Status::Pass);
//! assert_eq!(idle.status(), Status::NotExercised);
//! let judged = suite("serve s.yaml", &[verdict.clone()], &RunFacts::default(), 10);
//! assert!(judged.passed());
//! assert!(judged.cases[0].title.contains("judged 2 times"));
//! assert!(!suite("serve s.yaml", &[verdict, idle], &RunFacts::default(), 10).passed());
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
    /// `None`: the run selected this check, so judging nothing fails it;
    /// `Some(why)`: nothing in the scenario can trigger it.
    pub not_applicable: Option<String>,
    /// What never happened, said when a selected check judged nothing.
    pub never_happened: String,
}

/// A verdict in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Incomplete,
    /// Selected, yet judged nothing: fails the run.
    NotExercised,
    /// Judged nothing, and nothing in the scenario could trigger it.
    NotApplicable,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Incomplete => "INCOMPLETE",
            Status::NotExercised => "not exercised",
            Status::NotApplicable => "not applicable",
        }
    }
}

impl Verdict {
    pub fn status(&self) -> Status {
        match (&self.incomplete, &self.not_applicable) {
            _ if !self.violations.is_empty() => Status::Fail,
            (Some(_), _) => Status::Incomplete,
            (None, Some(_)) if self.exercised == 0 => Status::NotApplicable,
            (None, None) if self.exercised == 0 => Status::NotExercised,
            _ => Status::Pass,
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self.status(), Status::Pass | Status::NotApplicable)
    }

    /// The line saying why a not-exercised check judged nothing.
    pub fn why_not_exercised(&self) -> String {
        format!("{}, so {} judged nothing", self.never_happened, self.id)
    }
}

/// What a run saw beyond its checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFacts {
    /// The peer never showed up or went away for good ("no terminal
    /// connected within 3 s", "host at ADDR refused the connection"): the
    /// run is not compliant whatever its checks say.
    pub peer_missing: Option<String>,
    /// Worth saying, not failing (a peer that disconnected mid-run).
    pub notes: Vec<String>,
}

/// The JUnit id of the case a missing peer fails.
pub const PEER_CASE_ID: &str = "peer";

pub fn suite(name: &str, verdicts: &[Verdict], facts: &RunFacts, wall_ms: u64) -> Suite {
    let mut cases: Vec<CaseResult> = verdicts
        .iter()
        .map(|verdict| {
            let title = format!("{} (judged {} times)", verdict.title, verdict.exercised);
            match verdict.status() {
                Status::Pass => CaseResult::pass(&verdict.id, title, wall_ms),
                Status::NotApplicable => CaseResult::skipped(
                    &verdict.id,
                    title,
                    format!(
                        "not applicable: {}",
                        verdict.not_applicable.as_deref().unwrap_or_default()
                    ),
                    wall_ms,
                ),
                Status::NotExercised => CaseResult::fail(
                    &verdict.id,
                    title,
                    format!("not exercised: {}", verdict.why_not_exercised()),
                    wall_ms,
                ),
                Status::Fail | Status::Incomplete => {
                    let mut text = verdict.violations.clone();
                    if let Some(why) = &verdict.incomplete {
                        text.push(format!("incomplete: {why}"));
                    }
                    CaseResult::fail(&verdict.id, title, text.join("\n"), wall_ms)
                }
            }
        })
        .collect();
    if let Some(missing) = &facts.peer_missing {
        cases.insert(0, CaseResult::fail(PEER_CASE_ID, "the peer took part", missing, wall_ms));
    }
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
    facts: &RunFacts,
    log: LogTally,
) -> std::io::Result<()> {
    writeln!(out, "{:<34} {:<14} {:>7}  detail", "check", "verdict", "judged")?;
    for verdict in verdicts {
        let status = verdict.status();
        let detail = match status {
            Status::Fail => {
                let first = verdict.violations.first().cloned().unwrap_or_default();
                match verdict.violations.len().saturating_sub(1) {
                    0 => first,
                    more => format!("{first} (+{more} more)"),
                }
            }
            Status::Incomplete => verdict.incomplete.clone().unwrap_or_default(),
            Status::NotExercised => verdict.never_happened.clone(),
            Status::NotApplicable => verdict.not_applicable.clone().unwrap_or_default(),
            Status::Pass => String::new(),
        };
        writeln!(
            out,
            "{:<34} {:<14} {:>7}  {}",
            verdict.id,
            status.word(),
            verdict.exercised,
            detail
        )?;
    }
    for note in &facts.notes {
        writeln!(out, "note      {note}")?;
    }
    // With no peer, that is the one cause: a line per idle check would bury it.
    if facts.peer_missing.is_none() {
        for verdict in verdicts.iter().filter(|v| v.status() == Status::NotExercised) {
            writeln!(out, "never     {}", verdict.why_not_exercised())?;
        }
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
    let count = |status: Status| verdicts.iter().filter(|v| v.status() == status).count();
    let mut why: Vec<String> = facts.peer_missing.iter().cloned().collect();
    if count(Status::Fail) > 0 {
        why.push(format!("{} check(s) failed", count(Status::Fail)));
    }
    if count(Status::NotExercised) > 0 {
        why.push(format!("{} check(s) not exercised", count(Status::NotExercised)));
    }
    if count(Status::Incomplete) > 0 {
        why.push(format!(
            "{} incomplete (stopped recording at a bound: not judged in full)",
            count(Status::Incomplete)
        ));
    }
    if why.is_empty() {
        writeln!(out, "verdict   compliant")
    } else {
        writeln!(out, "verdict   NON-COMPLIANT: {}", why.join("; "))
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
    facts: &RunFacts,
    wall_ms: u64,
    out: Option<&Path>,
    log: &LiveLog,
) -> anyhow::Result<bool> {
    let suite = suite(name, verdicts, facts, wall_ms);
    let tally = LogTally::of(log);
    print_table(&mut std::io::stdout().lock(), verdicts, facts, tally)?;
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
            not_applicable: None,
            never_happened: "no terminal of the scenario sent a message".into(),
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
        print_table(&mut table, &verdicts, &RunFacts::default(), tally).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("INCOMPLETE"), "{table}");
        assert!(table.contains("3 lines kept, 2 DROPPED past the bound of 3"), "{table}");
        assert!(table.contains("NON-COMPLIANT: 1 incomplete"), "{table}");
        assert!(!suite("s", &verdicts, &RunFacts::default(), 1).passed());

        let dir = std::env::temp_dir().join(format!("possim-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, &suite("s", &verdicts, &RunFacts::default(), 1), &log.lines(), tally).unwrap();
        let text = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().last().unwrap().contains(r#""dropped":2"#), "{text}");
        let _ = std::fs::remove_dir_all(dir);

        let mut table = Vec::new();
        let whole = LogTally { kept: 3, dropped: 0, lines_max: 3 };
        print_table(&mut table, &[verdict(None)], &RunFacts::default(), whole).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("verdict   compliant") && table.contains("0 dropped"), "{table}");
    }

    #[test]
    fn a_selected_check_that_judged_nothing_fails_one_not_applicable_does_not() {
        let idle = Verdict { exercised: 0, ..verdict(None) };
        let unused = Verdict {
            id: "retries-reversal".into(),
            not_applicable: Some("no drop_reversals fault".into()),
            ..idle.clone()
        };
        assert_eq!(idle.status(), Status::NotExercised);
        assert_eq!(unused.status(), Status::NotApplicable);
        let whole = LogTally { kept: 0, dropped: 0, lines_max: 3 };

        let mut table = Vec::new();
        print_table(&mut table, std::slice::from_ref(&unused), &RunFacts::default(), whole)
            .unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("not applicable") && table.contains("compliant"), "{table}");
        let suite_of = |verdicts: &[Verdict], facts: &RunFacts| suite("s", verdicts, facts, 1);
        let junit = possim_reports::junit::render(&suite_of(
            std::slice::from_ref(&unused),
            &RunFacts::default(),
        ));
        assert!(junit.unwrap().contains("<skipped"));

        let mut table = Vec::new();
        print_table(&mut table, std::slice::from_ref(&idle), &RunFacts::default(), whole).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(
            table.contains(
                "never     no terminal of the scenario sent a message, so stan-unique-in-batch \
                 judged nothing"
            ),
            "{table}"
        );
        assert!(table.contains("verdict   NON-COMPLIANT: 1 check(s) not exercised"), "{table}");

        let facts = RunFacts {
            peer_missing: Some("no terminal connected within 3 s".into()),
            notes: vec![],
        };
        let mut table = Vec::new();
        print_table(&mut table, &[idle.clone(), unused.clone()], &facts, whole).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("not exercised") && !table.contains("never "), "{table}");
        assert!(
            table.contains(
                "verdict   NON-COMPLIANT: no terminal connected within 3 s; 1 check(s) not \
                 exercised"
            ),
            "{table}"
        );
        let failed = suite_of(&[idle, unused.clone()], &facts);
        assert_eq!(failed.failures(), 2, "the peer and the idle check: {failed:?}");
        assert!(!suite_of(&[unused], &facts).passed(), "a missing peer fails alone");
    }
}
