//! What the merge and deploy tests share: comparing two sweep report
//! directories up to their timing fields.
//!
//! The timing fields (docs/SHARDS.md) are the only bytes two report
//! directories of the same seeds may differ in: the sweep's wall time
//! (`<p>… wall.</p>` in report.html), each seed's (the last cell of its row
//! in report.html's seed table) and junit.xml's `time="…"` attributes.

use std::path::Path;

/// `text` with every timing field written as `T`.
pub fn without_timings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let newline = &line[body.len()..];
        let body = if body.starts_with("<p>") && body.ends_with(" wall.</p>") {
            "<p>T wall.</p>".to_string()
        } else if body.starts_with("<tr><td>seed ") && body.ends_with("</td></tr>") {
            match body.rfind("<td class=\"num\">") {
                Some(cell) => format!("{}<td class=\"num\">T</td></tr>", &body[..cell]),
                None => body.to_string(),
            }
        } else {
            times_blanked(body)
        };
        out.push_str(&body);
        out.push_str(newline);
    }
    out
}

/// Every ` time="…"` attribute's value as `T`.
fn times_blanked(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(" time=\"") {
        let value = at + " time=\"".len();
        out.push_str(&rest[..value]);
        out.push('T');
        rest = &rest[value..];
        rest = rest.find('"').map_or("", |end| &rest[end..]);
    }
    out.push_str(rest);
    out
}

/// Both directories hold the same files, equal up to their timings; and
/// the report's pages are there.
pub fn assert_same_report(single: &Path, merged: &Path) {
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files = names(single);
    assert_eq!(files, names(merged), "the same files");
    for page in ["report.html", "summary.md", "junit.xml"] {
        assert!(files.iter().any(|f| f == page), "{page} written: {files:?}");
    }
    for name in &files {
        let a = std::fs::read_to_string(single.join(name)).unwrap();
        let b = std::fs::read_to_string(merged.join(name)).unwrap();
        let (a, b) = (without_timings(&a), without_timings(&b));
        if a != b {
            let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
            panic!(
                "{name} differs at line {}:\n single: {}\n merged: {}",
                line + 1,
                a.lines().nth(line).unwrap_or("(end)"),
                b.lines().nth(line).unwrap_or("(end)")
            );
        }
    }
}

#[test]
fn only_timings_are_blanked() {
    let html = "<p>1.2 s wall.</p>\n<tr><td>seed 3</td><td class=\"fail\">FAIL</td><td class=\"num\">78 ms</td></tr>\n<p>3 wall</p>\n";
    assert_eq!(
        without_timings(html),
        "<p>T wall.</p>\n<tr><td>seed 3</td><td class=\"fail\">FAIL</td><td class=\"num\">T</td></tr>\n<p>3 wall</p>\n"
    );
    let xml = "<testcase name=\"seed 1 q\" time=\"0.078\" classname=\"x\">";
    assert_eq!(without_timings(xml), "<testcase name=\"seed 1 q\" time=\"T\" classname=\"x\">");
}
