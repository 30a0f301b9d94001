//! Where a scenario's YAML can be edited as a user would: each `key: value`
//! (in block or flow style) and each block sequence item, as byte ranges of
//! the text. A line scanner, not a parser: it reads the bundled scenarios'
//! style (block mappings, one-line flow mappings and sequences, `#`
//! comments) and simply finds fewer sites in text it does not understand,
//! which is all a mutator needs.

use std::ops::Range;

/// What a key's value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A plain or quoted scalar on the key's line.
    Scalar,
    /// `{...}` on the key's line.
    FlowMap,
    /// `[...]` on the key's line.
    FlowSeq,
    /// Nothing on the key's line: the value is the more indented lines
    /// below. `value` then runs from just after the colon to the end of
    /// the last of those lines (newline included).
    Block,
}

/// One `key: value`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Range<usize>,
    pub value: Range<usize>,
    pub shape: Shape,
    /// Inside a flow collection (`{a: 1, b: 2}`), where entries are
    /// separated by commas rather than lines.
    pub in_flow: bool,
    /// The key's column (bytes from its line's start).
    pub column: usize,
    /// The key's line starts with `- ` before it (the first key of a
    /// block sequence item).
    pub after_dash: bool,
}

/// One block sequence item: its `- ` line and the more indented lines
/// below it (newline included).
#[derive(Debug, Clone)]
pub struct Item {
    pub range: Range<usize>,
}

#[derive(Debug, Default)]
pub struct Sites {
    pub entries: Vec<Entry>,
    pub items: Vec<Item>,
}

/// The longest line the scanner reads: a mutant may hold a line of
/// megabytes, whose sites would only be the ones already known.
const LINE_BYTES_MAX: usize = 4_096;

/// Every site of `text`.
pub fn scan(text: &str) -> Sites {
    let lines = line_spans(text);
    let mut sites = Sites::default();
    for (index, span) in lines.iter().enumerate() {
        let line = &text[span.clone()];
        if line.len() > LINE_BYTES_MAX {
            continue;
        }
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches(' ').len();
        let rest = &content[indent..];
        if rest.starts_with("- ") || rest == "-" {
            let end = block_end(text, &lines, index, indent);
            sites.items.push(Item { range: span.start..end });
        }
        scan_line(text, &lines, index, &mut sites.entries);
    }
    sites
}

/// Each line's byte range, its newline included.
fn line_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        spans.push(start..start + line.len());
        start += line.len();
    }
    spans
}

/// The end of the lines below line `index` indented more than `column`
/// (blank and comment lines between them included, trailing ones not).
fn block_end(text: &str, lines: &[Range<usize>], index: usize, column: usize) -> usize {
    let mut end = lines[index].end;
    for span in &lines[index + 1..] {
        let line = text[span.clone()].trim_end_matches(['\n', '\r']);
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if line.len() - content.len() <= column {
            break;
        }
        end = span.end;
    }
    end
}

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The end of a quoted scalar starting at `at` (just past its closing
/// quote), or the line's end when it does not close.
fn quoted_end(bytes: &[u8], at: usize) -> usize {
    let quote = bytes[at];
    let mut index = at + 1;
    while index < bytes.len() {
        if bytes[index] == b'\\' && quote == b'"' {
            index += 2;
            continue;
        }
        if bytes[index] == quote {
            return index + 1;
        }
        index += 1;
    }
    bytes.len()
}

/// The end of the flow collection opening at `at` (just past its closing
/// bracket), if it closes on this line.
fn flow_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut index = at;
    while index < bytes.len() {
        match bytes[index] {
            b'\'' | b'"' => {
                index = quoted_end(bytes, index);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            b'#' if bytes[index - 1] == b' ' => return None,
            _ => {}
        }
        index += 1;
    }
    None
}

/// The entries on line `index`.
fn scan_line(text: &str, lines: &[Range<usize>], index: usize, entries: &mut Vec<Entry>) {
    let start = lines[index].start;
    let line = text[lines[index].clone()].trim_end_matches(['\n', '\r']);
    let bytes = line.as_bytes();
    let mut depth = 0usize;
    let mut expect_key = true;
    let mut after_dash = false;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b'#' if at == 0 || bytes[at - 1] == b' ' => break,
            b'\'' | b'"' => {
                at = quoted_end(bytes, at);
                expect_key = false;
                continue;
            }
            b'{' | b'[' | b',' => {
                if byte != b',' {
                    depth += 1;
                }
                expect_key = true;
                at += 1;
                continue;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                expect_key = false;
            }
            b' ' => {}
            b'-' if expect_key && depth == 0 && bytes.get(at + 1) == Some(&b' ') => {
                after_dash = true;
                at += 2;
                continue;
            }
            _ if expect_key && is_key_byte(byte) => {
                expect_key = false;
                let key_end = at + bytes[at..].iter().take_while(|&&b| is_key_byte(b)).count();
                let colon = bytes.get(key_end) == Some(&b':');
                let spaced = matches!(bytes.get(key_end + 1), None | Some(b' '));
                if colon && spaced {
                    let value_at = key_end
                        + 1
                        + bytes[key_end + 1..].iter().take_while(|&&b| b == b' ').count();
                    let entry = |value: Range<usize>, shape| Entry {
                        key: start + at..start + key_end,
                        value: start + value.start..start + value.end,
                        shape,
                        in_flow: depth > 0,
                        column: at,
                        after_dash: after_dash && depth == 0,
                    };
                    match bytes.get(value_at) {
                        None | Some(b'#') if depth == 0 => {
                            let end = block_end(text, lines, index, at);
                            let mut block = entry(key_end + 1..key_end + 1, Shape::Block);
                            block.value.end = end;
                            if end > lines[index].end {
                                entries.push(block);
                            }
                            break;
                        }
                        Some(b'{' | b'[') => {
                            if let Some(end) = flow_end(bytes, value_at) {
                                let shape = if bytes[value_at] == b'{' {
                                    Shape::FlowMap
                                } else {
                                    Shape::FlowSeq
                                };
                                entries.push(entry(value_at..end, shape));
                            }
                            at = value_at;
                            continue;
                        }
                        Some(b'\'' | b'"') => {
                            let end = quoted_end(bytes, value_at);
                            entries.push(entry(value_at..end, Shape::Scalar));
                            at = end;
                            continue;
                        }
                        Some(_) => {
                            let mut end = value_at;
                            while end < bytes.len() {
                                let b = bytes[end];
                                let stop = if depth > 0 {
                                    matches!(b, b',' | b'}' | b']')
                                } else {
                                    b == b'#' && bytes[end - 1] == b' '
                                };
                                if stop {
                                    break;
                                }
                                end += 1;
                            }
                            let trimmed = line[value_at..end].trim_end().len();
                            entries.push(entry(value_at..value_at + trimmed, Shape::Scalar));
                            at = end;
                            continue;
                        }
                        None => break,
                    }
                }
                at = key_end;
                continue;
            }
            _ => expect_key = false,
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_block_flow_and_item_sites() {
        let text = "run:\n  seed: 7   # why\nterminals:\n  - {id: T1, tmk: 'a, b'}\n  - id: T2\n    link: x\nbins: [\"1\", \"2\"]\n";
        let sites = scan(text);
        let shown: Vec<(&str, &str, Shape)> = sites
            .entries
            .iter()
            .map(|e| (&text[e.key.clone()], &text[e.value.clone()], e.shape))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("run", "\n  seed: 7   # why\n", Shape::Block),
                ("seed", "7", Shape::Scalar),
                (
                    "terminals",
                    "\n  - {id: T1, tmk: 'a, b'}\n  - id: T2\n    link: x\n",
                    Shape::Block
                ),
                ("id", "T1", Shape::Scalar),
                ("tmk", "'a, b'", Shape::Scalar),
                ("id", "T2", Shape::Scalar),
                ("link", "x", Shape::Scalar),
                ("bins", "[\"1\", \"2\"]", Shape::FlowSeq),
            ]
        );
        let items: Vec<&str> = sites.items.iter().map(|i| &text[i.range.clone()]).collect();
        assert_eq!(items, vec!["  - {id: T1, tmk: 'a, b'}\n", "  - id: T2\n    link: x\n"]);
    }
}
