//! One run as one self-contained HTML page: inline CSS and SVG, no script,
//! no font or image from anywhere, so it opens offline from a CI artefact.
//! Verdicts, counts, a message sequence chart per chosen trade, the ledger,
//! and a timeline per terminal.
//!
//! ```
//! use possim_reports::run::{RunRecord, VerdictRow};
//! let mut record = RunRecord::new("quickstart", 7);
//! record.passed = true;
//! record.verdicts.push(VerdictRow::passed("no-double-debit"));
//! let page = possim_reports::run_html::render(&record);
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! assert!(page.contains("no-double-debit"));
//! assert!(!page.contains("<script"));
//! ```

use std::fmt::Write;

use crate::chart;
use crate::escape::html;
use crate::format::span;
use crate::html::{page_end, STYLE};
use crate::ledger;
use crate::run::{Count, RunRecord, CHARTS_MAX};
use crate::timeline;

/// What a report page adds to the suite pages' stylesheet.
pub const REPORT_STYLE: &str = "h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
nav a{margin-right:1em}.counts{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
.counts table{margin:0}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
pre.violation{background:#fff4f4;border-left:3px solid #b00020;padding:.4em .6em;\
white-space:pre-wrap;margin:.3em 0}.note{color:#555;font-style:italic}\
#verdict{font-size:1.3em}section.trade{margin:1.5em 0}tr.fail td{background:#fff4f4}\
tr.total th{background:#f7f7f7}";

/// The whole stylesheet of a report page.
pub fn style() -> String {
    format!("{STYLE}{REPORT_STYLE}{}{}", chart::CSS, timeline::CSS)
}

/// Opens a report page: its title and the inline stylesheet.
pub fn report_page_start(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{}</style></head><body>",
        html(title),
        style()
    );
}

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

/// The verdict line: `PASS` or `FAIL: a, b`.
pub fn verdict_text(record: &RunRecord) -> String {
    if record.passed {
        "PASS: every invariant held and healing converged".to_string()
    } else {
        format!("FAIL: {}", record.failed().join(", "))
    }
}

/// The sections of one run, every id prefixed by `prefix` so several runs
/// can share a page; headings start at `h{level}`.
pub fn body(out: &mut String, record: &RunRecord, prefix: &str, level: u8) {
    let h = level;
    let _ = writeln!(
        out,
        "<p id=\"{prefix}verdict\" class=\"{}\">{}</p>",
        if record.passed { "pass" } else { "fail" },
        html(&verdict_text(record))
    );
    let _ = writeln!(
        out,
        "<table class=\"meta\"><tr><th>scenario</th><td>{}</td></tr>\
         <tr><th>seed</th><td>{}{}</td></tr>\
         <tr><th>simulated</th><td>{}</td></tr>\
         <tr><th>trace</th><td>{} records, hash <code>{}</code>, schema version {}</td></tr>\
         <tr><th>reproduce</th><td><code>{}</code></td></tr></table>",
        html(&record.scenario),
        record.seed,
        if record.swarm { " (swarm)" } else { "" },
        span(record.simulated_ms),
        record.trace.records,
        html(&record.trace.hash),
        record.trace.schema_version,
        html(&record.repro)
    );
    let _ = writeln!(out, "<h{h} id=\"{prefix}verdicts\">Invariants</h{h}>");
    out.push_str(
        "<table class=\"verdicts\"><tr><th>invariant</th><th>result</th><th>violations</th></tr>\n",
    );
    for verdict in &record.verdicts {
        let (class, text) = if verdict.passed { ("pass", "pass") } else { ("fail", "FAIL") };
        let _ = write!(
            out,
            "<tr data-invariant=\"{}\"><td>{}</td><td class=\"{class}\">{text}</td><td>",
            html(&verdict.invariant),
            html(&verdict.invariant)
        );
        for violation in &verdict.violations {
            let _ = write!(out, "<pre class=\"violation\">{}</pre>", html(violation));
        }
        if verdict.more > 0 {
            let _ = write!(
                out,
                "<p class=\"note\">… and {} more violations, not kept</p>",
                verdict.more
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
    let _ =
        writeln!(out, "<h{h} id=\"{prefix}counts\">What happened</h{h}>\n<div class=\"counts\">");
    counts_table(out, &format!("{prefix}outcomes"), "trades by outcome", &record.outcomes);
    counts_table(
        out,
        &format!("{prefix}activity"),
        "reversals, offline, settlement",
        &record.activity,
    );
    counts_table(out, &format!("{prefix}faults"), "faults injected, by kind", &record.faults);
    if !record.placed.is_empty() {
        let heading = "placed faults, times landed";
        counts_table(out, &format!("{prefix}placed"), heading, &record.placed);
    }
    counts_table(out, &format!("{prefix}frames"), "frames by fate", &record.frames);
    out.push_str("</div>\n");
    charts(out, record, prefix, h);
    let _ = writeln!(out, "<h{h} id=\"{prefix}ledger\">Ledger: each card's money</h{h}>");
    out.push_str(
        "<p class=\"note\">Account and electronic cash together. Closing = opening + debits + \
         reversals + other credits; \"issuer says\" is the issuer's own last balance.</p>\n",
    );
    out.push_str(&ledger::html_table(&record.ledger));
    let _ = writeln!(out, "<h{h} id=\"{prefix}timelines\">Terminals over time</h{h}>");
    if record.timelines.terminals.is_empty() {
        out.push_str("<p>No terminal events.</p>\n");
    } else {
        out.push_str(
            "<p class=\"note\">Each trade is a mark where it started, coloured by how it ended; \
             a mark stands for every trade in its slice of time (hover for the counts).</p>\n",
        );
        out.push_str(&timeline::svg(&record.timelines));
    }
}

fn charts(out: &mut String, record: &RunRecord, prefix: &str, h: u8) {
    let _ = writeln!(out, "<h{h} id=\"{prefix}charts\">Message sequence charts</h{h}>");
    for note in &record.chart_notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", html(note));
    }
    if record.charts.is_empty() {
        out.push_str(
            "<p>No trade to chart: none failed, none was reversed, none was asked for.</p>\n",
        );
        return;
    }
    let shown = record.charts.len().min(CHARTS_MAX);
    let omitted = record.charts_omitted + (record.charts.len() - shown);
    if omitted > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{omitted} more trades qualified; a report charts at most \
             {CHARTS_MAX}. Ask for one with <code>--trade TERMINAL:STAN</code>.</p>"
        );
    }
    out.push_str(
        "<p class=\"note\">Time flows down. Stretches of more than 2 s with nothing for the \
         trade are compressed into a break that says how long they were. Hover over an arrow \
         for the frame's fields.</p>\n",
    );
    out.push_str(&chart::legend());
    for trade in record.charts.iter().take(shown) {
        let _ = writeln!(
            out,
            "<section class=\"trade\" id=\"{prefix}{}\"><h{}>terminal {} STAN {:06}{}{}</h{}>",
            trade.anchor(),
            h + 1,
            html(&trade.terminal),
            trade.stan,
            if trade.summary.is_empty() { "" } else { ": " },
            html(&trade.summary),
            h + 1
        );
        for reason in &trade.reasons {
            let _ = writeln!(out, "<p>Charted because: {}</p>", html(reason));
        }
        out.push_str(&chart::svg(trade));
        let dropped = trade.omitted
            + trade.frames.len().saturating_sub(chart::FRAMES_PER_CHART_MAX)
            + trade.marks.len().saturating_sub(chart::MARKS_PER_CHART_MAX);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "<p class=\"note\">{dropped} more frames and events of this trade are not drawn \
                 (at most {} frames and {} events per chart); the trace has them all.</p>",
                chart::FRAMES_PER_CHART_MAX,
                chart::MARKS_PER_CHART_MAX
            );
        }
        out.push_str("</section>\n");
    }
}

/// The run's `report.html`.
pub fn render(record: &RunRecord) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("possim run: {}", record.title());
    report_page_start(&mut out, &title);
    let _ = writeln!(out, "<h1>{}</h1>", html(&title));
    out.push_str(
        "<nav><a href=\"#verdicts\">invariants</a><a href=\"#counts\">counts</a>\
         <a href=\"#charts\">charts</a><a href=\"#ledger\">ledger</a>\
         <a href=\"#timelines\">timelines</a></nav>\n",
    );
    body(&mut out, record, "", 2);
    out.push_str(
        "<footer><p class=\"note\">Beside this page: <code>summary.md</code> (the same verdicts \
         and counts as Markdown), <code>junit.xml</code> (one test case per invariant), \
         <code>trace.jsonl</code> (the event log).</p></footer>\n",
    );
    page_end(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{ChartFrame, FrameFate, Lane, TradeChart};
    use crate::run::VerdictRow;

    fn record() -> RunRecord {
        let mut record = RunRecord::new("q<s>", 7);
        record.repro = "possim replay q.yaml --seed 7".into();
        record.verdicts.push(VerdictRow {
            invariant: "every-unanswered-trade-reversed".into(),
            passed: false,
            violations: vec!["terminal T1 stan 3: <no reversal>".into()],
            more: 0,
        });
        record.outcomes.push(Count::new("approved", 28));
        let mut chart = TradeChart::new("T1", 3);
        chart.reasons.push("violates every-unanswered-trade-reversed".into());
        chart.frames.push(ChartFrame {
            seq: 1,
            at_ms: 0,
            from: Lane::Terminal,
            to: Lane::Switch,
            mti: Some("0200".into()),
            stan: Some(3),
            amount_fen: Some(5),
            code: None,
            bytes: 90,
            fate: FrameFate::Delivered,
            fields: String::new(),
        });
        record.charts.push(chart);
        record
    }

    #[test]
    fn a_failing_run_shows_its_violation_escaped_and_its_chart() {
        let page = render(&record());
        assert!(page.contains("FAIL: every-unanswered-trade-reversed"));
        assert!(page.contains("terminal T1 stan 3: &lt;no reversal&gt;"), "escaped");
        assert!(page.contains("possim run: q&lt;s&gt; seed 7"));
        assert!(page.contains("id=\"chart-T1-3\""));
        assert!(page.contains("Charted because: violates every-unanswered-trade-reversed"));
        assert!(page.contains("<svg class=\"msc legend\""));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn charts_over_the_cap_are_counted_not_drawn() {
        let mut record = record();
        let chart = record.charts[0].clone();
        record.charts = vec![chart; CHARTS_MAX + 3];
        record.charts_omitted = 4;
        let page = render(&record);
        assert_eq!(page.matches("<section class=\"trade\"").count(), CHARTS_MAX);
        assert!(page.contains("7 more trades qualified"), "4 left by the simulator, 3 by the page");
    }

    #[test]
    fn prefixes_keep_ids_apart() {
        let mut out = String::new();
        body(&mut out, &record(), "seed-3-", 3);
        assert!(out.contains("id=\"seed-3-chart-T1-3\""));
        assert!(out.contains("<h3 id=\"seed-3-verdicts\">"));
    }
}
