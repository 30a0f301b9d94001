//! Escaping text for HTML and SVG, and for Markdown table cells.

/// Escapes `&`, `<`, `>`, `"` and `'` for element text and attribute values.
///
/// ```
/// assert_eq!(possim_reports::escape::html("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
/// ```
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Makes text safe inside one Markdown table cell: pipes escaped, line
/// breaks folded into spaces.
///
/// ```
/// assert_eq!(possim_reports::escape::markdown_cell("a|b\nc"), "a\\|b c");
/// ```
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}
