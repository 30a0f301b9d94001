//! Shards of one sweep, read back and joined: what `possim merge` checks
//! before it writes the report one machine would have written for the whole
//! range. Each file is `possim sweep ... --shard K/N --json` output (several
//! may be concatenated in one file); each starts with its sweep line.
//!
//! The shards must be of one sweep (the same scenario name, path and file
//! hash, range, shard count, swarm and coverage settings), each seed must be
//! in the shard its line says, no seed may come twice, and together they
//! must hold every seed of the range. Every refusal names the file and line
//! (or, for a missing seed, the shard that should have held it).
//!
//! ```
//! use possim_sim::shards::{join, read_sections};
//! let shard = |k: u64, seed: u64| format!(
//!     "{{\"sweep\":{{\"scenario\":\"q\",\"path\":\"q.yaml\",\"scenario_hash\":\"01\",\"seeds\":\"0..2\",\"shard\":\"{k}/2\",\"swarm\":false,\"coverage\":false}}}}\n\
//!      {{\"seed\":{seed},\"passed\":true}}\n");
//! let one = read_sections("one.jsonl", shard(1, 0).as_bytes()).unwrap();
//! let two = read_sections("two.jsonl", shard(2, 1).as_bytes()).unwrap();
//! let joined = join(one.into_iter().chain(two).collect()).unwrap();
//! assert_eq!(joined.seeds.len(), 2);
//! let alone = read_sections("one.jsonl", shard(1, 0).as_bytes()).unwrap();
//! assert_eq!(join(alone).unwrap_err().to_string(),
//!     "seed 1 of 0..2 is in no file (1 seed missing): shard 2/2 holds it");
//! ```

use std::collections::BTreeMap;
use std::io::BufRead;

use crate::coverage::merge::LINES_MAX;
use crate::coverage::Coverage;
use crate::sweep_json::{classify, Line, LineError, SeedLine, SweepLine, LINE_BYTES_MAX};

/// The most seeds a merged range may hold: as many as one sweep runs
/// (`SWEEP_SEEDS_MAX`), since the report keeps every seed's case.
pub const MERGE_SEEDS_MAX: u64 = 1_000_000;

/// Where a refusal points: `file:line`, or only the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", place.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct ShardError {
    pub place: Option<String>,
    pub kind: ShardErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardErrorKind {
    #[error("cannot read: {0}")]
    Read(String),
    #[error("longer than the bound LINE_BYTES_MAX = {LINE_BYTES_MAX} bytes")]
    LineTooLong,
    #[error("more than the bound LINES_MAX = {LINES_MAX} lines")]
    TooManyLines,
    #[error("not UTF-8")]
    NotUtf8,
    #[error("not a sweep line: {0}")]
    NotSweep(String),
    #[error("a seed line before any sweep line (written by an older possim, or not a sweep's output: run the shard again with possim sweep --json)")]
    NoSweepLine,
    #[error("seed {seed} says passed = {passed} with failed = {failed:?}")]
    Inconsistent { seed: u64, passed: bool, failed: Vec<String> },
    #[error("seeds {0:?}: expected A..B with A < B")]
    BadRange(String),
    #[error("shard {0:?}: expected K/N with 1 <= K <= N")]
    BadShard(String),
    #[error("{range} holds {count} seeds, over the bound MERGE_SEEDS_MAX = {MERGE_SEEDS_MAX}")]
    RangeTooLarge { range: String, count: u64 },
    #[error("shards of different sweeps: {what} {this} here, {first} at {first_place}")]
    Mismatch { what: &'static str, this: String, first: String, first_place: String },
    #[error("shard {shard} again (first at {first_place})")]
    ShardTwice { shard: String, first_place: String },
    #[error("seed {seed} is not in shard {shard} of {range}")]
    NotInShard { seed: u64, shard: String, range: String },
    #[error("seed {seed} again (first at {first_place})")]
    SeedTwice { seed: u64, first_place: String },
    #[error("a second coverage line in one sweep")]
    CoverageTwice,
    #[error("a coverage line, but the sweep line says it ran without --coverage")]
    CoverageUnasked,
    #[error("no coverage line, though the sweep line says it ran with --coverage (the output was cut short?)")]
    CoverageMissing,
    #[error("no sweep line in any file (write them with possim sweep --json)")]
    Empty,
    #[error("seed {seed} of {range} is in no file ({count} seed{s} missing): shard {shard} holds it", s = if *count == 1 { "" } else { "s" })]
    Missing { seed: u64, range: String, count: u64, shard: String },
}

/// One sweep's output: its sweep line, its seeds, its coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `file:line` of its sweep line.
    pub place: String,
    pub file: String,
    pub sweep: SweepLine,
    pub range: (u64, u64),
    pub shard: (u64, u64),
    /// Each seed line with its line number.
    pub seeds: Vec<(usize, SeedLine)>,
    pub coverage: Option<Coverage>,
}

/// The shards joined: one sweep of the whole range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The sweep line of the whole range (no shard).
    pub sweep: SweepLine,
    pub range: (u64, u64),
    /// Every seed of the range, in order.
    pub seeds: BTreeMap<u64, SeedLine>,
    /// The coverage of every shard merged, when they ran with it.
    pub coverage: Option<Coverage>,
    /// How many shards (sweep lines) were joined.
    pub shards: usize,
}

fn at(file: &str, line: usize, kind: ShardErrorKind) -> ShardError {
    ShardError { place: Some(format!("{file}:{line}")), kind }
}

/// The sections of one file, each checked on its own: lines bounded in
/// length and count, each a sweep line, a seed line or a coverage line,
/// seeds inside their shard, the coverage line where the sweep line says.
pub fn read_sections<R: BufRead>(file: &str, mut reader: R) -> Result<Vec<Section>, ShardError> {
    let mut sections: Vec<Section> = Vec::new();
    let mut buffer = Vec::new();
    for index in 0..=LINES_MAX {
        buffer.clear();
        let read = std::io::Read::take(&mut reader, LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|error| ShardError {
                place: Some(file.to_string()),
                kind: ShardErrorKind::Read(error.to_string().to_lowercase()),
            })?;
        if read == 0 {
            break;
        }
        let number = index + 1;
        if index == LINES_MAX {
            return Err(at(file, number, ShardErrorKind::TooManyLines));
        }
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
            if buffer.last() == Some(&b'\r') {
                buffer.pop();
            }
        } else if read > LINE_BYTES_MAX {
            return Err(at(file, number, ShardErrorKind::LineTooLong));
        }
        let text =
            std::str::from_utf8(&buffer).map_err(|_| at(file, number, ShardErrorKind::NotUtf8))?;
        let line = classify(number, text).map_err(|error| match error {
            LineError::TooLong { .. } => at(file, number, ShardErrorKind::LineTooLong),
            LineError::NotSweep { message, .. } => {
                at(file, number, ShardErrorKind::NotSweep(message))
            }
        })?;
        match line {
            Line::Blank => {}
            Line::Sweep(sweep) => {
                if let Some(last) = sections.last() {
                    check_coverage(last)?;
                }
                sections.push(section(file, number, sweep)?);
            }
            Line::Seed(seed) => {
                let Some(section) = sections.last_mut() else {
                    return Err(at(file, number, ShardErrorKind::NoSweepLine));
                };
                seed_in_section(file, number, &seed, section)?;
                section.seeds.push((number, seed));
            }
            Line::Coverage(coverage) => {
                let Some(section) = sections.last_mut() else {
                    return Err(at(file, number, ShardErrorKind::NoSweepLine));
                };
                if !section.sweep.coverage {
                    return Err(at(file, number, ShardErrorKind::CoverageUnasked));
                }
                if section.coverage.is_some() {
                    return Err(at(file, number, ShardErrorKind::CoverageTwice));
                }
                section.coverage = Some(*coverage);
            }
        }
    }
    if let Some(last) = sections.last() {
        check_coverage(last)?;
    }
    Ok(sections)
}

fn section(file: &str, number: usize, sweep: SweepLine) -> Result<Section, ShardError> {
    let range = sweep
        .range()
        .ok_or_else(|| at(file, number, ShardErrorKind::BadRange(sweep.seeds.clone())))?;
    let shard = sweep.shard_of().ok_or_else(|| {
        at(file, number, ShardErrorKind::BadShard(sweep.shard.clone().unwrap_or_default()))
    })?;
    let count = range.1 - range.0;
    if count > MERGE_SEEDS_MAX {
        return Err(at(
            file,
            number,
            ShardErrorKind::RangeTooLarge { range: sweep.seeds.clone(), count },
        ));
    }
    Ok(Section {
        place: format!("{file}:{number}"),
        file: file.to_string(),
        sweep,
        range,
        shard,
        seeds: Vec::new(),
        coverage: None,
    })
}

fn seed_in_section(
    file: &str,
    number: usize,
    seed: &SeedLine,
    section: &Section,
) -> Result<(), ShardError> {
    if seed.passed != seed.failed.is_empty() {
        return Err(at(
            file,
            number,
            ShardErrorKind::Inconsistent {
                seed: seed.seed,
                passed: seed.passed,
                failed: seed.failed.clone(),
            },
        ));
    }
    let (start, end) = section.range;
    let (k, n) = section.shard;
    if seed.seed < start || seed.seed >= end || (seed.seed - start) % n != k - 1 {
        return Err(at(
            file,
            number,
            ShardErrorKind::NotInShard {
                seed: seed.seed,
                shard: format!("{k}/{n}"),
                range: section.sweep.seeds.clone(),
            },
        ));
    }
    Ok(())
}

fn check_coverage(section: &Section) -> Result<(), ShardError> {
    if section.sweep.coverage && section.coverage.is_none() {
        return Err(ShardError {
            place: Some(section.place.clone()),
            kind: ShardErrorKind::CoverageMissing,
        });
    }
    Ok(())
}

/// Joins the sections of every file into one sweep of the whole range, or
/// says why they are not one: of different sweeps, a shard or a seed twice,
/// a seed missing.
pub fn join(sections: Vec<Section>) -> Result<Joined, ShardError> {
    let Some(first) = sections.first().cloned() else {
        return Err(ShardError { place: None, kind: ShardErrorKind::Empty });
    };
    let mut shards: BTreeMap<u64, String> = BTreeMap::new();
    let mut places: BTreeMap<u64, String> = BTreeMap::new();
    let mut seeds: BTreeMap<u64, SeedLine> = BTreeMap::new();
    let mut coverage: Option<Coverage> = None;
    let count = sections.len();
    for section in sections {
        same_sweep(&first, &section)?;
        let (k, n) = section.shard;
        if let Some(first_place) = shards.insert(k, section.place.clone()) {
            return Err(ShardError {
                place: Some(section.place),
                kind: ShardErrorKind::ShardTwice { shard: format!("{k}/{n}"), first_place },
            });
        }
        for (number, seed) in section.seeds {
            let place = format!("{}:{number}", section.file);
            if let Some(first_place) = places.get(&seed.seed) {
                return Err(ShardError {
                    place: Some(place),
                    kind: ShardErrorKind::SeedTwice {
                        seed: seed.seed,
                        first_place: first_place.clone(),
                    },
                });
            }
            places.insert(seed.seed, place);
            seeds.insert(seed.seed, seed);
        }
        if let Some(part) = &section.coverage {
            coverage.get_or_insert_with(Coverage::default).merge(part);
        }
    }
    let (start, end) = first.range;
    let missing = (end - start) - seeds.len() as u64;
    if missing > 0 {
        // The first gap: seeds are in order and all inside the range.
        let seed = seeds
            .keys()
            .zip(start..)
            .find(|(have, want)| **have != *want)
            .map_or(start + seeds.len() as u64, |(_, want)| want);
        let n = first.shard.1;
        return Err(ShardError {
            place: None,
            kind: ShardErrorKind::Missing {
                seed,
                range: first.sweep.seeds.clone(),
                count: missing,
                shard: format!("{}/{n}", (seed - start) % n + 1),
            },
        });
    }
    let sweep = SweepLine { shard: None, ..first.sweep };
    Ok(Joined { sweep, range: first.range, seeds, coverage, shards: count })
}

fn same_sweep(first: &Section, other: &Section) -> Result<(), ShardError> {
    let (a, b) = (&first.sweep, &other.sweep);
    let checks: [(&'static str, String, String); 7] = [
        ("scenario", a.scenario.clone(), b.scenario.clone()),
        ("scenario path", a.path.clone(), b.path.clone()),
        ("scenario hash", a.scenario_hash.clone(), b.scenario_hash.clone()),
        ("seeds", a.seeds.clone(), b.seeds.clone()),
        ("shard count", first.shard.1.to_string(), other.shard.1.to_string()),
        ("swarm", a.swarm.to_string(), b.swarm.to_string()),
        ("coverage", a.coverage.to_string(), b.coverage.to_string()),
    ];
    for (what, first_value, this) in checks {
        if first_value != this {
            return Err(ShardError {
                place: Some(other.place.clone()),
                kind: ShardErrorKind::Mismatch {
                    what,
                    this,
                    first: first_value,
                    first_place: first.place.clone(),
                },
            });
        }
    }
    Ok(())
}
