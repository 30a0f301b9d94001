//! A sweep as one self-contained page: the verdict, failing seeds per
//! invariant, the totals, a row per seed (failing first, capped), and the
//! first failing seeds' runs in full — verdicts, charts, ledger, timelines.
//!
//! ```
//! use possim_reports::sweep::SweepRecord;
//! use possim_reports::CaseResult;
//! let mut record = SweepRecord::new("quickstart", "0..1");
//! record.suite.cases.push(CaseResult::pass("seed 0", "quickstart", 800));
//! let page = possim_reports::sweep_html::render(&record);
//! assert!(page.contains("PASS: 0 of 1 seeds failed"));
//! ```

use std::fmt::Write;

use crate::escape::html;
use crate::format::span;
use crate::html::page_end;
use crate::run::Count;
use crate::run_html::{body, report_page_start};
use crate::sweep::{SweepRecord, SWEEP_ROWS_MAX, SWEEP_RUNS_MAX};

fn counts_table(out: &mut String, id: &str, heading: &str, counts: &[Count]) {
    let _ = write!(
        out,
        "<table id=\"{id}\"><tr><th>{}</th><th class=\"num\">n</th></tr>",
        html(heading)
    );
    if counts.is_empty() {
        out.push_str("<tr><td colspan=\"2\">none</td></tr>");
    }
    for count in counts {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            html(&count.label),
            count.count
        );
    }
    out.push_str("</table>\n");
}

pub fn render(record: &SweepRecord) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("possim sweep: {} seeds {}", record.scenario, record.seeds);
    report_page_start(&mut out, &title);
    let _ = writeln!(out, "<h1>{}</h1>", html(&title));
    let _ = writeln!(
        out,
        "<p id=\"verdict\" class=\"{}\">{}</p>\n<p>{} wall.</p>",
        if record.passed { "pass" } else { "fail" },
        html(&record.verdict_text()),
        span(record.wall_ms)
    );
    out.push_str("<h2 id=\"counts\">Over every seed</h2>\n<div class=\"counts\">\n");
    counts_table(&mut out, "failing", "failing seeds, by invariant", &record.failing);
    counts_table(&mut out, "outcomes", "trades by outcome", &record.outcomes);
    counts_table(&mut out, "faults", "faults injected, by kind", &record.faults);
    out.push_str("</div>\n<h2 id=\"seeds\">Seeds</h2>\n");
    let mut rows: Vec<_> = record.suite.cases.iter().filter(|c| !c.passed).collect();
    rows.extend(record.suite.cases.iter().filter(|c| c.passed));
    let listed = rows.len().min(SWEEP_ROWS_MAX);
    out.push_str(
        "<table id=\"cases\"><tr><th>seed</th><th>result</th><th>first violation</th>\
         <th>reproduce</th><th class=\"num\">wall</th></tr>\n",
    );
    for case in rows.iter().take(listed) {
        let (class, verdict) = if case.passed { ("pass", "pass") } else { ("fail", "FAIL") };
        let first = case.failure.as_deref().unwrap_or("").lines().next().unwrap_or("");
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{verdict}</td><td>{}</td><td><code>{}</code></td>\
             <td class=\"num\">{}</td></tr>",
            html(&case.id),
            html(first),
            html(case.repro.as_deref().unwrap_or("")),
            span(case.wall_ms)
        );
    }
    out.push_str("</table>\n");
    if rows.len() > listed {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more seeds not listed (at most {SWEEP_ROWS_MAX}, failing first); \
             <code>junit.xml</code> has every seed.</p>",
            rows.len() - listed
        );
    }
    if !record.runs.is_empty() {
        let _ = writeln!(
            out,
            "<h2 id=\"runs\">The first failing seeds</h2>\n<p class=\"note\">At most \
             {SWEEP_RUNS_MAX}, lowest seeds first. For any other seed: <code>possim replay \
             SCENARIO --seed N --out DIR</code>.</p>"
        );
    }
    for run in &record.runs {
        let prefix = format!("seed-{}-", run.seed);
        let _ = writeln!(
            out,
            "<section class=\"run\" id=\"seed-{}\"><h2>Seed {}</h2>",
            run.seed, run.seed
        );
        body(&mut out, run, &prefix, 3);
        out.push_str("</section>\n");
    }
    page_end(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseResult;
    use crate::run::RunRecord;

    #[test]
    fn failing_seeds_come_first_and_carry_their_repro() {
        let mut record = SweepRecord::new("v", "0..3");
        record.passed = false;
        record.suite.cases.push(CaseResult::pass("seed 0", "v", 1));
        record.suite.cases.push(
            CaseResult::fail("seed 1", "v", "no-double-debit: twice\n  evidence", 1)
                .with_repro("possim replay v.yaml --seed 1"),
        );
        record.runs.push(RunRecord::new("v", 1));
        let page = render(&record);
        assert!(page.find("seed 1").unwrap() < page.find("seed 0").unwrap());
        assert!(page.contains("no-double-debit: twice</td>"), "first line only: {page}");
        assert!(page.contains("possim replay v.yaml --seed 1"));
        assert!(page.contains("id=\"seed-1\""));
        assert!(page.contains("id=\"seed-1-verdicts\""));
    }
}
