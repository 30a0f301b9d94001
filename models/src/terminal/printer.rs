//! The printer: what can go wrong with it and what it prints.
//!
//! A slip that did not come out readable is not lost: the approved trade stays
//! in the journal and can be reprinted (last slip, or by STAN), and the detail
//! list shows which trades the terminal holds.
//!
//! ```
//! use possim_models::terminal::printer::{PrinterHardware, PrinterState};
//! assert_eq!(PrinterState::of(PrinterHardware::Ok, true), PrinterState::Faint);
//! assert_eq!(PrinterState::of(PrinterHardware::Jam, true), PrinterState::Jam);
//! assert!(PrinterState::Ok.prints());
//! ```

use crate::iso8583::values::Stan;
use crate::time::Instant;

use super::events::TerminalEventKind as E;
use super::reasons::{OwedSlip, RefusalReason};
use super::terminal::Terminal;

/// The mechanism, as the device-fault injector sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterHardware {
    Ok,
    OutOfPaper,
    Jam,
    CoverOpen,
}

/// What a print attempt gives: the mechanism, made faint by a low battery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterState {
    Ok,
    OutOfPaper,
    Jam,
    CoverOpen,
    /// Printed, but unreadable: the battery is low.
    Faint,
}

impl PrinterState {
    pub fn of(hardware: PrinterHardware, battery_low: bool) -> PrinterState {
        match hardware {
            PrinterHardware::Ok if battery_low => PrinterState::Faint,
            PrinterHardware::Ok => PrinterState::Ok,
            PrinterHardware::OutOfPaper => PrinterState::OutOfPaper,
            PrinterHardware::Jam => PrinterState::Jam,
            PrinterHardware::CoverOpen => PrinterState::CoverOpen,
        }
    }

    /// Whether a slip comes out readable.
    pub fn prints(self) -> bool {
        self == PrinterState::Ok
    }

    /// Whether paper moves (a faint slip still uses paper and power).
    pub fn feeds(self) -> bool {
        matches!(self, PrinterState::Ok | PrinterState::Faint)
    }
}

/// Which slip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlipKind {
    Approval,
    Reprint,
    Settlement,
    DetailList,
    OfflineFailures,
}

/// Printing: a slip that does not come out readable leaves its trade
/// marked as owed a slip.
impl Terminal {
    /// Before a settlement clears the journal, every slip still owed is
    /// printed: once the journal is gone, an approved trade could never get
    /// its slip. Returns false, refusing the settlement, while the printer
    /// still cannot print one (regression test in tests/device.rs).
    pub(super) fn print_owed_slips(&mut self, now: Instant) -> bool {
        let mut unprinted = Vec::new();
        if !self.print_failures_unprinted(now) {
            unprinted.push(OwedSlip::OfflineFailures);
        }
        let owed: Vec<Stan> = self
            .persistent
            .journal
            .iter()
            .filter(|entry| !entry.slip_printed && entry.status.stands())
            .map(|entry| entry.stan)
            .collect();
        for stan in owed {
            if !self.print(now, SlipKind::Reprint, Some(stan), Vec::new()) {
                unprinted.push(OwedSlip::Trade(stan));
            }
        }
        if unprinted.is_empty() {
            return true;
        }
        self.emit(now, E::Refused { why: RefusalReason::SlipsOwed { owed: unprinted } });
        false
    }

    /// Keeps a settlement's offline-failures listing that did not come out
    /// readable, to print again before the next 0500 or at "reprint last".
    pub(super) fn keep_failures_unprinted(&mut self, failures: Vec<Stan>) {
        let kept = &mut self.persistent.failures_unprinted;
        kept.extend(failures);
        // A settlement lists only its own journal's trades, and the 0500
        // does not leave while an earlier listing is kept: never more than
        // one journal's worth.
        assert!(kept.len() <= self.checked.config.journal_max, "failures listing bounded");
    }

    /// Prints the kept offline-failures listing, if any; returns false while
    /// it still does not come out readable.
    pub(super) fn print_failures_unprinted(&mut self, now: Instant) -> bool {
        if self.persistent.failures_unprinted.is_empty() {
            return true;
        }
        let listed = self.persistent.failures_unprinted.clone();
        if !self.print(now, SlipKind::OfflineFailures, None, listed) {
            return false;
        }
        self.persistent.failures_unprinted.clear();
        true
    }

    /// Prints a slip; returns whether it came out readable.
    pub(super) fn print(
        &mut self,
        now: Instant,
        kind: SlipKind,
        stan: Option<Stan>,
        listed: Vec<Stan>,
    ) -> bool {
        let low = self.persistent.battery.is_low(self.checked.config.battery_low_percent);
        let state = PrinterState::of(self.persistent.printer, low);
        if state.feeds() {
            let drain = self.checked.config.battery_drain_per_print_permille;
            self.persistent.battery.drain(drain);
        }
        if state.prints() {
            self.emit(now, E::SlipPrinted { stan, kind, listed });
            if let Some(entry) = stan.and_then(|stan| self.persistent.journal.find_mut(stan)) {
                entry.slip_printed = true;
            }
            true
        } else {
            self.emit(now, E::SlipFailed { stan, kind, reason: state });
            false
        }
    }
}
