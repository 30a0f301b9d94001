//! A sweep as Markdown for an issue or a CI job summary: the verdict,
//! failing seeds per invariant, the failing seeds with their repro lines
//! (capped: a summary must stay small), and the totals.
//!
//! ```
//! use possim_reports::sweep::SweepRecord;
//! use possim_reports::CaseResult;
//! let mut record = SweepRecord::new("quickstart", "0..1");
//! record.suite.cases.push(CaseResult::pass("seed 0", "quickstart", 800));
//! assert!(possim_reports::sweep_markdown::render(&record).contains("**PASS: 0 of 1 seeds failed**"));
//! ```

use std::fmt::Write;

use crate::escape::markdown_cell;
use crate::run::Count;
use crate::sweep::SweepRecord;

/// Failing seeds listed in the summary.
pub const FAILING_LISTED_MAX: usize = 50;

fn counts_line(counts: &[Count]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts.iter().map(|c| format!("{} {}", c.label, c.count)).collect::<Vec<_>>().join(", ")
}

pub fn render(record: &SweepRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# possim sweep: {} seeds {}\n",
        markdown_cell(&record.scenario),
        markdown_cell(&record.seeds)
    );
    let _ = writeln!(out, "**{}**\n", record.verdict_text());
    let _ = writeln!(out, "- **failing seeds by invariant**: {}", counts_line(&record.failing));
    let _ = writeln!(out, "- **trades by outcome**: {}", counts_line(&record.outcomes));
    let _ = writeln!(out, "- **faults injected**: {}", counts_line(&record.faults));
    let failing: Vec<_> = record.suite.cases.iter().filter(|c| !c.passed).collect();
    if !failing.is_empty() {
        out.push_str("\n| seed | first violation | reproduce |\n|---|---|---|\n");
        for case in failing.iter().take(FAILING_LISTED_MAX) {
            let first = case.failure.as_deref().unwrap_or("").lines().next().unwrap_or("");
            let _ = writeln!(
                out,
                "| {} | {} | `{}` |",
                markdown_cell(&case.id),
                markdown_cell(first),
                markdown_cell(case.repro.as_deref().unwrap_or("")).replace('`', "'")
            );
        }
        if failing.len() > FAILING_LISTED_MAX {
            let _ = writeln!(
                out,
                "\n… and {} more failing seeds (see junit.xml).",
                failing.len() - FAILING_LISTED_MAX
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseResult;

    #[test]
    fn the_summary_stays_small_for_many_failing_seeds() {
        let mut record = SweepRecord::new("v", "0..1000");
        for seed in 0..1000 {
            record.suite.cases.push(
                CaseResult::fail(format!("seed {seed}"), "v", "numbering: stan reused", 1)
                    .with_repro(format!("possim replay v.yaml --seed {seed}")),
            );
        }
        let text = render(&record);
        assert_eq!(text.matches("possim replay").count(), FAILING_LISTED_MAX);
        assert!(text.contains("… and 950 more failing seeds"));
        assert!(text.len() < 10_000);
    }
}
