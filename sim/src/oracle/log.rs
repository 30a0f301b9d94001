//! The part of a run's log the oracle judges, owned and taken one record at
//! a time, so a streamed trace ([`crate::trace::Trace::streamed`]) can be
//! judged without keeping its records.
//!
//! It keeps the records up to and including `Phase{End}` (the same cut
//! [`super::TraceIndex`] makes), each as written except a frame's listing
//! of fields, cut to the fields the oracle reads ([`wire::FIELDS_READ`]):
//! the listing is most of a frame's size, and the rest is for reports. It
//! leaves out the events no invariant reads ([`judged`]: a trade's routing
//! and relaying through the switch and the network, its clearing at the
//! issuer, a terminal's cleared reversal; a quarter of a busy log),
//! except one that follows a fault: a frame's corruption is read from the
//! faults written just before it ([`wire`]), so what ends that run of
//! faults stays. The
//! invariants still judge the whole log at the end; checkers that keep only
//! the open trades, batches and cards are the step after this one
//! (docs/DESIGN.md, "Known gaps").
//!
//! ```
//! use possim_sim::oracle::{check, check_log, log::JudgedLog};
//! use possim_sim::trace::{Phase, Trace, TraceEvent};
//! use possim_models::time::Instant;
//! let mut trace = Trace::new();
//! trace.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
//! trace.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
//! let mut log = JudgedLog::default();
//! for record in trace.records() {
//!     log.observe(record);
//! }
//! assert_eq!(log.records().len(), 1, "nothing after the end is judged");
//! assert_eq!(check_log(&log), check(&trace));
//! ```

use possim_models::issuer::IssuerEventKind;
use possim_models::network::NetworkEventKind;
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;

use crate::trace::{Phase, TraceEvent, TraceRecord};

use super::wire;

/// The judged records, owned.
#[derive(Debug, Default)]
pub struct JudgedLog {
    records: Vec<TraceRecord>,
    ended: bool,
    /// Whether the last record observed was a fault.
    after_fault: bool,
}

impl JudgedLog {
    /// Takes one more record of the log, in order. The trace's own bound
    /// ([`crate::trace::TRACE_RECORDS_MAX`]) bounds what this keeps.
    pub fn observe(&mut self, record: &TraceRecord) {
        if self.admits(&record.event) {
            self.keep(record.clone());
        }
    }

    /// As [`JudgedLog::observe`], for a record no one else keeps: moved in,
    /// not copied.
    pub fn take(&mut self, record: TraceRecord) {
        if self.admits(&record.event) {
            self.keep(record);
        }
    }

    /// Whether the next record of the log is kept.
    fn admits(&mut self, event: &TraceEvent) -> bool {
        if self.ended {
            return false;
        }
        self.ended = matches!(event, TraceEvent::Phase { phase: Phase::End });
        let after_fault =
            std::mem::replace(&mut self.after_fault, matches!(event, TraceEvent::Fault(_)));
        judged(event) || after_fault
    }

    fn keep(&mut self, mut record: TraceRecord) {
        if let TraceEvent::Frame(frame) = &mut record.event {
            frame.fields = wire::fields_read(&frame.fields);
        }
        self.records.push(record);
    }

    /// The records kept, in log order.
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }
}

/// Whether an invariant reads the event (or may cite it): everything but
/// the switch's and the network's events about a trade's way through them
/// (the kinds kept are those `conservation`, `numbering`,
/// `settlement_balances` and `every_unanswered_trade_reversed` match on),
/// and a few kinds of terminal and issuer event no invariant matches on,
/// one or two a trade.
pub fn judged(event: &TraceEvent) -> bool {
    match event {
        TraceEvent::Terminal(event) => !matches!(
            event.kind,
            TerminalEventKind::ReversalCleared { .. } | TerminalEventKind::OperatorSignedIn
        ),
        TraceEvent::Issuer { event, .. } => !matches!(event.kind, IssuerEventKind::Cleared { .. }),
        TraceEvent::Switch(event) => matches!(
            event.kind,
            SwitchEventKind::BatchClosed { .. }
                | SwitchEventKind::BatchFiled { .. }
                | SwitchEventKind::BatchUploaded { .. }
                | SwitchEventKind::SettlementAnswered { .. }
                | SwitchEventKind::ReversalQueued { .. }
                | SwitchEventKind::ReversalAcknowledged { .. }
        ),
        TraceEvent::Network(event) => matches!(
            event.kind,
            NetworkEventKind::ReversalQueued { .. }
                | NetworkEventKind::ReversalAcknowledged { .. }
                | NetworkEventKind::ReversalAbandoned { .. }
        ),
        _ => true,
    }
}
