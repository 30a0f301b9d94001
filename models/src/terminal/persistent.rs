//! What survives a power cut: the terminal's flash and secure element, and the
//! physical state of the device (battery charge, printer mechanism).
//!
//! The simulator powers a terminal off by dropping it and keeping this
//! struct; [`super::Terminal::restart`] starts a terminal on it and runs
//! recovery. Nothing here refers to a deadline or an in-flight message: that
//! is [`super::volatile::Volatile`].
//!
//! ```
//! use possim_models::terminal::{Persistent, TerminalConfig};
//! let persistent = Persistent::new(&TerminalConfig::default());
//! assert!(!persistent.keys_present());
//! assert!(persistent.journal().is_empty());
//! assert_eq!(persistent.next_stan().value(), 1);
//! ```

use crate::iso8583::keys::WorkingKeys;
use crate::iso8583::values::{BatchNo, Stan};

use super::battery::Battery;
use super::config::TerminalConfig;
use super::journal::Journal;
use super::offline::OfflineQueue;
use super::printer::PrinterHardware;
use super::reversal::PendingReversal;
use super::settlement::SettlementProgress;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistent {
    /// The STAN the next message will carry.
    pub(crate) next_stan: Stan,
    pub(crate) batch: BatchNo,
    pub(crate) journal: Journal,
    pub(crate) reversal: Option<PendingReversal>,
    pub(crate) offline: OfflineQueue,
    pub(crate) settlement: Option<SettlementProgress>,
    /// Working keys in the secure element: survive power loss, erased by tamper.
    pub(crate) keys: Option<WorkingKeys>,
    /// The host has accepted the terminal's sign-in and not asked for another.
    pub(crate) signed_in: bool,
    pub(crate) tamper_locked: bool,
    /// The last approved trade: what "reprint last" prints.
    pub(crate) last_approved: Option<Stan>,
    /// The last settlement's offline-failures listing, while it has not come
    /// out readable: the journal it was drawn from is gone, so this is the
    /// only record of the refused advices left (a real terminal keeps its
    /// last settlement report for reprinting). At most `journal_max` STANs.
    pub(crate) failures_unprinted: Vec<Stan>,
    pub(crate) battery: Battery,
    pub(crate) printer: PrinterHardware,
}

impl Persistent {
    /// The store of a terminal fresh from the factory: no keys, batch 1.
    pub fn new(config: &TerminalConfig) -> Persistent {
        Persistent {
            next_stan: Stan::new(config.stan_start).unwrap_or(Stan::new(1).expect("1 is a stan")),
            batch: BatchNo::new(1).expect("1 is a batch"),
            journal: Journal::new(config.journal_max),
            reversal: None,
            offline: OfflineQueue::new(config.offline_queue_max),
            settlement: None,
            keys: None,
            signed_in: false,
            tamper_locked: false,
            last_approved: None,
            failures_unprinted: Vec::new(),
            battery: Battery::from_percent(config.battery_start_percent),
            printer: PrinterHardware::Ok,
        }
    }

    /// Takes the next STAN: 999999 wraps to 1.
    pub(crate) fn take_stan(&mut self) -> Stan {
        let stan = self.next_stan;
        self.next_stan = stan.next();
        // Two messages under one STAN would be one trade to the host.
        assert_ne!(self.next_stan, stan, "the stan counter moves on with every message");
        stan
    }

    pub fn next_stan(&self) -> Stan {
        self.next_stan
    }

    /// Sets the STAN counter, as a terminal's parameter download can.
    pub fn set_next_stan(&mut self, stan: Stan) {
        self.next_stan = stan;
    }

    pub fn batch(&self) -> BatchNo {
        self.batch
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn reversal(&self) -> Option<&PendingReversal> {
        self.reversal.as_ref()
    }

    pub fn offline(&self) -> &OfflineQueue {
        &self.offline
    }

    pub fn settlement(&self) -> Option<&SettlementProgress> {
        self.settlement.as_ref()
    }

    pub fn keys_present(&self) -> bool {
        self.keys.is_some()
    }

    pub fn signed_in(&self) -> bool {
        self.signed_in && self.keys.is_some()
    }

    pub fn tamper_locked(&self) -> bool {
        self.tamper_locked
    }

    pub fn battery(&self) -> Battery {
        self.battery
    }

    pub fn printer(&self) -> PrinterHardware {
        self.printer
    }

    /// Charges the battery, as the simulator does for a terminal on its cradle.
    pub fn charge(&mut self, percent: u8) {
        self.battery.charge(percent);
    }
}
