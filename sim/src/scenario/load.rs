//! Reading a scenario file: YAML syntax and types, with serde-saphyr.
//!
//! Duplicate keys are refused (two terminals or two link profiles with one
//! name must not merge silently), and every struct refuses unknown keys, so a
//! misspelt policy is an error rather than a silent default.
//!
//! ```
//! use possim_sim::scenario::parse;
//! let error = parse("name: x\nname: y\n", "dup.yaml").unwrap_err();
//! assert_eq!((error.line, error.column), (2, 1));
//! assert!(error.message.contains("duplicate"), "{error}");
//! ```

use std::io::Read;
use std::path::Path;

use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::{MessageFormatter, Options};

use super::bounds;
use super::compile::CompiledScenario;
use super::error::ScenarioError;
use super::model::Scenario;

/// The parser options every scenario is read with.
pub(crate) fn options() -> Options {
    serde_saphyr::options! {
        // The library's default already, stated so a change of default
        // cannot make two same-named entries merge.
        duplicate_keys: DuplicateKeyPolicy::Error,
    }
}

/// Parses a scenario's text; `file` names it in errors. Checks syntax, keys
/// and types only; [`super::validate`] checks the meaning.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    serde_saphyr::from_str_with_options::<Scenario>(text, options())
        .map_err(|error| from_yaml_error(&error, text, file))
}

/// Reads and parses a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let (text, file) = read(path)?;
    parse(&text, &file)
}

/// Parses, validates and compiles a scenario's text: what a run needs.
pub fn parse_and_compile(text: &str, file: &str) -> Result<CompiledScenario, ScenarioError> {
    let scenario = parse(text, file)?;
    super::validate::compile_located(&scenario, text, file)
}

/// Reads, parses, validates and compiles a scenario file.
pub fn load_and_compile(path: &Path) -> Result<CompiledScenario, ScenarioError> {
    let (text, file) = read(path)?;
    parse_and_compile(&text, &file)
}

/// As [`load_and_compile`], refusing fault kinds that exist only live
/// (see [`ProtocolFault::is_live_only`](super::model::ProtocolFault::is_live_only)),
/// with the line and column of the fault's kind.
pub fn load_simulable(path: &Path) -> Result<CompiledScenario, ScenarioError> {
    let (text, file) = read(path)?;
    parse_simulable(&text, &file)
}

/// As [`parse_and_compile`], refusing fault kinds that exist only live:
/// what `possim run` does with a file's text once read.
pub fn parse_simulable(text: &str, file: &str) -> Result<CompiledScenario, ScenarioError> {
    let compiled = parse_and_compile(text, file)?;
    super::validate::check_simulable_scenario(&compiled)
        .map_err(|error| super::validate::locate(&error, text, file))?;
    Ok(compiled)
}

/// As [`load_and_compile`], refusing fault kinds that exist only in the
/// simulated world: what `possim serve` and `possim drive` load.
pub fn load_live(path: &Path) -> Result<CompiledScenario, ScenarioError> {
    let (text, file) = read(path)?;
    let compiled = parse_and_compile(&text, &file)?;
    super::validate::check_live(&compiled.faults)
        .map_err(|error| super::validate::locate(&error, &text, &file))?;
    Ok(compiled)
}

fn read(path: &Path) -> Result<(String, String), ScenarioError> {
    let file = path.display().to_string();
    match read_text(path) {
        Ok(text) => Ok((text, file)),
        Err(reason) => Err(ScenarioError {
            message: format!("cannot read the scenario: {reason}"),
            file,
            line: 0,
            column: 0,
            snippet: None,
        }),
    }
}

/// A scenario file's text, or why it cannot be had (lowercase): it cannot be
/// opened or read, it is longer than [`bounds::SCENARIO_BYTES_MAX`] (read no
/// further than one byte past the bound, so `/dev/zero` ends too), or it is
/// not UTF-8.
pub fn read_text(path: &Path) -> Result<String, String> {
    let reason = |error: std::io::Error| lowercase_first(&error.to_string());
    let file = std::fs::File::open(path).map_err(reason)?;
    let max = bounds::SCENARIO_BYTES_MAX;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(reason)?;
    if bytes.len() as u64 > max {
        return Err(format!("the file is longer than the bound SCENARIO_BYTES_MAX = {max} bytes"));
    }
    // The words of `read_to_string`, which this replaces.
    String::from_utf8(bytes).map_err(|_| "stream did not contain valid UTF-8".to_owned())
}

/// serde-saphyr's error as ours: its primary location and its bare message
/// (the library's rendering appends "at line X column Y", which our
/// `file:line:column:` prefix already says).
fn from_yaml_error(error: &serde_saphyr::Error, text: &str, file: &str) -> ScenarioError {
    let message = serde_saphyr::DefaultMessageFormatter.format_message(error.without_snippet());
    let mut message = lowercase_first(message.trim());
    // The library's advice to its programmer, not to the scenario's author.
    if let Some(cut) = message.find(", set DuplicateKeyPolicy") {
        message.truncate(cut);
    }
    match error.location() {
        Some(location) if location.line() > 0 => {
            let (line, column) = refine(text, &message, location.line(), location.column());
            ScenarioError::at(file, text, line, column, message)
        }
        // Some errors (e.g. inside an internally tagged fault, which serde
        // buffers) come without a place; the document start is the honest
        // fallback.
        _ => ScenarioError::at(file, text, 1, 1, message),
    }
}

/// Sharpens the place of an error serde-saphyr could not pin down.
///
/// serde buffers an internally tagged mapping (a fault: `kind` and its
/// fields) before reading it, so an error inside one is reported at the
/// mapping's first key rather than at the culprit. When the message names
/// the culprit (an unknown field or variant, a value of the wrong type), it
/// is looked for in the lines of that mapping. A missing field is reported
/// where the mapping ended; it is moved to where the mapping starts.
fn refine(text: &str, message: &str, line: u64, column: u64) -> (u64, u64) {
    let reported = (line, column);
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = usize::try_from(line).ok().and_then(|line| line.checked_sub(1)) else {
        return reported;
    };
    if first >= lines.len() {
        return reported;
    }
    let quoted = |prefix: &str, quote: char| -> Option<String> {
        let rest = message.strip_prefix(prefix)?;
        Some(rest.split(quote).next()?.to_owned())
    };
    if message.starts_with("missing field `") {
        return mapping_start(&lines, first, column).unwrap_or(reported);
    }
    let (needle, is_key) = if let Some(key) = quoted("unknown field `", '`') {
        (key, true)
    } else if let Some(variant) = quoted("unknown variant `", '`') {
        (variant, false)
    } else if let Some(value) = quoted("invalid type: string \"", '"') {
        (value, false)
    } else {
        return reported;
    };
    let indent = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    for (number, source) in lines.iter().enumerate().skip(first) {
        let content = source.trim_start();
        let blank = content.is_empty() || content.starts_with('#');
        if number > first && !blank && source.len() - content.len() < indent {
            break;
        }
        let found =
            if is_key { key_column(source, &needle) } else { value_column(source, &needle) };
        if let Some(byte) = found {
            let column = source[..byte].chars().count() as u64 + 1;
            return (number as u64 + 1, column);
        }
    }
    reported
}

/// The line and column of the first key of the block mapping that holds
/// the line `at` (0-based) indented at `column`.
fn mapping_start(lines: &[&str], at: usize, column: u64) -> Option<(u64, u64)> {
    let indent = usize::try_from(column.saturating_sub(1)).ok()?;
    let mut start = None;
    for number in (0..=at).rev() {
        let source = lines[number];
        let content = source.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
            continue;
        }
        let own = source.len() - content.len();
        // A sequence item's first key sits after its dash and the spaces.
        let key_at = match content.strip_prefix("- ") {
            Some(item) => own + 2 + item.len() - item.trim_start().len(),
            None => own,
        };
        if key_at == indent {
            start = Some((number as u64 + 1, key_at as u64 + 1));
            if own < indent {
                break; // a sequence item's first key: the mapping starts here
            }
        } else if own < indent {
            break;
        }
    }
    start
}

/// Byte offset of `key:` written as a block mapping key on this line.
fn key_column(source: &str, key: &str) -> Option<usize> {
    let trimmed = source.trim_start().trim_start_matches("- ").trim_start();
    let at = source.len() - trimmed.len();
    trimmed.strip_prefix(key)?.starts_with(':').then_some(at)
}

/// Byte offset of `: value` on this line.
fn value_column(source: &str, value: &str) -> Option<usize> {
    let at = source.find(&format!(": {value}"))? + 2;
    let end = at + value.len();
    let after = source[end..].chars().next();
    matches!(after, None | Some(' ' | ',' | '}' | '#')).then_some(at)
}

/// Messages are lowercase by convention; library messages sometimes start
/// with a capital. A first word that is an identifier (`TerminalId`) keeps
/// its case.
pub(crate) fn lowercase_first(text: &str) -> String {
    let first_word = text.split(' ').next().unwrap_or("");
    if first_word.chars().skip(1).any(char::is_uppercase) {
        return text.to_owned();
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
