//! Markdown summaries, fit to paste into an issue or a CI job summary.

use std::fmt::Write;

use crate::case::Suite;
use crate::escape::markdown_cell;

/// A suite as a Markdown table: ID, title, verdict, the first deviation.
pub fn suite(suite: &Suite) -> String {
    let mut out = String::new();
    let skipped = suite.skipped();
    let passed = suite.cases.len() - suite.failures() - skipped;
    let _ = writeln!(out, "# possim {}\n", suite.name);
    let not_applicable =
        if skipped > 0 { format!(", {skipped} not applicable") } else { String::new() };
    let _ = writeln!(out, "**{passed} of {} passed{not_applicable}.**\n", suite.cases.len());
    out.push_str("| ID | title | result | first deviation |\n|---|---|---|---|\n");
    for case in &suite.cases {
        let verdict = match (&case.skipped, case.passed) {
            (Some(_), _) => "not applicable",
            (None, true) => "pass",
            (None, false) => "**FAIL**",
        };
        let failure = case
            .failure
            .as_deref()
            .or(case.skipped.as_deref())
            .map(markdown_cell)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {verdict} | {failure} |",
            markdown_cell(&case.id),
            markdown_cell(&case.title)
        );
    }
    let repros: Vec<&str> = suite.cases.iter().filter_map(|c| c.repro.as_deref()).collect();
    if !repros.is_empty() && !suite.passed() {
        out.push_str("\nReproduce:\n\n```\n");
        for case in suite.cases.iter().filter(|c| !c.passed) {
            if let Some(repro) = &case.repro {
                let _ = writeln!(out, "{repro}");
            }
        }
        out.push_str("```\n");
    }
    out
}
