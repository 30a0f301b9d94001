//! The mutations: what a hostile or careless user does to a scenario file.
//! Each case is one to three of them, drawn from the case's own seeded
//! stream, so case N is the same text whatever ran before it.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::sites::{self, Entry, Shape};

/// The corpus's root seed: a failing case is reproduced by its number alone.
const CORPUS_SEED: u64 = 0x5ce9_a210_c0de_0021;

/// The largest mutant, in bytes: past the loader's own bound the file is
/// refused unread by the CLI (sim/tests/cli.rs tests that), so the corpus
/// stays under it and reaches the parser.
pub const MUTANT_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Mutations applied to one case, at most.
const MUTATIONS_PER_CASE_MAX: u64 = 3;

/// The case's random stream.
pub fn stream(case: u64) -> ChaCha8Rng {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&CORPUS_SEED.to_le_bytes());
    seed[8..16].copy_from_slice(&case.to_le_bytes());
    ChaCha8Rng::from_seed(seed)
}

/// A number below `bound` (bound > 0).
pub fn below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    (rng.next_u64() % bound as u64) as usize
}

/// One of `from`, or `None` when it is empty (a mutant with no such site).
fn pick<'a, T>(rng: &mut ChaCha8Rng, from: &'a [T]) -> Option<&'a T> {
    (!from.is_empty()).then(|| &from[below(rng, from.len())])
}

/// One of a constant, non-empty list.
fn choose<T: Copy>(rng: &mut ChaCha8Rng, from: &[T]) -> T {
    from[below(rng, from.len())]
}

/// What each mutation was, in a word, for the case's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    HostileScalar,
    NumberNudged,
    DeleteKey,
    DuplicateKey,
    UnknownKey,
    DuplicateItems,
    EmptyCollection,
    DeepNesting,
    AliasBomb,
    ByteEdit,
    Document,
}

/// Scalars a hostile or careless user writes where a value is expected:
/// the integer edges, floats past any bound, the YAML specials, wrong types.
const HOSTILE_SCALARS: &[&str] = &[
    "0",
    "-1",
    "1",
    "-0",
    "2",
    "255",
    "65536",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e15",
    "1e308",
    "-1e308",
    "1e309",
    "4.9e-324",
    "0.5",
    "-0.5",
    "1.0000000001",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "''",
    "\"\"",
    "~",
    "null",
    "true",
    "false",
    "no",
    "[]",
    "{}",
    "[1, 2, 3]",
    "{a: 1}",
    "[[]]",
    "0x7fffffffffffffff",
    "0o777",
    "1_000",
    "+1",
    "'😀'",
    "\"\\0\\x1b[31m\\u0085\\u202e\"",
    "\"line\\nbreak\"",
    "'T\u{e9}rminal'",
    "2024-01-01",
    "12:30",
    "'  '",
    "!!binary aGVsbG8=",
    "!custom 1",
    "*nowhere",
    "&anchor 1",
    "|\n  folded",
    "-",
    "?",
    ":",
    "'",
    "\"",
];

/// Keys a user adds that the schema does not know, or that YAML reads in
/// its own way (`<<` merges).
const HOSTILE_KEYS: &[&str] =
    &["unknown_key", "Name", "seed ", "\"\"", "'😀'", "<<", "? complex", "1", "\"a\\0b\""];

/// One hostile scalar, the long ones made here.
fn hostile_scalar(rng: &mut ChaCha8Rng) -> String {
    match below(rng, 12) {
        0 => format!("'{}'", "a".repeat(100 * 1024)),
        1 => "9".repeat(1 + below(rng, 5_000)),
        2 => format!("\"{}\"", "\\u0000".repeat(1 + below(rng, 200))),
        _ => choose(rng, HOSTILE_SCALARS).to_owned(),
    }
}

/// A number a careless user might write instead of `number`: off by one,
/// by a factor, zero, or a size that is large but may be within bounds;
/// these mostly compile, and so test the run rather than the loader.
fn nudged(rng: &mut ChaCha8Rng, number: &str) -> String {
    let Ok(value) = number.parse::<i64>() else {
        return choose(rng, &["0", "0.0", "1", "0.999", "1e-9", "100"]).to_owned();
    };
    match below(rng, 10) {
        0 => "0".to_owned(),
        1 => "1".to_owned(),
        2 => value.saturating_add(1).to_string(),
        3 => value.saturating_sub(1).to_string(),
        4 => value.saturating_mul(2).to_string(),
        5 => value.saturating_mul(10).to_string(),
        6 => value.saturating_mul(1000).to_string(),
        7 => (value / 2).to_string(),
        8 => value.saturating_neg().to_string(),
        _ => choose(rng, &["1000", "100000", "1000000", "1000000000"]).to_owned(),
    }
}

/// The text with `range` replaced.
fn splice(text: &str, range: std::ops::Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

/// An entry's value replaced by `value` (a scalar or a flow collection).
fn replace_value(text: &str, entry: &Entry, value: &str) -> String {
    match entry.shape {
        // The block below the key goes; the value sits on the key's line.
        Shape::Block => splice(text, entry.value.clone(), &format!(" {value}\n")),
        _ => splice(text, entry.value.clone(), value),
    }
}

/// The column's worth of spaces.
fn indent(column: usize) -> String {
    " ".repeat(column)
}

/// `key: value` again beside the entry (a duplicate when `key` is its own).
fn add_beside(text: &str, entry: &Entry, key: &str) -> String {
    let value = &text[entry.value.clone()];
    if entry.in_flow {
        let at = entry.value.end;
        return splice(text, at..at, &format!(", {key}: {value}"));
    }
    match entry.shape {
        Shape::Block => {
            let at = entry.value.end;
            let block = format!("{}{key}:{value}", indent(entry.column));
            splice(text, at..at, &block)
        }
        _ => {
            let at = entry.value.end;
            splice(text, at..at, &format!("\n{}{key}: {value}", indent(entry.column)))
        }
    }
}

fn delete_entry(text: &str, entry: &Entry) -> String {
    if entry.in_flow {
        // The entry and the comma after it, or else the one before it.
        let after = &text[entry.value.end..];
        let comma_after = after.find(|c: char| c != ' ').filter(|&i| after[i..].starts_with(','));
        if let Some(offset) = comma_after {
            let end = entry.value.end + offset + 1;
            let end = end + text[end..].len() - text[end..].trim_start_matches(' ').len();
            return splice(text, entry.key.start..end, "");
        }
        let before = text[..entry.key.start].trim_end_matches(' ');
        let start = if before.ends_with(',') { before.len() - 1 } else { entry.key.start };
        return splice(text, start..entry.value.end, "");
    }
    let line_start = text[..entry.key.start].rfind('\n').map_or(0, |i| i + 1);
    let end = match entry.shape {
        Shape::Block => entry.value.end,
        _ => text[entry.value.end..].find('\n').map_or(text.len(), |i| entry.value.end + i + 1),
    };
    if entry.after_dash {
        // The item's first key: the dash stays, the item keeps its others.
        splice(text, entry.key.start..end, "\n")
    } else {
        splice(text, line_start..end, "")
    }
}

/// A flow sequence's items repeated, or a block item copied below itself.
fn duplicate_items(rng: &mut ChaCha8Rng, text: &str, sites: &sites::Sites) -> Option<String> {
    let copies = choose(rng, &[1usize, 2, 9, 100, 1_000, 10_000, 100_000]);
    let flow: Vec<&Entry> = sites.entries.iter().filter(|e| e.shape == Shape::FlowSeq).collect();
    if below(rng, 2) == 0 && !flow.is_empty() {
        let entry = *pick(rng, &flow)?;
        let inner = &text[entry.value.start + 1..entry.value.end - 1];
        if inner.trim().is_empty() {
            return None;
        }
        let copies = copies.min(MUTANT_BYTES_MAX / (inner.len() + 2));
        let repeated = vec![inner; copies + 1].join(", ");
        return Some(splice(text, entry.value.clone(), &format!("[{repeated}]")));
    }
    let item = pick(rng, &sites.items)?;
    let block = &text[item.range.clone()];
    let copies = copies.min(MUTANT_BYTES_MAX / block.len().max(1));
    let at = item.range.end;
    Some(splice(text, at..at, &block.repeat(copies)))
}

/// `[[[ ... ]]]` or `{a: {a: ... }}`, `depth` deep.
fn nested(rng: &mut ChaCha8Rng) -> String {
    let depth = choose(rng, &[8usize, 63, 64, 65, 200, 1_000, 100_000]);
    if below(rng, 2) == 0 {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
    }
}

/// The "billion laughs": each anchor a list of the one before, `width`
/// times, `levels` deep; `width ^ levels` scalars once expanded.
fn alias_bomb(rng: &mut ChaCha8Rng) -> String {
    let levels = 2 + below(rng, 10);
    let width = 2 + below(rng, 9);
    let mut out = String::from("[&l0 [lol, lol]");
    for level in 1..levels {
        let aliases = vec![format!("*l{}", level - 1); width].join(", ");
        out.push_str(&format!(", &l{level} [{aliases}]"));
    }
    out.push(']');
    out
}

/// Bytes cut and a short run of arbitrary characters put in, as a slip of
/// the editor (or a file damaged in transit) would.
fn byte_edit(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut start = below(rng, text.len() + 1);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + below(rng, 40)).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    const ALPHABET: &[char] = &[
        ' ', '\n', '\t', ':', '-', '#', '{', '}', '[', ']', ',', '\'', '"', '&', '*', '!', '|',
        '>', '%', '@', '`', '?', '0', '9', 'a', 'Z', '\0', '\r', '\u{1b}', '\u{85}', '\u{feff}',
        'é', '😀',
    ];
    let insert: String = (0..below(rng, 13)).map(|_| choose(rng, ALPHABET)).collect();
    splice(text, start..end, &insert)
}

/// Whole-document edits: other line endings, a byte-order mark, a second
/// document, tabs for indentation, the file cut short.
fn document(rng: &mut ChaCha8Rng, text: &str) -> String {
    match below(rng, 7) {
        0 => text.replace('\n', "\r\n"),
        1 => format!("\u{feff}{text}"),
        2 => format!("{text}\n---\nname: second\n"),
        3 => format!("---\n{text}\n...\n"),
        4 => text.replace("  ", "\t"),
        5 => {
            let mut cut = below(rng, text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_owned()
        }
        _ => format!("%YAML 1.1\n%TAG ! tag:example.invalid,2024:\n---\n{text}"),
    }
}

/// One mutation of `text`, or `None` when it found no site to apply to.
fn mutate_once(rng: &mut ChaCha8Rng, text: &str) -> Option<(Kind, String)> {
    let sites = sites::scan(text);
    let entries = &sites.entries;
    let scalars: Vec<&Entry> = entries.iter().filter(|e| e.shape == Shape::Scalar).collect();
    let numbers: Vec<&Entry> =
        scalars.iter().copied().filter(|e| text[e.value.clone()].parse::<f64>().is_ok()).collect();
    let roll = below(rng, 100);
    let (kind, mutant) = match roll {
        0..=29 => {
            let entry = *pick(rng, &numbers)?;
            let number = nudged(rng, &text[entry.value.clone()]);
            (Kind::NumberNudged, replace_value(text, entry, &number))
        }
        30..=49 => {
            let entry = *pick(rng, &scalars)?;
            (Kind::HostileScalar, replace_value(text, entry, &hostile_scalar(rng)))
        }
        50..=56 => (Kind::DeleteKey, delete_entry(text, pick(rng, entries)?)),
        57..=60 => {
            let entry = pick(rng, entries)?;
            let key = text[entry.key.clone()].to_owned();
            (Kind::DuplicateKey, add_beside(text, entry, &key))
        }
        61..=64 => {
            let key = choose(rng, HOSTILE_KEYS);
            (Kind::UnknownKey, add_beside(text, pick(rng, entries)?, key))
        }
        65..=72 => (Kind::DuplicateItems, duplicate_items(rng, text, &sites)?),
        73..=76 => {
            let collections: Vec<&Entry> =
                entries.iter().filter(|e| e.shape != Shape::Scalar).collect();
            let empty = choose(rng, &["[]", "{}", "~", "''"]);
            (Kind::EmptyCollection, replace_value(text, *pick(rng, &collections)?, empty))
        }
        77..=79 => (Kind::DeepNesting, replace_value(text, pick(rng, entries)?, &nested(rng))),
        80..=82 => (Kind::AliasBomb, replace_value(text, pick(rng, entries)?, &alias_bomb(rng))),
        83..=95 => (Kind::ByteEdit, byte_edit(rng, text)),
        _ => (Kind::Document, document(rng, text)),
    };
    (mutant.len() <= MUTANT_BYTES_MAX).then_some((kind, mutant))
}

/// Case `case`'s mutant of `base`, and what was done to it.
pub fn mutant(case: u64, base: &str) -> (Vec<Kind>, String) {
    let mut rng = stream(case);
    let wanted = match below(&mut rng, 10) {
        0..=6 => 1,
        7..=8 => 2,
        _ => MUTATIONS_PER_CASE_MAX,
    };
    let mut text = base.to_owned();
    let mut kinds = Vec::new();
    // A draw that finds no site is drawn again, a bounded number of times.
    for _ in 0..wanted * 8 {
        if kinds.len() as u64 == wanted {
            break;
        }
        if let Some((kind, next)) = mutate_once(&mut rng, &text) {
            kinds.push(kind);
            text = next;
        }
    }
    (kinds, text)
}
