//! The network's configuration: its links, its routing table, its timers and
//! the bounds of its tables, checked once by [`NetworkConfig::validate`].

use std::collections::BTreeSet;

use crate::actor::LinkKeys;
use crate::issuer::LinkKeysConfig;
use crate::time::Calendar;

/// The link to one issuer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerLink {
    pub index: u16,
    pub link: LinkKeysConfig,
}

/// Cards whose number starts with `bin_prefix` belong to issuer `issuer`;
/// the longest matching prefix wins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub bin_prefix: String,
    pub issuer: u16,
}

/// The whole configuration of the network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Keys of the link from the acquirer's switch.
    pub switch_link: LinkKeysConfig,
    pub issuers: Vec<IssuerLink>,
    pub routes: Vec<Route>,
    #[serde(default)]
    pub calendar: Calendar,
    /// How long the network waits for an issuer before answering 98 and
    /// reversing on its own. Must be shorter than the switch's upstream
    /// timeout, or the switch gives up first and the 98 finds nobody waiting.
    #[serde(default = "default_issuer_timeout_ms")]
    pub issuer_timeout_ms: u64,
    /// Requests forwarded and not yet answered.
    #[serde(default = "default_pending_max")]
    pub pending_max: usize,
    /// Reversals in the network's custody. New requests are refused (96)
    /// while pending requests plus reversals in custody reach this, so a
    /// timeout always finds room for its reversal.
    #[serde(default = "default_store_forward_max")]
    pub store_forward_max: usize,
    #[serde(default = "default_reversal_retry_interval_ms")]
    pub reversal_retry_interval_ms: u64,
    /// Sends of one reversal before the network gives up on it (an event
    /// says so, and clearing then returns the money).
    #[serde(default = "default_reversal_tries_max")]
    pub reversal_tries_max: u32,
    /// Trades remembered for the end-of-day clearing list.
    #[serde(default = "default_clearing_max")]
    pub clearing_max: usize,
    /// Trades one acquirer's clearing file may name (the switch's own
    /// `clearing_max` by default): a bigger file is refused whole.
    #[serde(default = "default_clearing_file_max")]
    pub clearing_file_max: usize,
    #[serde(default = "default_routes_max")]
    pub routes_max: usize,
    #[serde(default = "default_issuers_max")]
    pub issuers_max: usize,
    /// Frames waiting for `poll_transmit`: a flush after an issuer comes
    /// back may send every reversal in custody at once.
    #[serde(default = "default_transmits_max")]
    pub transmits_max: usize,
    /// Events waiting for `poll_event`.
    #[serde(default = "default_events_max")]
    pub events_max: usize,
}

fn default_issuer_timeout_ms() -> u64 {
    30_000
}
fn default_pending_max() -> usize {
    4096
}
fn default_store_forward_max() -> usize {
    8192
}
fn default_reversal_retry_interval_ms() -> u64 {
    10_000
}
fn default_reversal_tries_max() -> u32 {
    // A day of tries at the default interval: long enough to outlast any
    // outage a healing phase allows.
    8640
}
fn default_clearing_file_max() -> usize {
    1_000_000
}
fn default_clearing_max() -> usize {
    100_000
}
fn default_routes_max() -> usize {
    1024
}
fn default_issuers_max() -> usize {
    100
}
fn default_transmits_max() -> usize {
    transmits_needed(default_store_forward_max())
}
fn default_events_max() -> usize {
    events_needed(default_store_forward_max(), default_issuers_max())
}

/// One timeout answers every pending request (one frame each) and, per
/// reversal in custody, may answer the switch and send to the issuer; pending
/// plus custody never pass `store_forward_max`.
fn transmits_needed(store_forward_max: usize) -> usize {
    2 * store_forward_max + 8
}

/// One timeout emits at most three events per pending request and three per
/// reversal in custody; a clearing one per issuer.
fn events_needed(store_forward_max: usize, issuers_max: usize) -> usize {
    3 * store_forward_max + issuers_max + 16
}

impl NetworkConfig {
    /// A configuration with defaults everywhere but the links and the routes.
    pub fn new(
        switch_link: LinkKeysConfig,
        issuers: Vec<IssuerLink>,
        routes: Vec<Route>,
    ) -> NetworkConfig {
        NetworkConfig {
            switch_link,
            issuers,
            routes,
            calendar: Calendar::default(),
            issuer_timeout_ms: default_issuer_timeout_ms(),
            pending_max: default_pending_max(),
            store_forward_max: default_store_forward_max(),
            reversal_retry_interval_ms: default_reversal_retry_interval_ms(),
            reversal_tries_max: default_reversal_tries_max(),
            clearing_max: default_clearing_max(),
            clearing_file_max: default_clearing_file_max(),
            routes_max: default_routes_max(),
            issuers_max: default_issuers_max(),
            transmits_max: default_transmits_max(),
            events_max: default_events_max(),
        }
    }

    /// Checks everything the state machine later asserts.
    pub fn validate(&self) -> Result<ValidNetworkConfig, NetworkConfigError> {
        let switch = self.switch_link.link_keys();
        if self.issuers.len() > self.issuers_max {
            return Err(NetworkConfigError::TooMany {
                what: "issuers",
                count: self.issuers.len(),
                max: self.issuers_max,
            });
        }
        if self.routes.len() > self.routes_max {
            return Err(NetworkConfigError::TooMany {
                what: "routes",
                count: self.routes.len(),
                max: self.routes_max,
            });
        }
        let mut issuers = Vec::with_capacity(self.issuers.len());
        let mut indexes = BTreeSet::new();
        for issuer in &self.issuers {
            if !indexes.insert(issuer.index) {
                return Err(NetworkConfigError::DuplicateIssuer { index: issuer.index });
            }
            let keys = issuer.link.link_keys();
            issuers.push((issuer.index, keys));
        }
        let mut prefixes = BTreeSet::new();
        for route in &self.routes {
            let prefix = &route.bin_prefix;
            if prefix.is_empty() || prefix.len() > 12 || !prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(NetworkConfigError::BadPrefix { prefix: prefix.clone() });
            }
            if !prefixes.insert(prefix.clone()) {
                return Err(NetworkConfigError::DuplicatePrefix { prefix: prefix.clone() });
            }
            if !indexes.contains(&route.issuer) {
                return Err(NetworkConfigError::RouteToNowhere {
                    prefix: prefix.clone(),
                    issuer: route.issuer,
                });
            }
        }
        let zero = [
            ("issuer_timeout_ms", self.issuer_timeout_ms == 0),
            ("pending_max", self.pending_max == 0),
            ("store_forward_max", self.store_forward_max == 0),
            ("reversal_retry_interval_ms", self.reversal_retry_interval_ms == 0),
            ("reversal_tries_max", self.reversal_tries_max == 0),
            ("clearing_max", self.clearing_max == 0),
            ("clearing_file_max", self.clearing_file_max == 0),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(NetworkConfigError::Zero { name });
        }
        if self.pending_max > self.store_forward_max {
            return Err(NetworkConfigError::TooSmall {
                name: "store_forward_max",
                value: self.store_forward_max,
                needed: self.pending_max,
            });
        }
        let transmits = transmits_needed(self.store_forward_max);
        if self.transmits_max < transmits {
            return Err(NetworkConfigError::TooSmall {
                name: "transmits_max",
                value: self.transmits_max,
                needed: transmits,
            });
        }
        let events = events_needed(self.store_forward_max, self.issuers_max);
        if self.events_max < events {
            return Err(NetworkConfigError::TooSmall {
                name: "events_max",
                value: self.events_max,
                needed: events,
            });
        }
        Ok(ValidNetworkConfig { switch, issuers })
    }
}

/// What validation derived from the text of the configuration.
#[derive(Debug, Clone)]
pub struct ValidNetworkConfig {
    pub(crate) switch: LinkKeys,
    pub(crate) issuers: Vec<(u16, LinkKeys)>,
}

/// Why a network configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkConfigError {
    #[error("{count} {what} configured, over the maximum {max}")]
    TooMany { what: &'static str, count: usize, max: usize },
    #[error("issuer {index} is configured twice")]
    DuplicateIssuer { index: u16 },
    #[error("bin prefix {prefix:?} is not 1 to 12 digits")]
    BadPrefix { prefix: String },
    #[error("bin prefix {prefix:?} is routed twice")]
    DuplicatePrefix { prefix: String },
    #[error("bin prefix {prefix:?} routes to issuer {issuer}, which has no link")]
    RouteToNowhere { prefix: String, issuer: u16 },
    #[error("{name} must be at least 1")]
    Zero { name: &'static str },
    #[error("{name} is {value}; the other bounds need at least {needed}")]
    TooSmall { name: &'static str, value: usize, needed: usize },
}
