//! The typed event log of a run: setup, phases, every frame with its fate,
//! every fault with its cause, every actor event, and the oracle's verdicts.
//! Written as JSON Lines on request; its hash identifies the run.
//!
//! The hash is FNV-1a (64 bit) over the JSON lines, so it is the same on
//! every machine and Rust version: serde_json's output for these types is
//! fixed by their field order, and no map in them iterates by hash.
//!
//! A trace either keeps every record ([`Trace::new`]), for the commands that
//! read the run afterwards (reports, replay, shrink, certify), or streams
//! them ([`Trace::streamed`]): each record is hashed, handed to a
//! [`RecordSink`] (the oracle's log, the summary, the coverage count) and
//! dropped, unless the trace's keep rule says the world still reads it.
//!
//! ```
//! use possim_sim::trace::{Phase, Trace, TraceEvent};
//! use possim_models::time::Instant;
//! let mut a = Trace::new();
//! a.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::Safety });
//! let mut b = Trace::new();
//! b.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::Safety });
//! assert_eq!(a.hash(), b.hash());
//! ```

use std::io::Write;

use possim_models::actor::Node;
use possim_models::harness;
use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::values::{MerchantId, Pan, TerminalId};
use possim_models::issuer::IssuerEvent;
use possim_models::network::NetworkEvent;
use possim_models::switch::SwitchEvent;
use possim_models::terminal::TerminalEvent;
use possim_models::time::Instant;
use serde::Serialize;

use crate::frame_facts::FrameFacts;

pub mod log;

/// Which way a frame goes on a terminal's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineDirection {
    /// From the terminal.
    Up,
    /// To the terminal.
    Down,
}

/// The schema version of `trace.jsonl`; bump it when a record changes shape.
/// Version 2: frame records carry `terminal`, `amount_fen`, `code` and
/// `fields`, and `bytes` is the frame's length even when it was dropped; the
/// file opens with a header line.
pub const TRACE_SCHEMA_VERSION: u32 = 2;

/// The `schema` of the header line that opens every `trace.jsonl`.
pub const TRACE_SCHEMA_NAME: &str = "possim-trace";

/// The most records one run may log; a run that needs more is a runaway.
/// Past it a trace records nothing more and says so ([`Trace::is_full`]);
/// the world then ends the run with an error naming the bound.
pub const TRACE_RECORDS_MAX: usize = 20_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Faults active.
    Safety,
    /// Faults stopped; the system must converge within the healing bound.
    Healing,
    End,
}

/// What happened to one frame on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "fate")]
pub enum Fate {
    Delivered,
    /// Dropped on purpose (a placed fault, or a line going silent).
    Dropped,
    Delayed {
        by_ms: u64,
    },
    Duplicated,
    Corrupted,
    /// The receiver was down (powered off, crashed) or the connection gone.
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameRecord {
    pub from: Node,
    pub to: Node,
    /// The MTI and STAN when the frame decodes.
    pub mti: Option<String>,
    pub stan: Option<u32>,
    /// Field 41: the terminal the frame is from or for, on every hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<TerminalId>,
    /// Field 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_fen: Option<u64>,
    /// Field 39, on answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ResponseCode>,
    /// The frame's length on the wire (as sent, before any fault).
    pub bytes: usize,
    /// The other fields, masked (see [`crate::frame_facts::listing`]).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fields: String,
    #[serde(flatten)]
    pub fate: Fate,
}

impl FrameRecord {
    pub fn new(from: Node, to: Node, facts: FrameFacts, fate: Fate) -> FrameRecord {
        FrameRecord {
            from,
            to,
            mti: facts.mti,
            stan: facts.stan,
            terminal: facts.terminal,
            amount_fen: facts.amount_fen,
            code: facts.code,
            bytes: facts.bytes,
            fields: facts.fields,
            fate,
        }
    }
}

/// Every fault possim injects, by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    // A terminal's line (the deterministic shim).
    LineDelay,
    LineBlackholeStart,
    LineBlackholeEnd,
    LineReset,
    LineDropFrame,
    LineDuplicate,
    LineCorrupt,
    // Between network elements (turmoil).
    Partition,
    Repair,
    Hold,
    Release,
    LinkLatency,
    // Hosts.
    HostCrash,
    HostRestart,
    IssuerDown,
    IssuerUp,
    CutoffStart,
    CutoffEnd,
    /// The switch's count of a batch made to disagree with the terminal's
    /// (a placed `settlement_unbalanced`).
    HostTotalsDisagree,
    /// The switch made to answer one request with a code of its own (a
    /// placed `upload_not_reconciled`, 79, or `reconciliation_error`, 95).
    HostAnswerCode,
    // Devices.
    PowerCut,
    PowerOn,
    BatteryDrain,
    PrinterFault,
    PrinterFixed,
    TamperLock,
    TamperUnlock,
    /// A terminal swapped for a new device: its whole store lost.
    TerminalReplaced,
}

/// Why a fault happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "cause", content = "detail")]
pub enum FaultCause {
    /// The scenario's schedule, at a fixed time.
    Scheduled,
    /// A line profile's random episodes (the profile's name).
    Profile(String),
    /// A protocol-aware placement ("drop the answer to trade 3").
    Protocol(String),
    /// Drawn by swarm mode within the scenario's bounds.
    Swarm,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRecord {
    pub kind: FaultKind,
    /// What it hit: a terminal id, a host name, a link "switch-network".
    pub target: String,
    #[serde(flatten)]
    pub cause: FaultCause,
    /// For a fault on one frame of a terminal's line: which frame. Kept in
    /// memory only (not in the JSON lines, so traces and their hashes stay
    /// as they were): what `possim shrink` turns a random frame fault into a
    /// placed one with.
    #[serde(skip)]
    pub frame: Option<FrameSlot>,
}

/// One frame on one terminal's line: the `index`-th (from 1) in `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSlot {
    pub direction: LineDirection,
    pub index: u32,
    /// A corruption's byte (past the length prefix) and bit.
    pub flipped: Option<(u32, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardSetup {
    pub pan: Pan,
    pub issuer: u16,
    pub balance_fen: i64,
    pub offline_balance_fen: i64,
    /// The card's issuer's `ecash_load_max_fen`: the most its chip holds.
    /// Not written to the trace (the hashes of traces that do not use it
    /// stay put); the ecash-balances invariant reads it.
    #[serde(skip)]
    pub ecash_load_max_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalSetup {
    pub id: TerminalId,
    pub merchant: MerchantId,
}

/// The first record of every trace: what the run started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setup {
    pub schema_version: u32,
    pub scenario: String,
    pub seed: u64,
    pub cards: Vec<CardSetup>,
    pub terminals: Vec<TerminalSetup>,
}

/// One invariant's finding, logged at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictRecord {
    pub invariant: String,
    pub passed: bool,
    pub violations: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum TraceEvent {
    Setup(Setup),
    Phase {
        phase: Phase,
    },
    /// Boxed: the largest record, and most records are not frames, so the
    /// log's other records do not pay for its size.
    Frame(Box<FrameRecord>),
    Fault(FaultRecord),
    Terminal(TerminalEvent),
    Switch(SwitchEvent),
    Network(NetworkEvent),
    Issuer {
        issuer: u16,
        event: IssuerEvent,
    },
    Verdict(VerdictRecord),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    pub seq: u64,
    /// Simulated business time, ms since midnight of the first day (actor
    /// events repeat it as their own `at`).
    #[serde(rename = "time")]
    pub at: Instant,
    #[serde(flatten)]
    pub event: TraceEvent,
}

/// What consumes a streamed trace's records as they are pushed.
pub trait RecordSink: std::any::Any + Send + std::fmt::Debug {
    fn observe(&mut self, record: &TraceRecord);

    /// A record the trace does not keep, given whole: a sink that stores
    /// records takes it without a copy.
    fn observe_owned(&mut self, record: TraceRecord) {
        self.observe(&record);
    }

    /// The sink back as its own type (see [`Trace::take_sink`]).
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// Which records a streamed trace keeps in memory: those the world reads
/// back while it runs.
pub type KeepRule = fn(&TraceEvent) -> bool;

/// The log, and the running hash of its JSON lines.
#[derive(Debug)]
pub struct Trace {
    /// Every record, or in a streamed trace those its keep rule keeps.
    records: Vec<TraceRecord>,
    /// Records pushed, kept or not: the next record's seq.
    pushed: u64,
    /// The instant of the last record pushed.
    last_at: Option<Instant>,
    /// The setup record's scenario and seed, for the file's header.
    run: Option<(String, u64)>,
    hash: u64,
    line: Vec<u8>,
    /// Whether a record was refused because the trace was full.
    full: bool,
    records_max: usize,
    /// `None` keeps every record.
    stream: Option<Stream>,
}

#[derive(Debug)]
struct Stream {
    sink: Option<Box<dyn RecordSink>>,
    keep: KeepRule,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-1a (64 bit) of `bytes` as 16 hex digits, the trace hash's function:
/// a sweep names its scenario file by it (`possim merge` compares them).
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(FNV_OFFSET, bytes))
}

impl Default for Trace {
    fn default() -> Trace {
        Trace::new()
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace::bounded(TRACE_RECORDS_MAX)
    }

    /// A trace that holds at most `records_max` records.
    pub fn bounded(records_max: usize) -> Trace {
        assert!(records_max <= TRACE_RECORDS_MAX, "a trace bound over {TRACE_RECORDS_MAX}");
        Trace {
            records: Vec::new(),
            pushed: 0,
            last_at: None,
            run: None,
            hash: FNV_OFFSET,
            line: Vec::with_capacity(512),
            full: false,
            records_max,
            stream: None,
        }
    }

    /// A trace that hands each record to `sink` and keeps only those `keep`
    /// names: memory then follows what the sink holds, not the run's length.
    /// Its hash, length and header are those of the same records kept.
    ///
    /// ```
    /// use possim_sim::trace::{Phase, RecordSink, Trace, TraceEvent, TraceRecord};
    /// use possim_models::time::Instant;
    /// #[derive(Debug, Default)]
    /// struct Count(usize);
    /// impl RecordSink for Count {
    ///     fn observe(&mut self, _: &TraceRecord) { self.0 += 1 }
    ///     fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> { self }
    /// }
    /// let mut streamed = Trace::streamed(Box::new(Count::default()), |_| false);
    /// let mut kept = Trace::new();
    /// for trace in [&mut streamed, &mut kept] {
    ///     trace.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
    /// }
    /// assert_eq!(streamed.hash(), kept.hash());
    /// assert_eq!(streamed.len(), 1);
    /// assert!(streamed.records().is_empty());
    /// let count = streamed.take_sink().unwrap().into_any().downcast::<Count>().unwrap();
    /// assert_eq!(count.0, 1);
    /// ```
    pub fn streamed(sink: Box<dyn RecordSink>, keep: KeepRule) -> Trace {
        Trace { stream: Some(Stream { sink: Some(sink), keep }), ..Trace::new() }
    }

    /// Whether the trace keeps every record it was given.
    pub fn keeps_every_record(&self) -> bool {
        self.stream.is_none()
    }

    /// The sink of a streamed trace, taken out: what it observed so far.
    /// Records pushed afterwards are hashed and not observed.
    pub fn take_sink(&mut self) -> Option<Box<dyn RecordSink>> {
        self.stream.as_mut()?.sink.take()
    }

    /// Whether a record was refused because the trace held
    /// its bound ([`TRACE_RECORDS_MAX`]): its hash and verdicts then judge a
    /// cut run.
    pub fn is_full(&self) -> bool {
        self.full
    }

    pub fn push(&mut self, at: Instant, event: TraceEvent) {
        if self.len() >= self.records_max {
            self.full = true;
            return;
        }
        if let (0, TraceEvent::Setup(setup)) = (self.pushed, &event) {
            self.run = Some((setup.scenario.clone(), setup.seed));
        }
        let record = TraceRecord { seq: self.pushed, at, event };
        self.pushed += 1;
        self.last_at = Some(at);
        self.line.clear();
        serde_json::to_writer(&mut self.line, &record).expect("trace records serialise");
        self.line.push(b'\n');
        self.hash = fnv1a(self.hash, &self.line);
        // A log line for the record, if logs are on (free when they are not).
        log::record(&record);
        match &mut self.stream {
            None => self.records.push(record),
            Some(stream) => match (&mut stream.sink, (stream.keep)(&record.event)) {
                (Some(sink), true) => {
                    sink.observe(&record);
                    self.records.push(record);
                }
                (Some(sink), false) => sink.observe_owned(record),
                (None, true) => self.records.push(record),
                (None, false) => {}
            },
        }
    }

    /// Every record, or in a streamed trace the ones its keep rule kept.
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }

    /// Records pushed (a streamed trace counts those it did not keep).
    pub fn len(&self) -> usize {
        usize::try_from(self.pushed).expect("a trace's length fits in memory's")
    }

    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// The instant of the last record pushed.
    pub fn last_at(&self) -> Option<Instant> {
        self.last_at
    }

    /// The hash of every line so far, as 16 hex digits.
    pub fn hash(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// The header line of `trace.jsonl`: what the file is, its schema
    /// version, the run it is of, how many records follow and their hash
    /// (the hash covers the record lines, not this one).
    pub fn header(&self) -> serde_json::Value {
        let (scenario, seed) = match &self.run {
            Some((scenario, seed)) => (Some(scenario.clone()), Some(*seed)),
            None => (None, None),
        };
        serde_json::json!({
            "schema": TRACE_SCHEMA_NAME,
            "version": TRACE_SCHEMA_VERSION,
            "scenario": scenario,
            "seed": seed,
            "records": self.len(),
            "hash": self.hash(),
        })
    }

    /// Writes the log as JSON Lines: the [`header`](Trace::header) line,
    /// then one line per record. A streamed trace kept too few to write.
    pub fn write_jsonl(&self, out: &mut impl Write) -> std::io::Result<()> {
        assert!(self.keeps_every_record(), "a streamed trace has no records to write");
        serde_json::to_writer(&mut *out, &self.header())?;
        out.write_all(b"\n")?;
        for record in &self.records {
            serde_json::to_writer(&mut *out, record)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// A trace from an in-memory harness run, so the oracle can judge
    /// stories and property tests as it judges simulated runs.
    pub fn from_harness(setup: Setup, records: &[harness::Record]) -> Trace {
        let mut trace = Trace::new();
        trace.push(Instant::ZERO, TraceEvent::Setup(setup));
        for record in records {
            let (at, event) = match record {
                harness::Record::Frame { at, from, to, mti, stan, fate, bytes } => {
                    let fate = match fate {
                        harness::Fate::Delivered => Fate::Delivered,
                        harness::Fate::Dropped => Fate::Dropped,
                        harness::Fate::Delayed => Fate::Delayed { by_ms: 0 },
                        harness::Fate::Duplicated => Fate::Duplicated,
                        harness::Fate::Corrupted => Fate::Corrupted,
                        harness::Fate::Lost => Fate::Lost,
                    };
                    let mut facts = FrameFacts::of(bytes);
                    // What the harness peeked, if the bytes do not decode.
                    facts.mti = facts.mti.or_else(|| mti.map(|m| m.to_string()));
                    facts.stan = facts.stan.or(*stan);
                    let frame = FrameRecord::new(*from, *to, facts, fate);
                    (*at, TraceEvent::Frame(Box::new(frame)))
                }
                harness::Record::Terminal(event) => (event.at, TraceEvent::Terminal(event.clone())),
                harness::Record::Switch(event) => (event.at, TraceEvent::Switch(event.clone())),
                harness::Record::Network(event) => (event.at, TraceEvent::Network(event.clone())),
                harness::Record::Issuer(issuer, event) => {
                    (event.at, TraceEvent::Issuer { issuer: *issuer, event: event.clone() })
                }
            };
            trace.push(at, event);
        }
        trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_trace_refuses_records_and_says_so_instead_of_panicking() {
        let mut trace = Trace::bounded(2);
        let at = Instant::from_millis(0);
        trace.push(at, TraceEvent::Phase { phase: Phase::Safety });
        trace.push(at, TraceEvent::Phase { phase: Phase::Healing });
        assert!(!trace.is_full());
        let hash = trace.hash();
        trace.push(at, TraceEvent::Phase { phase: Phase::End });
        assert!(trace.is_full());
        assert_eq!(trace.len(), 2);
        assert_eq!(trace.hash(), hash, "a refused record is not hashed");
    }
}
