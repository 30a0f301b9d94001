//! The issuer's configuration: its link keys, its cardholders, its limits and
//! its policies. Every table bound is here, named `*_max`, and checked once
//! by [`IssuerConfig::validate`] so the state machine can assert it.

use std::collections::BTreeSet;

use crate::actor::LinkKeys;
use crate::iso8583::values::{Expiry, Pan};
use crate::time::Calendar;

pub use crate::actor::LinkKeysConfig;

/// What the issuer knows about a card before any trade.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Active,
    Lost,
    Stolen,
    Expired,
    Restricted,
}

/// One cardholder's account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardAccount {
    pub pan: Pan,
    /// May start negative (an overdrawn account); never a float.
    pub balance_fen: i64,
    /// 4 to 12 digits.
    pub pin: String,
    /// Electronic cash on the chip, at most `ecash_load_max_fen`.
    #[serde(default)]
    pub offline_balance_fen: i64,
    #[serde(default = "default_status")]
    pub status: CardStatus,
    /// `YYMM`; when set, a request whose field 14 differs is declined 54.
    #[serde(default)]
    pub expiry: Option<String>,
}

fn default_status() -> CardStatus {
    CardStatus::Active
}

/// Limits the issuer applies to online trades (offline uploads are accepted
/// as sent, see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerLimits {
    /// Sales and pre-auths above this are declined 61.
    pub single_amount_max_fen: u64,
    /// Below this they are declined 13.
    pub min_amount_fen: u64,
    /// Approved sales and pre-auths per card per merchant per business day;
    /// one more is declined 65.
    pub daily_count_max: u32,
    /// Wrong PINs in a row before the card locks (the last one answers 75).
    pub pin_tries_max: u32,
    pub pin_lock_ms: u64,
    /// The most one electronic-cash load may put on a chip.
    pub ecash_load_max_fen: i64,
    /// How long a pre-auth holds its amount before the issuer releases it
    /// on its own (a completion after that is answered 25); CUP's is 30
    /// days, at most `HOLD_EXPIRY_MS_MAX`.
    pub hold_expiry_ms: u64,
}

impl Default for IssuerLimits {
    fn default() -> IssuerLimits {
        IssuerLimits {
            single_amount_max_fen: 5_000_000,
            min_amount_fen: 1,
            daily_count_max: 100,
            pin_tries_max: 3,
            pin_lock_ms: 24 * 3600 * 1000,
            ecash_load_max_fen: 100_000,
            hold_expiry_ms: HOLD_EXPIRY_MS_MAX,
        }
    }
}

/// Where real issuers disagree. The defaults are the safe behaviour.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerPolicy {
    /// `true`: a repeated reversal answers 00 and changes nothing. `false`
    /// (unsafe, a real field bug): every repeat credits the card again.
    pub reversal_idempotent: bool,
    /// `true`: a completion releases its pre-auth's hold as it debits.
    /// `false` (unsafe, a real field bug): the capture is booked and the
    /// hold stays until it lapses, so the cardholder is held and debited
    /// for the same stay.
    pub completion_releases_hold: bool,
}

impl Default for IssuerPolicy {
    fn default() -> IssuerPolicy {
        IssuerPolicy { reversal_idempotent: true, completion_releases_hold: true }
    }
}

/// The whole configuration of one issuer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer's index in the scenario: its `Node::Issuer` address and the
    /// first two digits of every RRN it assigns.
    pub index: u16,
    /// Keys of the link from the network.
    pub link: LinkKeysConfig,
    #[serde(default)]
    pub cards: Vec<CardAccount>,
    #[serde(default)]
    pub limits: IssuerLimits,
    #[serde(default)]
    pub policy: IssuerPolicy,
    #[serde(default)]
    pub calendar: Calendar,
    #[serde(default = "default_accounts_max")]
    pub accounts_max: usize,
    /// Trades remembered (for duplicates, reversals, voids, refunds and
    /// clearing); a request that would exceed it is answered 96.
    #[serde(default = "default_trades_max")]
    pub trades_max: usize,
    /// Frames waiting for `poll_transmit`.
    #[serde(default = "default_transmits_max")]
    pub transmits_max: usize,
    /// Events waiting for `poll_event`; at least twice `trades_max` plus
    /// room for one message, since a clearing may return every trade at once
    /// (two events each).
    #[serde(default = "default_events_max")]
    pub events_max: usize,
}

fn default_accounts_max() -> usize {
    10_000
}
fn default_trades_max() -> usize {
    100_000
}
fn default_transmits_max() -> usize {
    1024
}
fn default_events_max() -> usize {
    2 * default_trades_max() + EVENTS_PER_INPUT_MAX
}

/// The longest a hold may last: CUP's 30 days.
pub const HOLD_EXPIRY_MS_MAX: u64 = 30 * 86_400_000;

/// A completion may capture up to this percentage of its hold (CUP's
/// allowance for tips and incidentals over the authorised amount, 15 %);
/// above it the issuer answers 64.
pub const COMPLETION_ALLOWANCE_PERCENT: i64 = 115;

/// Whether a completion of `completion_fen` is within the allowance over a
/// hold of `hold_fen`.
pub fn within_allowance(completion_fen: i64, hold_fen: i64) -> bool {
    completion_fen.saturating_mul(100) <= hold_fen.saturating_mul(COMPLETION_ALLOWANCE_PERCENT)
}

/// Holds released per `handle_timeout` (two events each, within
/// `EVENTS_PER_INPUT_MAX`); the rest are due at once on the next call.
pub(crate) const HOLDS_EXPIRED_PER_TIMEOUT_MAX: usize = 3;

/// Auth codes are six digits and must not repeat among remembered trades.
const TRADES_MAX_LIMIT: usize = 999_999;

/// The most events one message or command (other than a clearing) emits.
pub(crate) const EVENTS_PER_INPUT_MAX: usize = 8;

impl IssuerConfig {
    /// A configuration with defaults everywhere but the index and the keys.
    pub fn new(index: u16, link: LinkKeysConfig) -> IssuerConfig {
        IssuerConfig {
            index,
            link,
            cards: Vec::new(),
            limits: IssuerLimits::default(),
            policy: IssuerPolicy::default(),
            calendar: Calendar::default(),
            accounts_max: default_accounts_max(),
            trades_max: default_trades_max(),
            transmits_max: default_transmits_max(),
            events_max: default_events_max(),
        }
    }

    /// Checks everything the state machine later asserts.
    pub fn validate(&self) -> Result<ValidConfig, IssuerConfigError> {
        let keys = self.link.link_keys();
        if self.index > 99 {
            return Err(IssuerConfigError::IndexTooLarge { index: self.index });
        }
        if self.cards.len() > self.accounts_max {
            return Err(IssuerConfigError::TooManyCards {
                count: self.cards.len(),
                accounts_max: self.accounts_max,
            });
        }
        if self.trades_max == 0 || self.transmits_max == 0 {
            return Err(IssuerConfigError::ZeroBound);
        }
        if self.trades_max > TRADES_MAX_LIMIT {
            return Err(IssuerConfigError::TradesMaxTooLarge { trades_max: self.trades_max });
        }
        if self.events_max < 2 * self.trades_max + EVENTS_PER_INPUT_MAX {
            return Err(IssuerConfigError::EventsMaxTooSmall {
                events_max: self.events_max,
                trades_max: self.trades_max,
            });
        }
        if self.limits.pin_tries_max == 0 {
            return Err(IssuerConfigError::ZeroPinTries);
        }
        if !(1..=HOLD_EXPIRY_MS_MAX).contains(&self.limits.hold_expiry_ms) {
            return Err(IssuerConfigError::HoldExpiry {
                hold_expiry_ms: self.limits.hold_expiry_ms,
            });
        }
        let mut seen = BTreeSet::new();
        let mut expiries = Vec::with_capacity(self.cards.len());
        for card in &self.cards {
            if !seen.insert(card.pan) {
                return Err(IssuerConfigError::DuplicateCard { pan: card.pan });
            }
            if crate::iso8583::pin::clear_block(&card.pan, &card.pin).is_err() {
                return Err(IssuerConfigError::BadPin { pan: card.pan });
            }
            if card.offline_balance_fen < 0
                || card.offline_balance_fen > self.limits.ecash_load_max_fen
            {
                return Err(IssuerConfigError::OfflineBalance {
                    pan: card.pan,
                    fen: card.offline_balance_fen,
                    max: self.limits.ecash_load_max_fen,
                });
            }
            let expiry = match &card.expiry {
                None => None,
                Some(text) => Some(Expiry::from_digits(text.as_bytes()).ok_or_else(|| {
                    IssuerConfigError::BadExpiry { pan: card.pan, text: text.clone() }
                })?),
            };
            expiries.push(expiry);
        }
        Ok(ValidConfig { keys, expiries })
    }
}

/// What validation derived from the text of the configuration.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub(crate) keys: LinkKeys,
    pub(crate) expiries: Vec<Option<Expiry>>,
}

/// Why an issuer configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerConfigError {
    #[error("issuer index {index} does not fit the two RRN digits (0..=99)")]
    IndexTooLarge { index: u16 },
    #[error("{count} cards configured, over accounts_max {accounts_max}")]
    TooManyCards { count: usize, accounts_max: usize },
    #[error("trades_max and transmits_max must be at least 1")]
    ZeroBound,
    #[error("trades_max {trades_max} is over 999999: six-digit auth codes would repeat")]
    TradesMaxTooLarge { trades_max: usize },
    #[error("events_max {events_max} must be at least twice trades_max {trades_max} plus 8")]
    EventsMaxTooSmall { events_max: usize, trades_max: usize },
    #[error("pin_tries_max must be at least 1")]
    ZeroPinTries,
    #[error("hold_expiry_ms {hold_expiry_ms} is outside 1..=2592000000 (30 days)")]
    HoldExpiry { hold_expiry_ms: u64 },
    #[error("card {pan} is configured twice")]
    DuplicateCard { pan: Pan },
    #[error("card {pan}: a pin is 4 to 12 digits")]
    BadPin { pan: Pan },
    #[error("card {pan}: offline balance {fen} fen is outside 0..={max}")]
    OfflineBalance { pan: Pan, fen: i64, max: i64 },
    #[error("card {pan}: expiry {text:?} is not YYMM")]
    BadExpiry { pan: Pan, text: String },
}
