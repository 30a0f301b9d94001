//! Scenario errors: every mistake in a scenario file ends up as one
//! [`ScenarioError`] naming the file, the line and the column of the
//! offending YAML, in the `file:line:column: message` form editors and CI
//! logs understand.
//!
//! ```
//! use possim_sim::scenario::ScenarioError;
//! let error = ScenarioError {
//!     file: "shop.yaml".into(),
//!     line: 3,
//!     column: 9,
//!     message: "unknown merchant 898100000000009".into(),
//!     snippet: None,
//! };
//! assert_eq!(error.to_string(), "shop.yaml:3:9: unknown merchant 898100000000009");
//! ```

use std::fmt;

/// Where a value sits in the scenario's YAML tree: `terminals[2].config.tmk`.
/// Compilation names the offending value by its path; validation turns the
/// path into a line and column (the nearest written ancestor when the value
/// itself was left to its default).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Segment>);

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl FieldPath {
    /// The document itself.
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path, one key deeper.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    /// This path, one sequence element deeper.
    pub fn index(&self, index: usize) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    /// A path from its dotted text form, keys only (`switch.pending_max`).
    pub fn keys(dotted: &str) -> FieldPath {
        FieldPath(dotted.split('.').map(|key| Segment::Key(key.to_owned())).collect())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A scenario that parses but cannot be built: the value at `path` is wrong.
/// [`crate::scenario::validate`] turns it into a [`ScenarioError`] with the
/// value's line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CompileError {
    pub path: FieldPath,
    pub message: String,
}

impl CompileError {
    pub fn new(path: FieldPath, message: impl Into<String>) -> CompileError {
        CompileError { path, message: message.into() }
    }
}

/// A scenario error at a place in a file. `line` and `column` count from 1
/// (characters, not bytes); both are 0 when the error has no place in the
/// text (the file could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// Lowercase, one line.
    pub message: String,
    /// The offending line with a caret under the column, for people.
    pub snippet: Option<String>,
}

impl ScenarioError {
    /// An error at `line`:`column` of `text`, with a snippet of that line.
    pub fn at(
        file: &str,
        text: &str,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.to_owned(),
            line,
            column,
            message: one_line(&message.into()),
            snippet: snippet(text, line, column),
        }
    }

    /// The `file:line:column: message` line alone, without the snippet.
    pub fn headline(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!("{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        }
    }
}

/// The longest message, in characters: a message may quote a key or value
/// of the scenario, which may be as long as the file. A longer one keeps
/// its start and its end (often a list of what was expected) around an
/// ellipsis.
pub const MESSAGE_CHARS_MAX: usize = 1_000;

/// The widest source line a snippet shows, in characters: a longer line is
/// cut to this many around the column, an ellipsis standing for each side
/// left out.
pub const SNIPPET_CHARS_MAX: usize = 120;

/// `message` with its control characters escaped (a YAML key or value it
/// quotes may hold a line break, and the message must stay one line), cut
/// to [`MESSAGE_CHARS_MAX`] characters. The cut counts the escaped text:
/// a NUL is six characters once written `\u{0}`.
fn one_line(message: &str) -> String {
    let mut escaped = String::with_capacity(message.len().min(4 * MESSAGE_CHARS_MAX));
    for c in message.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    let total = escaped.chars().count();
    if total <= MESSAGE_CHARS_MAX {
        return escaped;
    }
    let half = MESSAGE_CHARS_MAX / 2;
    let head: String = escaped.chars().take(half).collect();
    let tail: String = escaped.chars().skip(total - half).collect();
    format!("{head} … {tail}")
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Two lines: the source line with its number, and a caret under `column`.
/// A line longer than [`SNIPPET_CHARS_MAX`] characters is cut around the
/// column, an ellipsis standing for each side left out. Control characters
/// other than tabs are shown as one visible character each (see
/// [`visible`]), so the snippet stays two lines and the caret stays under
/// its character.
fn snippet(text: &str, line: u64, column: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let source = text.lines().nth(usize::try_from(line - 1).ok()?)?;
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret_at = usize::try_from(column.saturating_sub(1)).ok()?;
    let total = source.chars().count();
    let (start, end) = if total > SNIPPET_CHARS_MAX {
        let start = caret_at.saturating_sub(SNIPPET_CHARS_MAX / 2).min(total - SNIPPET_CHARS_MAX);
        (start, start + SNIPPET_CHARS_MAX)
    } else {
        (0, total)
    };
    let (before, after) = if start > 0 { ("…", " ") } else { ("", "") };
    let mut shown: String = before.to_owned();
    shown.extend(source.chars().skip(start).take(end - start).map(visible));
    if end < total {
        shown.push('…');
    }
    // Tabs keep their width under the caret line, so the caret stays aligned.
    let lead: String = after
        .chars()
        .chain(source.chars().skip(start).take(caret_at.min(end).saturating_sub(start)).map(|c| {
            if c == '\t' {
                '\t'
            } else {
                ' '
            }
        }))
        // A column past a cut line's end: under the closing ellipsis.
        .chain((caret_at > end && end < total).then_some(' '))
        .collect();
    Some(format!("{gutter} | {shown}\n{pad} | {lead}^"))
}

/// A character as a snippet shows it: a control character (a hostile file
/// may be NUL bytes, or terminal escapes) as its picture (`␀`, `␛`, `␡`), or
/// `�` for those without one; a tab and anything else as itself.
fn visible(c: char) -> char {
    match c {
        '\t' => c,
        '\0'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        c if c.is_control() => '\u{fffd}',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_prints_like_the_yaml_it_names() {
        let path = FieldPath::root().key("terminals").index(2).key("config").key("tmk");
        assert_eq!(path.to_string(), "terminals[2].config.tmk");
    }

    #[test]
    fn the_snippet_puts_a_caret_under_the_column() {
        let error = ScenarioError::at("a.yaml", "x: 1\nname: [\n", 2, 7, "boom");
        assert_eq!(error.to_string(), "a.yaml:2:7: boom\n2 | name: [\n  |       ^");
    }

    /// Regression: a scenario of 200 MB on one line (of NUL bytes, say) was
    /// quoted whole, and the error was 200 MB long.
    #[test]
    fn a_long_line_is_cut_around_the_column() {
        let text = format!("name: x\n{}key{}\n", "a".repeat(5_000), "b".repeat(5_000));
        let error = ScenarioError::at("a.yaml", &text, 2, 5_001, "boom");
        let snippet = error.snippet.clone().expect("a snippet");
        let (source, caret) = snippet.split_once('\n').expect("two lines");
        assert_eq!(source.chars().count(), "2 | ".len() + SNIPPET_CHARS_MAX + 2, "{source}");
        assert!(source.starts_with("2 | …aaa") && source.ends_with("bbb…"), "{source}");
        // The caret is under the k of `key`.
        let under = caret.chars().count() - 1;
        assert_eq!(source.chars().nth(under), Some('k'), "{snippet}");
        // A short line is left whole; the start and the end of a long one
        // have one ellipsis each.
        let start = ScenarioError::at("a.yaml", &text, 2, 1, "boom").snippet.unwrap();
        assert!(start.starts_with("2 | aaa") && start.contains("a…\n  | ^"), "{start}");
        let end = ScenarioError::at("a.yaml", &text, 2, 10_004, "boom").snippet.unwrap();
        assert!(end.ends_with(&format!("{}^", " ".repeat(SNIPPET_CHARS_MAX + 1))), "{end}");
        assert!(end.starts_with("2 | …bbb") && !end.contains("bkey"), "{end}");
    }

    #[test]
    fn control_characters_in_the_snippet_are_shown_as_pictures_and_the_caret_stays_under() {
        let error = ScenarioError::at("a.yaml", "a\0\u{1b}\tb\u{7f}\u{85}: 1\n", 1, 5, "boom");
        assert_eq!(error.snippet.as_deref(), Some("1 | a␀␛\tb␡�: 1\n  |    \t^"));
    }

    #[test]
    fn a_long_message_keeps_its_start_and_end() {
        let quoted = "x".repeat(100_000);
        let error = ScenarioError::at(
            "a.yaml",
            "",
            1,
            1,
            format!("unknown field `{quoted}`, expected one of a, b"),
        );
        assert_eq!(error.message.chars().count(), MESSAGE_CHARS_MAX + 3, "{}", error.message);
        assert!(error.message.starts_with("unknown field `xxx"), "{}", error.message);
        assert!(error.message.ends_with("xxx`, expected one of a, b"), "{}", error.message);
        assert!(error.message.contains("x … x"), "{}", error.message);
    }

    /// Regression: the cut counted characters before escaping, so a value
    /// of 1,000 NUL bytes made a message of 6,000 characters.
    #[test]
    fn a_message_of_control_characters_is_cut_after_escaping() {
        let quoted = "\0".repeat(100_000);
        let error = ScenarioError::at("a.yaml", "", 1, 1, format!("unknown variant `{quoted}`"));
        assert_eq!(error.message.chars().count(), MESSAGE_CHARS_MAX + 3, "{}", error.message);
        assert!(error.message.starts_with("unknown variant `\\u{0}"), "{}", error.message);
        assert!(error.message.ends_with("\\u{0}`"), "{}", error.message);
    }
}
