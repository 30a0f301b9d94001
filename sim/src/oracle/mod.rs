//! The oracle: the invariants that keep cardholders' money safe, judged on a
//! run's typed event log with a global view (issuer ledgers, terminal
//! journals, switch logs). Each violation names the trade (terminal, batch,
//! STAN, card, amount) and the few events that prove it, the way Elle names
//! the smallest cycle.
//!
//! The log is judged up to its `Phase{End}` record ("by the end of
//! healing"); a trace without one (an in-memory harness run) is judged at its
//! last record. Each invariant lives in its own module as
//! `fn check(index: &TraceIndex) -> Vec<Violation>`; [`index`] builds the
//! shared per-trade views once. A streamed run is judged from a
//! [`log::JudgedLog`] taken as the run wrote its records ([`check_log`]).
//!
//! | invariant | module |
//! |---|---|
//! | every-unanswered-trade-reversed | [`every_unanswered_trade_reversed`] |
//! | offline-before-settlement | [`offline_before_settlement`] |
//! | no-double-debit | [`no_double_debit`] |
//! | conservation | [`conservation`] |
//! | slip-truth | [`slip_truth`] |
//! | settlement-balances | [`settlement_balances`] |
//! | authenticated-only | [`authenticated_only`] |
//! | numbering | [`numbering`] |
//! | ecash-balances | [`ecash_balances`] |
//! | holds-accounted | [`holds_accounted`] |
//! | declines-are-final | [`declines_are_final`] |
//! | sign-off-ends-session | [`sign_off_ends_session`] |
//! | tamper-ends-session | [`tamper_ends_session`] |
//! | voids-match-originals | [`voids_match_originals`] |
//!
//! ```
//! use possim_sim::oracle::{check, Invariant};
//! use possim_sim::trace::{Phase, Trace, TraceEvent};
//! use possim_models::time::Instant;
//! let mut trace = Trace::new();
//! trace.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
//! let verdicts = check(&trace);
//! assert_eq!(verdicts.len(), Invariant::ALL.len());
//! assert!(verdicts.iter().all(|v| v.passed()));
//! assert_eq!("no-double-debit".parse::<Invariant>().unwrap(), Invariant::NoDoubleDebit);
//! // Scenario files and JSON name them the same way, one list of names.
//! let parsed: Invariant = serde_json::from_str("\"holds-accounted\"").unwrap();
//! assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"holds-accounted\"");
//! let unknown = serde_json::from_str::<Invariant>("\"no-double-credit\"").unwrap_err();
//! assert!(unknown.to_string().contains("expected one of every-unanswered-trade-reversed"));
//! ```

pub mod authenticated_only;
pub mod conservation;
pub mod declines_are_final;
pub mod ecash_balances;
pub mod every_unanswered_trade_reversed;
pub mod holds_accounted;
pub mod index;
pub mod log;
pub mod no_double_debit;
pub mod numbering;
pub mod offline_before_settlement;
pub mod settlement_balances;
pub mod sign_off_ends_session;
pub mod slip_truth;
mod subjects;
pub mod tamper_ends_session;
pub mod voids_match_originals;
pub mod wire;
pub mod wire_trades;

use std::fmt;
use std::str::FromStr;

use possim_models::iso8583::values::{BatchNo, Pan, Rrn, Stan, TerminalId};
use possim_models::time::Instant;

use crate::trace::{Trace, VerdictRecord};

pub use index::{TraceIndex, TradeId};

/// Evidence lines one violation carries at most: the smallest proof, not
/// the whole story.
pub const EVIDENCE_MAX: usize = 8;
/// Violations one invariant reports in full; the rest are counted.
pub const VIOLATIONS_MAX: usize = 100;

/// The invariants, in the order [`check`] judges and reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    EveryUnansweredTradeReversed,
    OfflineBeforeSettlement,
    NoDoubleDebit,
    Conservation,
    SlipTruth,
    SettlementBalances,
    AuthenticatedOnly,
    Numbering,
    EcashBalances,
    HoldsAccounted,
    DeclinesAreFinal,
    SignOffEndsSession,
    TamperEndsSession,
    VoidsMatchOriginals,
}

impl Invariant {
    pub const ALL: [Invariant; 14] = [
        Invariant::EveryUnansweredTradeReversed,
        Invariant::OfflineBeforeSettlement,
        Invariant::NoDoubleDebit,
        Invariant::Conservation,
        Invariant::SlipTruth,
        Invariant::SettlementBalances,
        Invariant::AuthenticatedOnly,
        Invariant::Numbering,
        Invariant::EcashBalances,
        Invariant::HoldsAccounted,
        Invariant::DeclinesAreFinal,
        Invariant::SignOffEndsSession,
        Invariant::TamperEndsSession,
        Invariant::VoidsMatchOriginals,
    ];

    /// The kebab-case name used in reports, scenarios and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            Invariant::EveryUnansweredTradeReversed => "every-unanswered-trade-reversed",
            Invariant::OfflineBeforeSettlement => "offline-before-settlement",
            Invariant::NoDoubleDebit => "no-double-debit",
            Invariant::Conservation => "conservation",
            Invariant::SlipTruth => "slip-truth",
            Invariant::SettlementBalances => "settlement-balances",
            Invariant::AuthenticatedOnly => "authenticated-only",
            Invariant::Numbering => "numbering",
            Invariant::EcashBalances => "ecash-balances",
            Invariant::HoldsAccounted => "holds-accounted",
            Invariant::DeclinesAreFinal => "declines-are-final",
            Invariant::SignOffEndsSession => "sign-off-ends-session",
            Invariant::TamperEndsSession => "tamper-ends-session",
            Invariant::VoidsMatchOriginals => "voids-match-originals",
        }
    }

    fn run(self, index: &TraceIndex) -> Vec<Violation> {
        match self {
            Invariant::EveryUnansweredTradeReversed => {
                every_unanswered_trade_reversed::check(index)
            }
            Invariant::OfflineBeforeSettlement => offline_before_settlement::check(index),
            Invariant::NoDoubleDebit => no_double_debit::check(index),
            Invariant::Conservation => conservation::check(index),
            Invariant::SlipTruth => slip_truth::check(index),
            Invariant::SettlementBalances => settlement_balances::check(index),
            Invariant::AuthenticatedOnly => authenticated_only::check(index),
            Invariant::Numbering => numbering::check(index),
            Invariant::EcashBalances => ecash_balances::check(index),
            Invariant::HoldsAccounted => holds_accounted::check(index),
            Invariant::DeclinesAreFinal => declines_are_final::check(index),
            Invariant::SignOffEndsSession => sign_off_ends_session::check(index),
            Invariant::TamperEndsSession => tamper_ends_session::check(index),
            Invariant::VoidsMatchOriginals => voids_match_originals::check(index),
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an invariant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownInvariant {
    pub name: String,
}

impl fmt::Display for UnknownInvariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown invariant {:?}: expected one of ", self.name)?;
        let names: Vec<&str> = Invariant::ALL.iter().map(|invariant| invariant.name()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownInvariant {}

/// Scenario files and reports name invariants by [`Invariant::name`].
impl<'de> serde::Deserialize<'de> for Invariant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Invariant, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Invariant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl FromStr for Invariant {
    type Err = UnknownInvariant;

    fn from_str(name: &str) -> Result<Invariant, UnknownInvariant> {
        Invariant::ALL
            .into_iter()
            .find(|invariant| invariant.name() == name)
            .ok_or_else(|| UnknownInvariant { name: name.to_string() })
    }
}

/// The trade a violation is about, as far as the log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRef {
    pub terminal: TerminalId,
    pub batch: Option<BatchNo>,
    pub stan: Option<Stan>,
    /// No event carries the RRN today; kept for logs that will.
    pub rrn: Option<Rrn>,
    pub card: Option<Pan>,
    pub amount_fen: Option<u64>,
}

impl TradeRef {
    /// A terminal-level reference: no trade in particular.
    pub fn terminal(terminal: TerminalId) -> TradeRef {
        TradeRef { terminal, batch: None, stan: None, rrn: None, card: None, amount_fen: None }
    }
}

impl fmt::Display for TradeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(card) = &self.card {
            write!(f, "card {} at ", index::short_pan(card))?;
        }
        write!(f, "terminal {}", self.terminal)?;
        if let Some(batch) = self.batch {
            write!(f, " batch {batch}")?;
        }
        if let Some(stan) = self.stan {
            write!(f, " stan {stan}")?;
        }
        if let Some(rrn) = &self.rrn {
            write!(f, " rrn {rrn}")?;
        }
        if let Some(fen) = self.amount_fen {
            write!(f, " amount {}", index::fen(fen as i64))?;
        }
        Ok(())
    }
}

/// One event that proves a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub seq: u64,
    pub at: Instant,
    pub summary: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{} {}", self.at, self.seq, self.summary)
    }
}

/// One breach of one invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub trade: Option<TradeRef>,
    pub message: String,
    /// At most [`EVIDENCE_MAX`], in log order.
    pub evidence: Vec<Evidence>,
}

impl Violation {
    /// A violation with its evidence cut to [`EVIDENCE_MAX`] lines: the
    /// first lines (how it started) and the last (how it ended) are kept.
    pub fn new(
        invariant: Invariant,
        trade: Option<TradeRef>,
        message: String,
        mut evidence: Vec<Evidence>,
    ) -> Violation {
        evidence.sort_by_key(|e| e.seq);
        evidence.dedup_by_key(|e| e.seq);
        if evidence.len() > EVIDENCE_MAX {
            let skipped = evidence.len() - (EVIDENCE_MAX - 1);
            let tail = evidence.split_off(evidence.len() - 3);
            evidence.truncate(EVIDENCE_MAX - 4);
            let at = tail[0].at;
            let seq = tail[0].seq;
            evidence.push(Evidence { seq, at, summary: format!("… {skipped} more events") });
            evidence.extend(tail);
        }
        Violation { invariant, trade, message, evidence }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.invariant)?;
        if let Some(trade) = &self.trade {
            write!(f, "{trade}: ")?;
        }
        f.write_str(&self.message)?;
        for line in &self.evidence {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// One invariant's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub invariant: Invariant,
    /// At most [`VIOLATIONS_MAX`]; `more` counts the rest.
    pub violations: Vec<Violation>,
    /// Violations found beyond [`VIOLATIONS_MAX`], not kept.
    pub more: usize,
    /// How many things the invariant judged (`oracle/subjects.rs`): 0 is "judged
    /// nothing", not a pass.
    pub judged: usize,
    /// What those things are ("settlements", "frames", ...).
    pub subjects: &'static str,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// All violations found, kept or counted.
    pub fn total(&self) -> usize {
        self.violations.len() + self.more
    }

    /// The trace record of this verdict.
    pub fn record(&self) -> VerdictRecord {
        VerdictRecord {
            invariant: self.invariant.name().to_string(),
            passed: self.passed(),
            violations: self.total(),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed() && self.judged == 0 {
            return write!(f, "{}: judged nothing (no {})", self.invariant, self.subjects);
        }
        if self.passed() {
            return write!(f, "{}: passed ({} {})", self.invariant, self.judged, self.subjects);
        }
        write!(f, "{}: {} violations", self.invariant, self.total())?;
        for violation in &self.violations {
            write!(f, "\n{violation}")?;
        }
        if self.more > 0 {
            write!(f, "\n… and {} more", self.more)?;
        }
        Ok(())
    }
}

/// Judges `trace` against every invariant, in [`Invariant::ALL`] order.
pub fn check(trace: &Trace) -> Vec<Verdict> {
    let index = TraceIndex::new(trace);
    Invariant::ALL.into_iter().map(|invariant| judge(&index, invariant)).collect()
}

/// Judges a log taken record by record, as [`check`] judges the trace it
/// was taken from.
pub fn check_log(log: &log::JudgedLog) -> Vec<Verdict> {
    let index = TraceIndex::over(log.records());
    Invariant::ALL.into_iter().map(|invariant| judge(&index, invariant)).collect()
}

/// Judges `trace` against one invariant.
pub fn check_one(trace: &Trace, invariant: Invariant) -> Verdict {
    judge(&TraceIndex::new(trace), invariant)
}

fn judge(index: &TraceIndex, invariant: Invariant) -> Verdict {
    let mut violations = invariant.run(index);
    debug_assert!(violations.iter().all(|v| v.invariant == invariant));
    let more = violations.len().saturating_sub(VIOLATIONS_MAX);
    violations.truncate(VIOLATIONS_MAX);
    let (judged, subjects) = subjects::count(invariant, index);
    Verdict { invariant, violations, more, judged, subjects }
}
