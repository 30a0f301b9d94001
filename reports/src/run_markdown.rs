//! One run as Markdown, fit to paste into an issue or a CI job summary: the
//! verdict, each invariant with its violations, the counts, the trades
//! charted in `report.html`, the ledger's totals, and the repro line.
//!
//! ```
//! use possim_reports::run::{RunRecord, VerdictRow};
//! let mut record = RunRecord::new("quickstart", 7);
//! record.passed = true;
//! record.verdicts.push(VerdictRow::passed("numbering"));
//! let text = possim_reports::run_markdown::render(&record);
//! assert!(text.contains("| numbering | pass |"));
//! ```

use std::fmt::Write;

use crate::escape::markdown_cell;
use crate::format::{fen, span};
use crate::ledger;
use crate::run::{Count, RunRecord, CHARTS_MAX};
use crate::run_html::verdict_text;

fn counts_line(counts: &[Count]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts.iter().map(|c| format!("{} {}", c.label, c.count)).collect::<Vec<_>>().join(", ")
}

/// Text safe inside a fenced block: no line can close the fence.
fn fenced(text: &str) -> String {
    text.replace("```", "'''")
}

pub fn render(record: &RunRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# possim run: {}\n", markdown_cell(&record.title()));
    let _ = writeln!(out, "**{}**\n", verdict_text(record));
    let _ = writeln!(
        out,
        "Simulated {}; trace {} records, hash `{}`, schema version {}.\n",
        span(record.simulated_ms),
        record.trace.records,
        markdown_cell(&record.trace.hash),
        record.trace.schema_version
    );
    out.push_str("| invariant | result | violations |\n|---|---|---|\n");
    for verdict in &record.verdicts {
        let result = if verdict.passed { "pass" } else { "**FAIL**" };
        let _ = writeln!(
            out,
            "| {} | {result} | {} |",
            markdown_cell(&verdict.invariant),
            verdict.total()
        );
    }
    for verdict in record.verdicts.iter().filter(|v| !v.passed) {
        let _ = writeln!(out, "\n### {}\n\n```", markdown_cell(&verdict.invariant));
        for violation in &verdict.violations {
            let _ = writeln!(out, "{}", fenced(violation));
        }
        if verdict.more > 0 {
            let _ = writeln!(out, "… and {} more", verdict.more);
        }
        out.push_str("```\n");
    }
    out.push('\n');
    let _ = writeln!(out, "- **trades by outcome**: {}", counts_line(&record.outcomes));
    let _ =
        writeln!(out, "- **reversals, offline, settlement**: {}", counts_line(&record.activity));
    let _ = writeln!(out, "- **faults injected**: {}", counts_line(&record.faults));
    if !record.placed.is_empty() {
        let landed = record.placed.iter().filter(|p| p.count > 0).count();
        let _ = write!(out, "- **placed faults**: {landed} of {} landed", record.placed.len());
        let never: Vec<&str> =
            record.placed.iter().filter(|p| p.count == 0).map(|p| p.label.as_str()).collect();
        if !never.is_empty() {
            let _ = write!(out, "; never: {}", markdown_cell(&never.join("; ")));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "- **frames by fate**: {}", counts_line(&record.frames));
    let totals = ledger::totals(&record.ledger);
    let _ = writeln!(
        out,
        "- **ledger**: {} cards, {} moved; opening {}, debits {}, reversals {}, other credits {}, \
         closing {}; {} disagree with their issuer",
        totals.cards,
        totals.moved,
        fen(totals.opening_fen),
        fen(totals.debits_fen),
        fen(totals.reversals_fen),
        fen(totals.credits_fen),
        fen(totals.closing_fen),
        totals.disagreeing
    );
    if !record.charts.is_empty() {
        let shown = record.charts.len().min(CHARTS_MAX);
        let _ = writeln!(out, "\nCharted in `report.html`:\n");
        for chart in record.charts.iter().take(shown) {
            let _ = writeln!(
                out,
                "- terminal {} STAN {:06}{}{} — {}",
                markdown_cell(&chart.terminal),
                chart.stan,
                if chart.summary.is_empty() { "" } else { ": " },
                markdown_cell(&chart.summary),
                markdown_cell(&chart.reasons.join("; "))
            );
        }
        let omitted = record.charts_omitted + (record.charts.len() - shown);
        if omitted > 0 {
            let _ = writeln!(out, "- … {omitted} more not charted");
        }
    }
    let _ = writeln!(out, "\nReproduce:\n\n```\n{}\n```", fenced(&record.repro));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::VerdictRow;

    #[test]
    fn violations_go_in_a_block_that_cannot_be_broken_out_of() {
        let mut record = RunRecord::new("s", 1);
        record.repro = "possim replay s.yaml --seed 1".into();
        record.verdicts.push(VerdictRow {
            invariant: "slip-truth".into(),
            passed: false,
            violations: vec!["a | b\n```\n# not a heading".into()],
            more: 1,
        });
        record.outcomes.push(Count::new("approved", 3));
        let text = render(&record);
        assert!(text.contains("**FAIL: slip-truth**"), "{text}");
        assert!(text.contains("| slip-truth | **FAIL** | 2 |"), "{text}");
        assert_eq!(text.matches("```").count(), 4, "two blocks, none broken: {text}");
        assert!(text.contains("- **trades by outcome**: approved 3"));
        assert!(text.contains("possim replay s.yaml --seed 1"));
    }
}
