//! **tamper-ends-session**: once a tamper lock lands on a terminal, nothing
//! but a sign-in (or an echo test) leaves it until it has signed in again.
//! DOMAIN.md, Device faults: "the terminal locks itself to protect its keys
//! and data; an unlock password brings it back, and it must then sign in
//! again (its keys are gone)". A request that leaves in between carries a
//! MAC under keys the lock should have erased: a terminal that kept them
//! (`mutation: tamper_keeps_keys`) goes on trading under a session the
//! knock should have ended, and a host that still holds those keys takes it.
//!
//! Read from the log:
//!
//! - *A tamper lock*: a `tamper_lock` fault record naming the terminal (the
//!   world's word that the knock happened, not the terminal's: the terminal
//!   under test may be the one that ignores it).
//! - *Until it has signed in*: its next 0800 leaving it.
//! - Any other request leaving it in between, save an 0820 (an echo test or
//!   a sign-off, neither of which moves money), is a violation, reported
//!   once per lock. A request that left before the lock's record (the trade
//!   the knock cut off) is not judged: it left under keys still valid.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::TamperEndsSession);
//! assert!(verdict.passed());
//! assert_eq!(verdict.judged, 0);
//! ```

use std::collections::BTreeMap;

use super::index::TraceIndex;
use super::{Invariant, TradeRef, Violation};
use crate::trace::{FaultKind, TraceEvent};

const INVARIANT: Invariant = Invariant::TamperEndsSession;

/// One tamper lock: the terminal's trimmed id, the fault record's seq, and
/// the first request that left the terminal before its next 0800.
struct Lock {
    target: String,
    seq: u64,
    broken_by: Option<u64>,
}

/// Every tamper lock in the log, each with the request that broke it.
fn locks(index: &TraceIndex) -> Vec<Lock> {
    let mut found: Vec<Lock> = index
        .records
        .iter()
        .filter_map(|record| match &record.event {
            TraceEvent::Fault(fault) if fault.kind == FaultKind::TamperLock => {
                Some(Lock { target: fault.target.clone(), seq: record.seq, broken_by: None })
            }
            _ => None,
        })
        .collect();
    // The lock each terminal is under (an entry of `found`), until an 0800.
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0;
    for frame in &index.frames {
        while next < found.len() && found[next].seq < frame.seq {
            open.insert(found[next].target.clone(), next);
            next += 1;
        }
        let Some(terminal) = frame.terminal else { continue };
        if !(frame.from_terminal() && frame.is_request()) {
            continue;
        }
        match frame.mti {
            Some("0800") => {
                open.remove(terminal.trimmed());
            }
            Some("0820") => {}
            _ => {
                if let Some(entry) = open.remove(terminal.trimmed()) {
                    found[entry].broken_by = Some(frame.seq);
                }
            }
        }
    }
    found
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for lock in locks(index) {
        let Some(message) = lock.broken_by else { continue };
        let Some(frame) = index.frames.iter().find(|frame| frame.seq == message) else { continue };
        let Some(terminal) = frame.terminal else { continue };
        violations.push(Violation::new(
            INVARIANT,
            Some(TradeRef::terminal(terminal)),
            format!(
                "a tamper lock erased its keys; it sent an {} before signing in again",
                frame.mti.unwrap_or("????")
            ),
            index.evidence_of([lock.seq, message]),
        ));
    }
    violations
}

/// Tamper locks judged.
pub(crate) fn judged(index: &TraceIndex) -> usize {
    locks(index).len()
}
