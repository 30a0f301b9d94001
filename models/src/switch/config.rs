//! The switch's configuration: its terminal registry, its keys, its bounds and
//! its policies, with the safe setting of each policy as the default.
//!
//! ```
//! use possim_models::iso8583::keys::DesKey;
//! use possim_models::switch::{HexKey, RegisteredTerminal, SwitchConfig};
//! use possim_models::iso8583::values::{MerchantId, TerminalId};
//! let mut config = SwitchConfig::new(
//!     HexKey(DesKey::from_hex("1111111111111111").unwrap()),
//!     HexKey(DesKey::from_hex("2222222222222222").unwrap()),
//!     HexKey(DesKey::from_hex("3333333333333333").unwrap()),
//! );
//! config.terminals.push(RegisteredTerminal {
//!     terminal_id: TerminalId::new("T0000001").unwrap(),
//!     merchant_id: MerchantId::new("M00000000000001").unwrap(),
//!     tmk: HexKey(DesKey::from_hex("0123456789ABCDEF").unwrap()),
//! });
//! assert!(config.validate().is_ok());
//! assert_eq!(config.upstream_timeout_ms, 40_000);
//! assert!(config.duplicate_check);
//! assert!(!config.mac_checked_on_0200_only);
//! assert!(!config.forward_repeated_reversals);
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

pub use crate::actor::{HexKey, LinkKeysConfig};
use crate::iso8583::subfields::BatchTotals;
use crate::iso8583::values::{MerchantId, TerminalId};
use crate::time::Calendar;

/// One line of the terminal registry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredTerminal {
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    /// The terminal master key loaded into it by hand: 8 bytes for sign-in
    /// mode 001, 16 for 003 and 004.
    pub tmk: HexKey,
}

/// Quirks one switch may carry (they are certification scripts, not load).
pub const QUIRKS_MAX: usize = 64;

/// A scripted misbehaviour toward one request, named by its terminal and
/// STAN: what the certification cases use to make the host say what a
/// real host says rarely (77, 99, A0, header requirement 3, a bad key check
/// value). No quirk is set by default; each is applied to every request
/// with that terminal and STAN.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchQuirk {
    pub terminal: TerminalId,
    /// Field 11 of the request (0800 or 0200).
    pub stan: u32,
    /// Answer with this code instead of serving the request (a financial
    /// request: after the registration, sign-in and MAC gates, MAC'd).
    #[serde(default)]
    pub answer: Option<crate::iso8583::response_code::ResponseCode>,
    /// The answer's header carries processing requirement 3, "sign in again".
    #[serde(default)]
    pub sign_in_again_header: bool,
    /// The 0810's last key check value is wrong: the terminal must refuse
    /// the keys.
    #[serde(default)]
    pub bad_key_check: bool,
    /// The 0510 to this 0500 says "not balanced" whatever the totals (the
    /// host's own count disagrees): the terminal must upload its batch.
    #[serde(default)]
    pub not_balanced: bool,
}

/// Everything the switch is told before it starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    #[serde(default)]
    pub terminals: Vec<RegisteredTerminal>,
    pub network_keys: LinkKeysConfig,
    /// New working keys are this key encrypting a counter: no randomness, so a
    /// run stays a pure function of its inputs.
    pub key_generation_key: HexKey,
    /// Longer than the network's own issuer timeout (30 s), so that the
    /// network's 98 normally reaches the switch before the switch gives up.
    #[serde(default = "defaults::upstream_timeout_ms")]
    pub upstream_timeout_ms: u64,
    #[serde(default = "defaults::reversal_retry_interval_ms")]
    pub reversal_retry_interval_ms: u64,
    #[serde(default = "defaults::terminals_max")]
    pub terminals_max: usize,
    /// Trade records per terminal batch (inquiries and declines included:
    /// they are what a repeated request is recognised by). At most 999, the
    /// widest count settlement field 48 carries.
    #[serde(default = "defaults::trades_per_batch_max")]
    pub trades_per_batch_max: usize,
    /// Requests forwarded upstream and not yet answered, all terminals together.
    #[serde(default = "defaults::pending_max")]
    pub pending_max: usize,
    /// Reversals waiting for the network's acknowledgement.
    #[serde(default = "defaults::store_forward_max")]
    pub store_forward_max: usize,
    /// Frames waiting for the shell to poll them; the shell drains after
    /// every call, so this only has to cover what one call can produce.
    #[serde(default = "defaults::transmits_max")]
    pub transmits_max: usize,
    #[serde(default = "defaults::events_max")]
    pub events_max: usize,
    /// Policy. `true` (safe): a request whose terminal, batch and STAN the
    /// switch already saw is answered 94 and not forwarded. `false`
    /// reproduces hosts that forward it again: the cardholder can be
    /// charged twice.
    #[serde(default = "defaults::duplicate_check")]
    pub duplicate_check: bool,
    /// `true`: a copy of a request already answered gets the original's
    /// answer again (same code, RRN, auth code), as well-run hosts do.
    /// `false`: a bare 94, as many hosts send, which a terminal still
    /// waiting must not take as its trade's verdict.
    #[serde(default = "defaults::replay_duplicates")]
    pub replay_duplicates: bool,
    /// Policy. `false` (safe): every MAC'd message from a terminal (0100,
    /// 0200, 0220, 0320, 0400) passes the MAC check before it is served.
    /// `true` reproduces hosts that check the MAC on financial requests
    /// (0200) only and take reversals and advices on the terminal's word: a
    /// garbled 0400 or 0220 is forwarded upstream and moves money.
    #[serde(default)]
    pub mac_checked_on_0200_only: bool,
    /// Trades the acquirer's clearing file holds between two clearings:
    /// what its terminals settled that day.
    #[serde(default = "defaults::clearing_max")]
    pub clearing_max: usize,
    /// Policy. `false` (safe): the acquirer's clearing file holds what its
    /// terminals settled: the switch's own approvals when a batch balanced,
    /// the terminal's batch upload when it did not. `true` reproduces
    /// acquirers that clear every approval their switch recorded: a trade
    /// whose terminal gave its reversal up (and never settled the trade) is
    /// cleared, and the cardholder stays charged with no slip.
    #[serde(default)]
    pub clearing_from_own_approvals: bool,
    /// Policy. `false` (safe): a terminal's repeated reversal (its 0410
    /// lost, the 0400 sent again) is answered from the switch's own record,
    /// 00 and nothing sent upstream. `true` reproduces hosts that keep no
    /// record of reversals and pass every 0400 on: harmless while the
    /// issuer's reversal is idempotent, a second credit when it is not
    /// (CH-07).
    #[serde(default)]
    pub forward_repeated_reversals: bool,
    /// The business calendar for fields 12, 13 and 15 of the answers.
    #[serde(default)]
    pub calendar: Calendar,
    /// Scripted misbehaviours (none by default): see [`SwitchQuirk`].
    #[serde(default)]
    pub quirks: Vec<SwitchQuirk>,
}

mod defaults {
    pub fn upstream_timeout_ms() -> u64 {
        40_000
    }
    pub fn reversal_retry_interval_ms() -> u64 {
        10_000
    }
    pub fn terminals_max() -> usize {
        1024
    }
    pub fn trades_per_batch_max() -> usize {
        999
    }
    pub fn pending_max() -> usize {
        256
    }
    pub fn store_forward_max() -> usize {
        1024
    }
    pub fn transmits_max() -> usize {
        4096
    }
    pub fn events_max() -> usize {
        8192
    }
    pub fn clearing_max() -> usize {
        1_000_000
    }
    pub fn duplicate_check() -> bool {
        true
    }
    pub fn replay_duplicates() -> bool {
        true
    }
}

/// Why a configuration (or a persistent state under it) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchConfigError {
    #[error("{field} must be greater than zero")]
    Zero { field: &'static str },
    #[error("{count} terminals registered, terminals_max is {max}")]
    TooManyTerminals { count: usize, max: usize },
    #[error("terminal {terminal} is registered twice")]
    DuplicateTerminal { terminal: TerminalId },
    #[error("trades_per_batch_max is {max}; settlement totals count at most {limit}")]
    BatchTooLarge { max: usize, limit: u32 },
    #[error("{field} is {value}, below {required}, what one call can produce")]
    OutputTooSmall { field: &'static str, value: usize, required: usize },
    #[error("{count} quirks, at most {max}")]
    TooManyQuirks { count: usize, max: usize },
    #[error("quirk {index}: {why}")]
    Quirk { index: usize, why: String },
    #[error("the persistent state holds {count} queued reversals, store_forward_max is {max}")]
    StoreForwardOverBound { count: usize, max: usize },
    #[error("the persistent state holds {count} trades to clear, clearing_max is {max}")]
    ClearingOverBound { count: usize, max: usize },
}

/// The network answers 98 after this long without the issuer. A switch
/// waiting less reverses trades the network is still about to answer; that
/// is allowed (a scenario may want it) but not the default.
pub const NETWORK_ISSUER_TIMEOUT_MS: u64 = 30_000;

impl SwitchConfig {
    /// An empty registry, the given keys, and every default.
    pub fn new(
        network_pik: HexKey,
        network_mak: HexKey,
        key_generation_key: HexKey,
    ) -> SwitchConfig {
        SwitchConfig {
            terminals: Vec::new(),
            network_keys: LinkKeysConfig { pik: network_pik, mak: network_mak },
            key_generation_key,
            upstream_timeout_ms: defaults::upstream_timeout_ms(),
            reversal_retry_interval_ms: defaults::reversal_retry_interval_ms(),
            terminals_max: defaults::terminals_max(),
            trades_per_batch_max: defaults::trades_per_batch_max(),
            pending_max: defaults::pending_max(),
            store_forward_max: defaults::store_forward_max(),
            transmits_max: defaults::transmits_max(),
            events_max: defaults::events_max(),
            duplicate_check: defaults::duplicate_check(),
            replay_duplicates: defaults::replay_duplicates(),
            mac_checked_on_0200_only: false,
            clearing_max: defaults::clearing_max(),
            clearing_from_own_approvals: false,
            forward_repeated_reversals: false,
            calendar: Calendar::default(),
            quirks: Vec::new(),
        }
    }

    /// The quirk for this request, if one is set.
    pub fn quirk(&self, terminal: &TerminalId, stan: u32) -> Option<&SwitchQuirk> {
        self.quirks.iter().find(|quirk| quirk.terminal == *terminal && quirk.stan == stan)
    }

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }

    pub fn reversal_retry_interval(&self) -> Duration {
        Duration::from_millis(self.reversal_retry_interval_ms)
    }

    /// Frames one call can emit at most: a timeout sweep answers and
    /// reverses every pending trade and resends every queued reversal.
    fn transmits_per_call_max(&self) -> usize {
        2 * self.pending_max + self.store_forward_max + 2
    }

    /// Events one call can emit at most (four per timed-out trade, one per
    /// resent reversal, a batch upload's entries, and a few more).
    fn events_per_call_max(&self) -> usize {
        4 * self.pending_max
            + self.store_forward_max
            + crate::iso8583::subfields::BatchDetail::ENTRIES_MAX
            + 8
    }

    pub fn validate(&self) -> Result<(), SwitchConfigError> {
        for (field, value) in [
            ("upstream_timeout_ms", self.upstream_timeout_ms as usize),
            ("reversal_retry_interval_ms", self.reversal_retry_interval_ms as usize),
            ("terminals_max", self.terminals_max),
            ("trades_per_batch_max", self.trades_per_batch_max),
            ("pending_max", self.pending_max),
            ("store_forward_max", self.store_forward_max),
            ("clearing_max", self.clearing_max),
        ] {
            if value == 0 {
                return Err(SwitchConfigError::Zero { field });
            }
        }
        if self.terminals.len() > self.terminals_max {
            return Err(SwitchConfigError::TooManyTerminals {
                count: self.terminals.len(),
                max: self.terminals_max,
            });
        }
        let mut seen = BTreeSet::new();
        for terminal in &self.terminals {
            if !seen.insert(terminal.terminal_id) {
                return Err(SwitchConfigError::DuplicateTerminal {
                    terminal: terminal.terminal_id,
                });
            }
        }
        if self.quirks.len() > QUIRKS_MAX {
            return Err(SwitchConfigError::TooManyQuirks {
                count: self.quirks.len(),
                max: QUIRKS_MAX,
            });
        }
        for (index, quirk) in self.quirks.iter().enumerate() {
            let why = if !seen.contains(&quirk.terminal) {
                Some(format!("terminal {} is not registered", quirk.terminal))
            } else if !(1..=999_999).contains(&quirk.stan) {
                Some(format!("stan {} is not 1 to 999999", quirk.stan))
            } else if quirk.answer.is_none()
                && !quirk.sign_in_again_header
                && !quirk.bad_key_check
                && !quirk.not_balanced
            {
                Some(
                    "sets nothing: give answer, sign_in_again_header, bad_key_check or not_balanced"
                        .into(),
                )
            } else {
                None
            };
            if let Some(why) = why {
                return Err(SwitchConfigError::Quirk { index, why });
            }
        }
        if self.trades_per_batch_max > BatchTotals::COUNT_MAX as usize {
            return Err(SwitchConfigError::BatchTooLarge {
                max: self.trades_per_batch_max,
                limit: BatchTotals::COUNT_MAX,
            });
        }
        if self.transmits_max < self.transmits_per_call_max() {
            return Err(SwitchConfigError::OutputTooSmall {
                field: "transmits_max",
                value: self.transmits_max,
                required: self.transmits_per_call_max(),
            });
        }
        if self.events_max < self.events_per_call_max() {
            return Err(SwitchConfigError::OutputTooSmall {
                field: "events_max",
                value: self.events_max,
                required: self.events_per_call_max(),
            });
        }
        Ok(())
    }
}
