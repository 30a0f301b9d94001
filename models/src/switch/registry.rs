//! What the switch remembers per terminal: its session keys, its open batch
//! and the batch it closed last, and every trade it saw in them.
//!
//! The previous batch is kept so that a settlement or batch-upload end
//! repeated after its answer was lost gets the same answer again, and a
//! late reversal still finds its original.
//!
//! ```
//! use possim_models::iso8583::keys::{DesKey, KeyMode};
//! use possim_models::switch::registry::KeyGenerator;
//! let mut generator = KeyGenerator::new(DesKey::from_hex("0123456789ABCDEF").unwrap(), 0);
//! let first = generator.working_keys(KeyMode::Single);
//! let second = generator.working_keys(KeyMode::Single);
//! assert_ne!(first.mak, second.mak); // a fresh key at every sign-in
//! assert_eq!(generator.counter(), 4);
//! ```

use std::collections::BTreeMap;

use crate::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
use crate::iso8583::mac::MacKey;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::subfields::{BatchDetailEntry, BatchTotals};
use crate::iso8583::trade::{FinancialRequest, Side, TradeResponse};
use crate::iso8583::values::{BatchNo, MerchantId, Stan};

/// Derives working keys by encrypting a counter under the key-generation key.
#[derive(Debug, Clone)]
pub struct KeyGenerator {
    key: DesKey,
    counter: u64,
}

impl KeyGenerator {
    pub fn new(key: DesKey, counter: u64) -> KeyGenerator {
        KeyGenerator { key, counter }
    }

    /// How many blocks were drawn; persisted, so a restarted switch never
    /// hands out a key twice.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    fn block(&mut self) -> [u8; 8] {
        self.counter += 1;
        let mut block = self.counter.to_be_bytes();
        self.key.encrypt_block(&mut block);
        block
    }

    fn key(&mut self, mode: KeyMode) -> DesKey {
        match mode {
            KeyMode::Single => DesKey::Single(self.block()),
            KeyMode::Double | KeyMode::DoubleWithTrackKey => {
                let mut both = [0u8; 16];
                both[..8].copy_from_slice(&self.block());
                both[8..].copy_from_slice(&self.block());
                DesKey::Double(both)
            }
        }
    }

    pub fn working_keys(&mut self, mode: KeyMode) -> WorkingKeys {
        let pik = self.key(mode);
        let mak = self.key(mode);
        let tdk = (mode == KeyMode::DoubleWithTrackKey).then(|| self.key(mode));
        WorkingKeys { pik, mak, tdk }
    }
}

/// The keys of a terminal's last sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub mode: KeyMode,
    pub keys: WorkingKeys,
}

impl Session {
    pub fn mac_key(&self) -> MacKey {
        MacKey::new(self.keys.mak.first_half())
    }
}

/// Where a trade stands, as far as the switch knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded; no answer yet.
    Pending,
    Approved,
    Declined(ResponseCode),
    /// The switch answered 98 and reverses it itself.
    TimedOut,
}

/// One trade of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRecord {
    /// The request as forwarded, without its PIN block (never kept at rest).
    pub request: FinancialRequest,
    pub outcome: Outcome,
    /// A reversal is queued or done: the trade no longer counts.
    pub reversed: bool,
    /// The issuer's answer as it was forwarded to the terminal, kept (with
    /// the batch, so across a restart) to replay to a copy of the request.
    pub answer: Option<TradeResponse>,
}

impl TradeRecord {
    /// Whether it counts in the batch totals.
    pub fn counts(&self) -> bool {
        self.outcome == Outcome::Approved && !self.reversed
    }
}

/// One terminal batch as the switch saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub number: BatchNo,
    pub trades: BTreeMap<Stan, TradeRecord>,
    /// What a batch upload said about this batch.
    pub uploaded: BTreeMap<Stan, BatchDetailEntry>,
}

impl BatchRecord {
    pub fn new(number: BatchNo) -> BatchRecord {
        BatchRecord { number, trades: BTreeMap::new(), uploaded: BTreeMap::new() }
    }

    /// The switch's own totals: approved, unreversed debits and credits.
    pub fn totals(&self) -> BatchTotals {
        let mut totals = BatchTotals::default();
        for record in self.trades.values().filter(|record| record.counts()) {
            let Some(amount) = record.request.trade.amount() else { continue };
            match record.request.kind().side() {
                Side::Debit => totals.add_debit(amount),
                Side::Credit => totals.add_credit(amount),
                Side::None => {}
            }
        }
        totals
    }
}

/// Everything the switch keeps about one registered terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalState {
    pub merchant: MerchantId,
    pub tmk: DesKey,
    pub session: Option<Session>,
    pub current: BatchRecord,
    /// The last batch closed, kept for repeated settlements and late reversals.
    pub previous: Option<BatchRecord>,
}

impl TerminalState {
    pub fn new(merchant: MerchantId, tmk: DesKey) -> TerminalState {
        TerminalState {
            merchant,
            tmk,
            session: None,
            current: BatchRecord::new(BatchNo::new(1).expect("1 is a batch number")),
            previous: None,
        }
    }

    pub fn batch(&self, number: BatchNo) -> Option<&BatchRecord> {
        if self.current.number == number {
            Some(&self.current)
        } else {
            self.previous.as_ref().filter(|batch| batch.number == number)
        }
    }

    pub fn batch_mut(&mut self, number: BatchNo) -> Option<&mut BatchRecord> {
        if self.current.number == number {
            Some(&mut self.current)
        } else {
            self.previous.as_mut().filter(|batch| batch.number == number)
        }
    }

    pub fn record(&self, batch: BatchNo, stan: Stan) -> Option<&TradeRecord> {
        self.batch(batch)?.trades.get(&stan)
    }

    pub fn record_mut(&mut self, batch: BatchNo, stan: Stan) -> Option<&mut TradeRecord> {
        self.batch_mut(batch)?.trades.get_mut(&stan)
    }

    /// Closes the open batch; returns (closed, next).
    pub fn close_batch(&mut self) -> (BatchNo, BatchNo) {
        let closed = self.current.number;
        let next = BatchRecord::new(closed.next());
        let next_number = next.number;
        assert_ne!(closed, next_number, "a closed batch is never reopened");
        self.previous = Some(std::mem::replace(&mut self.current, next));
        (closed, next_number)
    }

    /// Whether the sign-in mode fits the TMK's length.
    pub fn serves(&self, mode: KeyMode) -> bool {
        matches!(
            (mode, &self.tmk),
            (KeyMode::Single, DesKey::Single(_))
                | (KeyMode::Double | KeyMode::DoubleWithTrackKey, DesKey::Double(_))
        )
    }
}
