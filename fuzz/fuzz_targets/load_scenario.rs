//! Fuzz target: any bytes, as text (invalid UTF-8 replaced, as a lossy
//! editor would), through `parse_and_compile`, the scenario loader.
//!
//! Asserted, the contract `possim run` keeps with its user (the same one
//! sim/tests/hostile_corpus checks on structured mutations):
//! - nothing panics, and the loader's budgets (depth, aliases, nodes) keep
//!   it from exhausting the stack or the memory;
//! - a scenario that does not compile is refused at a line inside the text
//!   and a column, with a one-line message of bounded length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possim_sim::scenario::error::{MESSAGE_CHARS_MAX, SNIPPET_CHARS_MAX};
use possim_sim::scenario::parse_and_compile;

const FILE: &str = "fuzz.yaml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Err(error) = parse_and_compile(&text, FILE) else {
        return;
    };
    // Lines as YAML counts them: `\r\n`, `\n` or a lone `\r` ends one.
    let breaks =
        text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    let lines = breaks as u64 + 1;
    let headline = error.headline();
    assert_eq!(error.file, FILE, "{headline}");
    assert!(error.line >= 1 && error.line <= lines, "line of {lines}: {headline}");
    assert!(error.column >= 1, "{headline}");
    assert!(!error.message.is_empty(), "{headline}");
    assert!(!error.message.contains(['\n', '\r']), "{headline}");
    assert!(error.message.chars().count() <= MESSAGE_CHARS_MAX + 3, "{headline}");
    if let Some(snippet) = &error.snippet {
        assert!(snippet.lines().count() <= 2, "{snippet}");
        assert!(snippet.lines().all(|line| line.chars().count() <= SNIPPET_CHARS_MAX + 40));
    }
});
