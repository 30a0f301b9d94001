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

/// `message` with its control characters escaped: a YAML key or value it
/// quotes may hold a line break, and the message must stay one line.
fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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
fn snippet(text: &str, line: u64, column: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let source = text.lines().nth(usize::try_from(line - 1).ok()?)?;
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret_at = usize::try_from(column.saturating_sub(1)).ok()?;
    // Tabs keep their width under the caret line, so the caret stays aligned.
    let lead: String =
        source.chars().take(caret_at).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    Some(format!("{gutter} | {source}\n{pad} | {lead}^"))
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
}
