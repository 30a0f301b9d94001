//! Self-contained HTML pages: inline CSS, no scripts, nothing fetched from
//! the network, so a report opens offline from a CI artefact.

use std::fmt::Write;

use crate::case::Suite;
use crate::escape::html;

/// The stylesheet every page inlines.
pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;\
text-align:left;vertical-align:top}th{background:#f3f3f3}.pass{color:#176f2c}\
.fail{color:#b00020;font-weight:bold}code{font-size:90%}";

/// Opens a page with its title and the inline stylesheet.
pub fn page_start(out: &mut String, title: &str) {
    page_start_styled(out, title, "");
}

/// Opens a page whose stylesheet is [`STYLE`] and `extra`.
fn page_start_styled(out: &mut String, title: &str, extra: &str) {
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}{extra}</style></head><body>",
        html(title)
    );
}

pub fn page_end(out: &mut String) {
    out.push_str("</body></html>\n");
}

/// A suite of cases as one page: the verdict, then a row per case, then
/// for each failed case that carries evidence its steps beside the frames
/// observed ([`crate::evidence`]).
pub fn suite(suite: &Suite) -> String {
    let mut out = String::new();
    page_start_styled(&mut out, &format!("possim {}", suite.name), crate::evidence::CSS);
    let skipped = suite.skipped();
    let passed = suite.cases.len() - suite.failures() - skipped;
    let not_applicable =
        if skipped > 0 { format!(", {skipped} not applicable") } else { String::new() };
    let _ = writeln!(
        out,
        "<h1>possim {}</h1>\n<p id=\"verdict\" class=\"{}\">{passed} of {} passed{not_applicable}</p>",
        html(&suite.name),
        if suite.passed() { "pass" } else { "fail" },
        suite.cases.len()
    );
    out.push_str(
        "<table id=\"cases\"><tr><th>ID</th><th>title</th><th>result</th>\
                  <th>first deviation</th><th>repro</th></tr>\n",
    );
    for case in &suite.cases {
        let (class, verdict) = match (&case.skipped, case.passed) {
            (Some(_), _) => ("skip", "not applicable"),
            (None, true) => ("pass", "pass"),
            (None, false) => ("fail", "FAIL"),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{verdict}</td><td>{}</td>\
             <td><code>{}</code></td></tr>",
            html(&case.id),
            html(&case.title),
            html(case.failure.as_deref().or(case.skipped.as_deref()).unwrap_or("")),
            html(case.repro.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>\n");
    for case in suite.cases.iter().filter(|case| !case.passed) {
        let Some(evidence) = &case.evidence else { continue };
        let _ = writeln!(
            out,
            "<section class=\"case-evidence\" id=\"evidence-{}\"><h2>{} {}: steps beside the \
             frames observed</h2>\n<p class=\"fail\">{}</p>",
            html(&case.id),
            html(&case.id),
            html(&case.title),
            html(case.failure.as_deref().unwrap_or("failed"))
        );
        out.push_str(&crate::evidence::html(evidence));
        out.push_str("</section>\n");
    }
    page_end(&mut out);
    out
}
