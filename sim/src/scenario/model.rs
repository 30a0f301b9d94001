//! The scenario file's schema: what a run is built from. Every struct refuses
//! unknown keys; every default is the safe, mild choice. `docs/SCENARIOS.md`
//! documents each section with an example.

use std::collections::BTreeMap;

use possim_models::iso8583::values::{MerchantId, Pan, TerminalId};
use possim_models::issuer::{CardStatus, IssuerLimits, IssuerPolicy};
use possim_models::terminal::TerminalConfig;
use serde::{Deserialize, Serialize};

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub run: RunSettings,
    pub merchants: Vec<Merchant>,
    /// Terminals one by one.
    #[serde(default)]
    pub terminals: Vec<TerminalSpec>,
    /// Many alike terminals at once (ids `prefix` + a number).
    #[serde(default)]
    pub terminal_groups: Vec<TerminalGroup>,
    pub issuers: Vec<IssuerSpec>,
    /// Cards one by one.
    #[serde(default)]
    pub cards: Vec<CardSpec>,
    /// Many alike cards at once.
    #[serde(default)]
    pub card_groups: Vec<CardGroup>,
    #[serde(default)]
    pub switch: SwitchSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    /// Line profiles by name; terminals name one. `clean` always exists.
    #[serde(default)]
    pub links: BTreeMap<String, LineProfile>,
    /// Latency between network elements.
    #[serde(default)]
    pub backbone: Backbone,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub faults: FaultPlan,
    #[serde(default)]
    pub expect: Expectations,
    /// A certification case: expected steps and outcome (`possim certify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<super::case::Case>,
}

/// Phases and clocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// The seed when the command line gives none.
    pub seed: u64,
    /// Turmoil's fixed step: every host advances this much per step, idle or not.
    pub tick_ms: u64,
    /// The safety phase: trading under faults.
    pub safety_ms: u64,
    /// The healing bound: with every fault stopped, the system must converge
    /// (reversals acknowledged, offline trades uploaded, batches settled and
    /// balanced) within this.
    pub healing_max_ms: u64,
    /// Business calendar start, `MM-DD`; the run starts at midnight.
    pub start_date: String,
    /// Business hour the trading day starts (terminals sign in then).
    pub open_hour: u8,
}

impl Default for RunSettings {
    fn default() -> RunSettings {
        RunSettings {
            seed: 0,
            tick_ms: 5,
            safety_ms: 600_000,
            healing_max_ms: 600_000,
            start_date: "11-21".into(),
            open_hour: 9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merchant {
    pub id: MerchantId,
    #[serde(default)]
    pub name: String,
}

/// One terminal. Its `config` takes any `TerminalConfig` field (timeouts,
/// bounds, battery, and the policies); its identity and TMK come from here,
/// and `config`'s own `terminal_id`, `merchant_id` and `tmk` are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSpec {
    pub id: TerminalId,
    pub merchant: MerchantId,
    /// The terminal farm (simulated host) it lives in.
    #[serde(default = "default_farm")]
    pub farm: String,
    /// A line profile from `links`.
    #[serde(default = "default_link")]
    pub link: String,
    /// Hex; 16 digits for key mode 001, 32 for 003 and 004.
    pub tmk: String,
    #[serde(default)]
    pub config: TerminalConfig,
    /// Whether the host knows the terminal (its key and merchant). `false`:
    /// a terminal the switch was never told of, so it answers it 97; what a
    /// certification case needs to see a host refuse a stranger.
    #[serde(default = "registered_by_default", skip_serializing_if = "is_true")]
    pub registered: bool,
}

fn registered_by_default() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// Many terminals alike: ids are `prefix` followed by a zero-padded number
/// filling the 8 characters, from 1 to `count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalGroup {
    pub prefix: String,
    pub count: u32,
    pub merchant: MerchantId,
    #[serde(default = "default_farm")]
    pub farm: String,
    #[serde(default = "default_link")]
    pub link: String,
    pub tmk: String,
    #[serde(default)]
    pub config: TerminalConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    pub index: u16,
    #[serde(default)]
    pub name: String,
    /// Card number prefixes the network routes to this issuer.
    pub bins: Vec<String>,
    #[serde(default)]
    pub limits: Option<IssuerLimits>,
    #[serde(default)]
    pub policy: Option<IssuerPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSpec {
    pub pan: Pan,
    pub balance_fen: i64,
    #[serde(default = "default_pin")]
    pub pin: String,
    #[serde(default)]
    pub offline_balance_fen: i64,
    #[serde(default = "default_status")]
    pub status: CardStatus,
    /// `YYMM`.
    #[serde(default)]
    pub expiry: Option<String>,
    /// Whether the drawn workload picks this card (default). `false`: only
    /// the script uses it — a lost card or one whose PIN gets locked, kept
    /// for its scripted declines, which drawn trades would otherwise hit
    /// at random and change the day around them.
    #[serde(default = "default_drawn")]
    pub drawn: bool,
}

fn default_drawn() -> bool {
    true
}

/// `count` cards whose numbers start with `bin`, numbered from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardGroup {
    pub bin: String,
    pub count: u32,
    pub balance_fen: i64,
    #[serde(default)]
    pub offline_balance_fen: i64,
    #[serde(default = "default_pin")]
    pub pin: String,
    /// Digits of each card number (12 to 19).
    #[serde(default = "default_pan_length")]
    pub pan_length: u8,
}

/// Switch settings a scenario may change; each absent one keeps the
/// switch's default. Registry and keys are derived from the scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwitchSpec {
    pub upstream_timeout_ms: Option<u64>,
    pub reversal_retry_interval_ms: Option<u64>,
    pub pending_max: Option<usize>,
    pub store_forward_max: Option<usize>,
    /// Policy: answer a repeated request 94 (safe) or forward it again.
    pub duplicate_check: Option<bool>,
    /// A copy of an answered request gets the original's answer again
    /// (default) or, `false`, a bare 94 as many hosts send.
    pub replay_duplicates: Option<bool>,
    /// Policy: check the MAC of every MAC'd message (default, safe) or,
    /// `true`, of 0200s only: reversals and advices taken unchecked.
    pub mac_checked_on_0200_only: Option<bool>,
    /// Policy: the acquirer's clearing file holds what its terminals
    /// settled (default, safe) or, `true`, every approval the switch
    /// recorded, so a trade whose terminal gave up its reversal is cleared.
    pub clearing_from_own_approvals: Option<bool>,
    /// Policy: a terminal's repeated reversal is answered from the switch's
    /// own record (default, safe) or, `true`, passed upstream again, which
    /// credits twice at an issuer whose reversal is not idempotent.
    pub forward_repeated_reversals: Option<bool>,
    /// Scripted misbehaviours toward single requests (certification):
    /// `{terminal, stan, answer: "77"}`, `sign_in_again_header: true`,
    /// `bad_key_check: true`.
    pub quirks: Vec<possim_models::switch::SwitchQuirk>,
}

/// Network settings a scenario may change; each absent one keeps the
/// network's default. Links and routes are derived from the scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    pub issuer_timeout_ms: Option<u64>,
    pub reversal_retry_interval_ms: Option<u64>,
    pub reversal_tries_max: Option<u32>,
    pub pending_max: Option<usize>,
    pub store_forward_max: Option<usize>,
}

/// A range of milliseconds, drawn uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeMs {
    pub min: u64,
    pub max: u64,
}

/// How one terminal's line misbehaves: dial-up, GPRS, ... Applied by the
/// deterministic shim around the terminal's connection, with its own seeded
/// random stream. Rates are per hour of simulated time, or per frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineProfile {
    /// One-way latency per frame.
    pub latency_ms: RangeMs,
    /// The line goes silent (every frame either way lost) for a while.
    pub blackholes_per_hour: f64,
    pub blackhole_ms: RangeMs,
    /// The connection is reset (the terminal reconnects).
    pub resets_per_hour: f64,
    /// Chance per frame of a duplicate delivery.
    pub duplicate_per_frame: f64,
    /// Chance per frame of one flipped bit (the MAC must catch it).
    pub corrupt_per_frame: f64,
    /// Chance per frame of a drop.
    pub drop_per_frame: f64,
}

impl Default for LineProfile {
    fn default() -> LineProfile {
        LineProfile {
            latency_ms: RangeMs { min: 20, max: 60 },
            blackholes_per_hour: 0.0,
            blackhole_ms: RangeMs { min: 1_000, max: 10_000 },
            resets_per_hour: 0.0,
            duplicate_per_frame: 0.0,
            corrupt_per_frame: 0.0,
            drop_per_frame: 0.0,
        }
    }
}

/// One-way latency between network elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backbone {
    pub switch_network_ms: u64,
    pub network_issuer_ms: u64,
}

impl Default for Backbone {
    fn default() -> Backbone {
        Backbone { switch_network_ms: 10, network_issuer_ms: 10 }
    }
}

/// Trade mix weights (relative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradeMix {
    pub sale: u32,
    pub inquiry: u32,
    pub void: u32,
    pub refund: u32,
    pub pre_auth: u32,
    pub offline_sale: u32,
    pub ecash: u32,
}

impl Default for TradeMix {
    fn default() -> TradeMix {
        TradeMix {
            sale: 80,
            inquiry: 5,
            void: 5,
            refund: 0,
            pre_auth: 0,
            offline_sale: 5,
            ecash: 5,
        }
    }
}

/// The cashier's habits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cashier {
    /// After a failed sale, sells again (the terminal's own policy decides
    /// whether the pending reversal goes first).
    pub retry_after_failure: bool,
    /// After a printer fault is fixed, reprints the slips owed.
    pub reprint_after_printer_fault: bool,
    /// Settles at the end of the safety phase.
    pub settle_at_end: bool,
    /// After a lost answer, presses "send pending" this long after.
    pub send_pending_after_ms: u64,
    /// Settles this often during the day (0: only at the end); refunds need
    /// a sale of an earlier batch.
    pub settle_every_ms: u64,
}

impl Default for Cashier {
    fn default() -> Cashier {
        Cashier {
            retry_after_failure: false,
            reprint_after_printer_fault: true,
            settle_at_end: true,
            send_pending_after_ms: 120_000,
            settle_every_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Cardholders arriving at each terminal per hour (Poisson).
    pub arrivals_per_terminal_per_hour: f64,
    pub mix: TradeMix,
    /// Trade amounts, uniform.
    pub amount_fen: RangeFen,
    /// Share of online trades the cardholder enters a wrong PIN for.
    pub wrong_pin_per_trade: f64,
    pub cashier: Cashier,
    /// Trades placed exactly, on top of the random arrivals (a scripted
    /// scenario sets `arrivals_per_terminal_per_hour: 0`): what the
    /// certification cases and shrunk repros use, so that they replay
    /// without depending on the seed.
    pub script: Vec<ScriptedTrade>,
    /// The cashier's commands placed exactly (settle, reprint, a void of a
    /// given trade, ...): what the certification cases script beside trades.
    pub commands: Vec<ScriptedCommand>,
    /// What follows a drawn pre-auth.
    pub pre_auth_follow_up: PreAuthFollowUp,
}

/// What the merchant does after a drawn pre-auth (the hotel guest leaves,
/// the car comes back): relative weights of completing it (online or as
/// an advice), cancelling it, or doing nothing (the issuer lets the hold
/// lapse), after a delay drawn in `after_ms`. A completion's amount is
/// drawn from 85 % to 115 % of the hold (CUP's allowance over it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreAuthFollowUp {
    pub completion: u32,
    pub completion_advice: u32,
    pub cancel: u32,
    pub nothing: u32,
    pub after_ms: RangeMs,
}

impl Default for PreAuthFollowUp {
    fn default() -> PreAuthFollowUp {
        PreAuthFollowUp {
            completion: 6,
            completion_advice: 1,
            cancel: 2,
            nothing: 1,
            after_ms: RangeMs { min: 30_000, max: 300_000 },
        }
    }
}

/// A cashier's command at one terminal at a given time of the safety phase.
/// Written as one mapping: `at_ms`, `terminal`, `command` and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptedCommand {
    pub at_ms: u64,
    pub terminal: TerminalId,
    #[serde(flatten)]
    pub command: CashierCommand,
}

impl<'de> Deserialize<'de> for ScriptedCommand {
    // As `ScheduledFault`: the own keys are taken out, the rest must be
    // exactly one `CashierCommand`, unknown keys refused.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::deserialize(deserializer)?;
        let at_ms = map.remove("at_ms").ok_or_else(|| D::Error::missing_field("at_ms"))?;
        let at_ms =
            u64::deserialize(at_ms).map_err(|error| D::Error::custom(format!("at_ms: {error}")))?;
        let terminal = match map.remove("terminal") {
            Some(serde_json::Value::Number(number)) => {
                serde_json::Value::String(number.to_string())
            }
            Some(value) => value,
            None => return Err(D::Error::missing_field("terminal")),
        };
        let terminal = TerminalId::deserialize(terminal)
            .map_err(|error| D::Error::custom(format!("terminal: {error}")))?;
        let command = tagged_from_map(map)?;
        Ok(ScriptedCommand { at_ms, terminal, command })
    }
}

/// What the cashier does at the terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command", deny_unknown_fields)]
pub enum CashierCommand {
    Settle,
    /// The "send pending" menu item: the reversal and offline uploads now.
    SendPending,
    ReprintLast,
    ReprintByStan {
        stan: u32,
    },
    DetailList,
    /// The echo test (0820, 60.3 = 301): is the host there?
    Echo,
    /// Sign off by hand (0820, 60.3 = 002); a terminal configured with
    /// `sign_off_after_settlement` does it after every settlement.
    SignOff,
    /// Voids the trade `stan` of batch `batch` (the terminal refuses one of
    /// another batch).
    Void {
        batch: u32,
        stan: u32,
        amount_fen: u64,
    },
}

/// The kinds of trade a cardholder can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeChoice {
    Sale,
    Inquiry,
    /// Voids the terminal's latest approved, not voided sale or completion
    /// of its batch (a completion by a completion void).
    Void,
    /// Refunds the card's latest sale of an earlier batch.
    Refund,
    /// A drawn pre-auth is followed, after a drawn delay, by its
    /// completion, completion advice, cancel or nothing
    /// ([`PreAuthFollowUp`]); a scripted one by what the script says.
    PreAuth,
    OfflineSale,
    Ecash,
    /// Scripted only: completes the terminal's oldest open pre-auth for
    /// `amount_fen`.
    Completion,
    /// Scripted only: the same as an advice (0220).
    CompletionAdvice,
    /// Scripted only: cancels the terminal's oldest open pre-auth.
    PreAuthCancel,
}

impl TradeChoice {
    /// The drawn choices, in the order of [`TradeMix`]'s weights.
    pub const ALL: [TradeChoice; 7] = [
        TradeChoice::Sale,
        TradeChoice::Inquiry,
        TradeChoice::Void,
        TradeChoice::Refund,
        TradeChoice::PreAuth,
        TradeChoice::OfflineSale,
        TradeChoice::Ecash,
    ];
}

/// One cardholder at one terminal at a given time of the safety phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTrade {
    /// From the start of the safety phase, like scheduled faults.
    pub at_ms: u64,
    pub terminal: TerminalId,
    pub trade: TradeChoice,
    /// The card's PAN; it must be one of the scenario's cards.
    pub card: Pan,
    #[serde(default = "default_scripted_amount")]
    pub amount_fen: u64,
    /// The cardholder enters a wrong PIN.
    #[serde(default)]
    pub wrong_pin: bool,
}

fn default_scripted_amount() -> u64 {
    10_000
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            arrivals_per_terminal_per_hour: 30.0,
            mix: TradeMix::default(),
            amount_fen: RangeFen { min: 100, max: 200_000 },
            wrong_pin_per_trade: 0.0,
            cashier: Cashier::default(),
            script: Vec::new(),
            commands: Vec::new(),
            pre_auth_follow_up: PreAuthFollowUp::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeFen {
    pub min: u64,
    pub max: u64,
}

/// A host or link between network elements, by name: `switch`, `network`,
/// `issuer-0`, ...
pub type HostName = String;

/// A fault at a fixed time of the safety phase. Written as one mapping:
/// `at_ms`, `kind`, and the kind's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduledFault {
    pub at_ms: u64,
    #[serde(flatten)]
    pub fault: Fault,
}

impl<'de> Deserialize<'de> for ScheduledFault {
    // Not derived: serde's `flatten` hands the fault every key but the
    // struct's own, and refuses `deny_unknown_fields` next to it, so a
    // misspelt key would be ignored. Here `at_ms` is taken out and the rest
    // must be exactly one `Fault`, unknown keys refused.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::deserialize(deserializer)?;
        let at_ms = map.remove("at_ms").ok_or_else(|| D::Error::missing_field("at_ms"))?;
        let at_ms =
            u64::deserialize(at_ms).map_err(|error| D::Error::custom(format!("at_ms: {error}")))?;
        let fault = tagged_from_map(map)?;
        Ok(ScheduledFault { at_ms, fault })
    }
}

/// An internally tagged fault from its buffered mapping. serde buffers such
/// a mapping as generic values either way; doing it here lets an all-digit
/// terminal id or host name, which a generic value holds as a number, be
/// given back as the text the typed field wants.
fn tagged_from_map<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    mut map: serde_json::Map<String, serde_json::Value>,
) -> Result<T, E> {
    for key in ["terminal", "host"] {
        if let Some(serde_json::Value::Number(number)) = map.get(key) {
            let text = number.to_string();
            map.insert(key.to_owned(), serde_json::Value::String(text));
        }
    }
    T::deserialize(serde_json::Value::Object(map)).map_err(E::custom)
}

/// The protocol faults of a plan, each read through [`tagged_from_map`].
fn protocol_faults<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ProtocolFault>, D::Error> {
    struct Item(ProtocolFault);
    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let map = serde_json::Map::deserialize(deserializer)?;
            tagged_from_map(map).map(Item)
        }
    }
    let items = Vec::<Item>::deserialize(deserializer)?;
    Ok(items.into_iter().map(|item| item.0).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Fault {
    /// No traffic between two elements for a while (turmoil partition/repair).
    Partition {
        between: [HostName; 2],
        for_ms: u64,
    },
    /// Traffic between two elements held, then released (brown-out).
    Hold {
        between: [HostName; 2],
        for_ms: u64,
    },
    /// A host crashes and restarts with its persistent state.
    Crash {
        host: HostName,
        restart_after_ms: u64,
    },
    /// The network marks an issuer inoperative (91).
    IssuerDown {
        issuer: u16,
        for_ms: u64,
    },
    /// An issuer stops answering (the network times out: 98).
    IssuerSilent {
        issuer: u16,
        for_ms: u64,
    },
    /// The date cutoff window at the network (90).
    Cutoff {
        for_ms: u64,
    },
    /// A terminal loses power, and comes back after `off_ms`.
    PowerCut {
        terminal: TerminalId,
        off_ms: u64,
    },
    Printer {
        terminal: TerminalId,
        state: PrinterFault,
        fixed_after_ms: u64,
    },
    Tamper {
        terminal: TerminalId,
        unlock_after_ms: u64,
    },
    /// The battery drains to `percent`.
    Battery {
        terminal: TerminalId,
        percent: u8,
    },
    /// A terminal's line goes silent.
    Blackhole {
        terminal: TerminalId,
        for_ms: u64,
    },
    /// A terminal's connection is reset.
    Reset {
        terminal: TerminalId,
    },
    /// A terminal is broken and swapped for a new device: journal, offline
    /// queue, pending reversal and keys are lost; batch number and STAN
    /// counter continue (the acquirer loads them).
    Replace {
        terminal: TerminalId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterFault {
    OutOfPaper,
    Jam,
    CoverOpen,
}

/// Where exactly a protocol-aware fault lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerPhase {
    /// Just after the terminal's request left.
    AfterRequestLeft,
    /// Just after the issuer approved (the answer is on its way back).
    AfterIssuerApproved,
    /// During the batch upload of a settlement.
    MidBatchUpload,
    /// The reversal (0400) of the placement's trade has left and its 0410
    /// has not arrived.
    WhileReversalInFlight,
    /// The placement's `trade`-th settlement request (0500) has left and its
    /// 0510 has not arrived.
    WhileSettlementInFlight,
    /// The placement's `trade`-th offline upload (an offline trade's 0220
    /// advice) has left and its answer has not arrived.
    DuringOfflineUpload,
    /// The placement's `trade`-th sign-in (0800) has left and its 0810 has
    /// not arrived.
    DuringSignIn,
}

impl PowerPhase {
    /// Whether `trade` counts this phase's own occurrences (the Nth 0500,
    /// offline upload or 0800) rather than the Nth online trade.
    pub const fn counts_occurrences(self) -> bool {
        matches!(
            self,
            PowerPhase::WhileSettlementInFlight
                | PowerPhase::DuringOfflineUpload
                | PowerPhase::DuringSignIn
        )
    }
}

/// A fault placed by the protocol: it lands on the `trade`-th online trade
/// (1-based) of `terminal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum ProtocolFault {
    /// The answer to that trade is dropped on the terminal's line.
    DropAnswer { terminal: TerminalId, trade: u32 },
    /// The request itself is dropped.
    DropRequest { terminal: TerminalId, trade: u32 },
    /// The answer is delayed to the terminal's response timeout plus
    /// `offset_ms` (negative: just before it).
    DelayAnswer { terminal: TerminalId, trade: u32, offset_ms: i64 },
    /// The answer's MAC is corrupted.
    CorruptAnswer { terminal: TerminalId, trade: u32 },
    /// The request is delivered twice: the copy 1 ms after the original, or
    /// `after_ms` after it (a late replay the switch has already answered).
    DuplicateRequest {
        terminal: TerminalId,
        trade: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        after_ms: u64,
    },
    /// Every reversal the terminal sends is dropped until healing.
    DropReversals { terminal: TerminalId },
    /// The settlement answer (0510) is dropped.
    DropSettlementAnswer { terminal: TerminalId },
    /// The terminal loses power at `phase` of that trade (or of its first
    /// batch upload), for `off_ms`. For `while_reversal_in_flight`, as the
    /// 0400 of that trade leaves; for `while_settlement_in_flight`,
    /// `during_offline_upload` and `during_sign_in`, `trade` counts that
    /// phase's own frames: the `trade`-th 0500, offline upload or 0800.
    PowerOff { terminal: TerminalId, trade: u32, phase: PowerPhase, off_ms: u64 },
    /// The switch crashes at the first moment its store-and-forward holds a
    /// reversal of a trade of `terminal`, and restarts with its persistent
    /// state `restart_after_ms` later.
    SwitchCrashWithReversalsQueued { terminal: TerminalId, restart_after_ms: u64 },
    /// The network's date cutoff window starts as `terminal`'s first
    /// settlement request (0500) leaves, and ends `for_ms` later.
    CutoffDuringSettlement { terminal: TerminalId, for_ms: u64 },
    /// Live only: the connection is closed once that trade's request has
    /// arrived (`serve`) or left (`drive`); the answer is lost.
    ResetAfterRequest { terminal: TerminalId, trade: u32 },
    /// Live only (`serve`): the host answers that trade with `code` itself
    /// (one of 22, 77, 90, 91, 96, 99, A0) instead of forwarding it.
    AnswerCode { terminal: TerminalId, trade: u32, code: String },
    /// The answer to the terminal's first settlement says "not balanced",
    /// whatever the totals: the host's own count disagrees, so the terminal
    /// must upload its batch. In the simulated world the switch is told as
    /// the 0500 leaves; live, `serve` answers so itself.
    SettlementUnbalanced { terminal: TerminalId },
    /// Live only (`drive`): that trade's request leaves with a wrong MAC.
    CorruptRequest { terminal: TerminalId, trade: u32 },
    /// Live only (`drive`): after that trade, the terminal sends a reversal
    /// of a trade it never sent.
    ReverseUnknown { terminal: TerminalId, trade: u32 },
    /// Live only (`drive`): every offline upload is sent twice.
    DuplicateUploads { terminal: TerminalId },
    /// The terminal is knocked into its tamper lock as that trade's request
    /// leaves; a technician keys in the unlock password `unlock_after_ms`
    /// later and the cashier then does what the terminal asks (a terminal
    /// that keeps its keys asks for no sign-in). A scheduled `tamper` signs
    /// in after unlocking whatever the terminal says.
    Tamper { terminal: TerminalId, trade: u32, unlock_after_ms: u64 },
    /// The switch answers the terminal's `trade`-th offline upload (an
    /// offline trade's advice, counting every send) 79, "offline data did
    /// not reconcile", instead of taking it; its copies sent again with the
    /// same STAN too. The switch is told as the upload leaves.
    UploadNotReconciled { terminal: TerminalId, trade: u32 },
    /// The switch's count disagrees with the terminal's first settlement
    /// (as `settlement_unbalanced`), and it answers the end of the batch
    /// upload that follows 95, "reconciliation error": the terminal must
    /// upload its batch again. The switch is told as each message leaves.
    ReconciliationError { terminal: TerminalId },
    /// The `frame`-th frame (1-based, every frame counted) on the terminal's
    /// line in `direction` gets `action`: what a random per-frame fault of a
    /// line profile becomes in a shrunk repro, so it replays without the seed.
    Frame {
        terminal: TerminalId,
        direction: LineDirection,
        frame: u32,
        action: FrameAction,
        /// `delay`: the frame arrives this long after it was sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
        /// `corrupt`: the byte to flip, as an index into the frame as sent
        /// (its first two bytes are the length, so 2 or more), and the bit;
        /// by default bit 0 of the last byte, inside the MAC.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        byte: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bit: Option<u8>,
    },
}

/// Which way a frame goes on a terminal's line (defined with the trace,
/// which records it).
pub use crate::trace::LineDirection;

/// What a placed frame fault does to its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameAction {
    Drop,
    Duplicate,
    Corrupt,
    Delay,
}

impl Fault {
    /// The terminal the fault hits, if it hits one (not a link or a host).
    pub fn terminal(&self) -> Option<&TerminalId> {
        match self {
            Fault::PowerCut { terminal, .. }
            | Fault::Printer { terminal, .. }
            | Fault::Tamper { terminal, .. }
            | Fault::Battery { terminal, .. }
            | Fault::Blackhole { terminal, .. }
            | Fault::Reset { terminal }
            | Fault::Replace { terminal } => Some(terminal),
            Fault::Partition { .. }
            | Fault::Hold { .. }
            | Fault::Crash { .. }
            | Fault::IssuerDown { .. }
            | Fault::IssuerSilent { .. }
            | Fault::Cutoff { .. } => None,
        }
    }
}

impl ProtocolFault {
    /// The terminal the fault is placed on.
    pub fn terminal(&self) -> TerminalId {
        *self.clone().terminal_mut()
    }

    /// The terminal the fault is placed on, to move it (exploration does).
    pub fn terminal_mut(&mut self) -> &mut TerminalId {
        match self {
            ProtocolFault::DropAnswer { terminal, .. }
            | ProtocolFault::DropRequest { terminal, .. }
            | ProtocolFault::DelayAnswer { terminal, .. }
            | ProtocolFault::CorruptAnswer { terminal, .. }
            | ProtocolFault::DuplicateRequest { terminal, .. }
            | ProtocolFault::DropReversals { terminal }
            | ProtocolFault::DropSettlementAnswer { terminal }
            | ProtocolFault::PowerOff { terminal, .. }
            | ProtocolFault::SwitchCrashWithReversalsQueued { terminal, .. }
            | ProtocolFault::CutoffDuringSettlement { terminal, .. }
            | ProtocolFault::ResetAfterRequest { terminal, .. }
            | ProtocolFault::AnswerCode { terminal, .. }
            | ProtocolFault::SettlementUnbalanced { terminal }
            | ProtocolFault::CorruptRequest { terminal, .. }
            | ProtocolFault::ReverseUnknown { terminal, .. }
            | ProtocolFault::DuplicateUploads { terminal }
            | ProtocolFault::Tamper { terminal, .. }
            | ProtocolFault::UploadNotReconciled { terminal, .. }
            | ProtocolFault::ReconciliationError { terminal }
            | ProtocolFault::Frame { terminal, .. } => terminal,
        }
    }

    /// The trade (from 1) the fault lands on, for the kinds placed on one.
    pub fn trade(&self) -> Option<u32> {
        self.clone().trade_mut().copied()
    }

    /// The trade the fault lands on, to move it (exploration does).
    pub fn trade_mut(&mut self) -> Option<&mut u32> {
        match self {
            ProtocolFault::DropAnswer { trade, .. }
            | ProtocolFault::DropRequest { trade, .. }
            | ProtocolFault::DelayAnswer { trade, .. }
            | ProtocolFault::CorruptAnswer { trade, .. }
            | ProtocolFault::DuplicateRequest { trade, .. }
            | ProtocolFault::PowerOff { trade, .. }
            | ProtocolFault::ResetAfterRequest { trade, .. }
            | ProtocolFault::AnswerCode { trade, .. }
            | ProtocolFault::CorruptRequest { trade, .. }
            | ProtocolFault::ReverseUnknown { trade, .. }
            | ProtocolFault::Tamper { trade, .. }
            | ProtocolFault::UploadNotReconciled { trade, .. } => Some(trade),
            ProtocolFault::DropReversals { .. }
            | ProtocolFault::DropSettlementAnswer { .. }
            | ProtocolFault::SettlementUnbalanced { .. }
            | ProtocolFault::SwitchCrashWithReversalsQueued { .. }
            | ProtocolFault::CutoffDuringSettlement { .. }
            | ProtocolFault::DuplicateUploads { .. }
            | ProtocolFault::ReconciliationError { .. }
            | ProtocolFault::Frame { .. } => None,
        }
    }

    /// The kind as the scenario writes it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ProtocolFault::DropAnswer { .. } => "drop_answer",
            ProtocolFault::DropRequest { .. } => "drop_request",
            ProtocolFault::DelayAnswer { .. } => "delay_answer",
            ProtocolFault::CorruptAnswer { .. } => "corrupt_answer",
            ProtocolFault::DuplicateRequest { .. } => "duplicate_request",
            ProtocolFault::DropReversals { .. } => "drop_reversals",
            ProtocolFault::DropSettlementAnswer { .. } => "drop_settlement_answer",
            ProtocolFault::PowerOff { .. } => "power_off",
            ProtocolFault::SwitchCrashWithReversalsQueued { .. } => {
                "switch_crash_with_reversals_queued"
            }
            ProtocolFault::CutoffDuringSettlement { .. } => "cutoff_during_settlement",
            ProtocolFault::ResetAfterRequest { .. } => "reset_after_request",
            ProtocolFault::AnswerCode { .. } => "answer_code",
            ProtocolFault::SettlementUnbalanced { .. } => "settlement_unbalanced",
            ProtocolFault::CorruptRequest { .. } => "corrupt_request",
            ProtocolFault::ReverseUnknown { .. } => "reverse_unknown",
            ProtocolFault::DuplicateUploads { .. } => "duplicate_uploads",
            ProtocolFault::Tamper { .. } => "tamper",
            ProtocolFault::UploadNotReconciled { .. } => "upload_not_reconciled",
            ProtocolFault::ReconciliationError { .. } => "reconciliation_error",
            ProtocolFault::Frame { .. } => "frame",
        }
    }

    /// Where its fault records are kept: the terminal's trimmed id, or the
    /// host it hits (`switch`, `network`) for the kinds placed on a
    /// terminal's moment but landing on a host.
    pub fn record_target(&self) -> String {
        match self {
            ProtocolFault::SwitchCrashWithReversalsQueued { .. } => "switch".into(),
            ProtocolFault::CutoffDuringSettlement { .. } => "network".into(),
            _ => self.terminal().trimmed().to_string(),
        }
    }

    /// Whether the kind exists only in the simulated world: `possim serve`
    /// and `possim drive` cannot crash the switch or start a cutoff, nor
    /// see a reversal, a settlement, an upload or a sign-in in flight.
    pub fn is_simulated_only(&self) -> bool {
        match self {
            ProtocolFault::PowerOff { phase, .. } => !matches!(
                phase,
                PowerPhase::AfterRequestLeft
                    | PowerPhase::AfterIssuerApproved
                    | PowerPhase::MidBatchUpload
            ),
            ProtocolFault::SwitchCrashWithReversalsQueued { .. }
            | ProtocolFault::CutoffDuringSettlement { .. }
            | ProtocolFault::Tamper { .. }
            | ProtocolFault::UploadNotReconciled { .. }
            | ProtocolFault::ReconciliationError { .. } => true,
            _ => false,
        }
    }

    /// Whether the kind exists only on a real socket (`possim serve` /
    /// `possim drive`); the simulated world refuses it.
    pub fn is_live_only(&self) -> bool {
        matches!(
            self,
            ProtocolFault::ResetAfterRequest { .. }
                | ProtocolFault::AnswerCode { .. }
                | ProtocolFault::CorruptRequest { .. }
                | ProtocolFault::ReverseUnknown { .. }
                | ProtocolFault::DuplicateUploads { .. }
        )
    }
}

/// The codes an `answer_code` fault may answer: the host's own refusals,
/// which it gives without asking the issuer.
pub const LIVE_ANSWER_CODES: [&str; 7] = ["22", "77", "90", "91", "96", "99", "A0"];

/// Swarm mode's bounds: each seed draws its own rates within them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmBounds {
    pub blackholes_per_hour: [f64; 2],
    pub resets_per_hour: [f64; 2],
    pub drop_per_frame: [f64; 2],
    pub duplicate_per_frame: [f64; 2],
    pub corrupt_per_frame: [f64; 2],
    pub power_cuts_per_hour: [f64; 2],
    pub printer_faults_per_hour: [f64; 2],
    pub partitions_per_hour: [f64; 2],
    pub switch_crashes_per_hour: [f64; 2],
    /// Protocol-aware faults each seed places on drawn trades and phases.
    pub placed: SwarmPlaced,
}

/// What swarm mode places on trades (the "buggify" of a protocol): a rate
/// of line faults rarely lands a drop exactly on a reversal or a power cut
/// exactly between a request and its answer, where money is lost; a placed
/// fault does, by construction. Each seed draws `per_seed` placements,
/// each a kind by `weights`, on a drawn terminal and trade number (at most
/// `trade_max`); with `focus`, a placement lands on the same trade as the
/// one before it, so two faults meet on one trade (a lost answer and a late
/// copy of the request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmPlaced {
    /// How many placements a seed draws: uniform in `[low, high]`.
    pub per_seed: [u32; 2],
    /// Placements land on the first `trade_max` online trades of a terminal.
    pub trade_max: u32,
    /// The chance that a placement lands on the previous one's trade.
    pub focus: f64,
    /// Relative weight of each kind (0 to 1,000; 0 never draws it).
    pub weights: BTreeMap<SwarmPlacement, u32>,
}

/// The kinds swarm mode places (each becomes a [`ProtocolFault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmPlacement {
    DropAnswer,
    DropRequest,
    /// The answer arrives just before or just after the terminal's timer.
    DelayAnswerToTimerEdge,
    CorruptAnswer,
    /// A copy of the request arrives at once or seconds later.
    DuplicateRequest,
    PowerOffAfterRequestLeft,
    PowerOffAfterIssuerApproved,
    PowerOffMidBatchUpload,
    DropSettlementAnswer,
    /// Power off as the reversal of the drawn trade leaves.
    PowerOffWhileReversalInFlight,
    /// Power off as the 1st or 2nd 0500 leaves.
    PowerOffWhileSettlementInFlight,
    /// Power off as the 1st or 2nd offline upload leaves.
    PowerOffDuringOfflineUpload,
    /// Power off as the 1st or 2nd 0800 leaves.
    PowerOffDuringSignIn,
    /// The switch crashes while it holds a reversal of the drawn terminal.
    SwitchCrashWithReversalsQueued,
    /// The network's cutoff starts as the drawn terminal's 0500 leaves.
    CutoffDuringSettlement,
    /// A tamper lock as the drawn trade's request leaves, unlocked later.
    TamperAfterRequestLeft,
    /// The switch answers the 1st or 2nd offline upload 79.
    UploadNotReconciled,
    /// The switch finds the first settlement unbalanced and answers the
    /// batch upload's end 95.
    ReconciliationError,
}

impl SwarmPlacement {
    pub const ALL: [SwarmPlacement; 18] = [
        SwarmPlacement::DropAnswer,
        SwarmPlacement::DropRequest,
        SwarmPlacement::DelayAnswerToTimerEdge,
        SwarmPlacement::CorruptAnswer,
        SwarmPlacement::DuplicateRequest,
        SwarmPlacement::PowerOffAfterRequestLeft,
        SwarmPlacement::PowerOffAfterIssuerApproved,
        SwarmPlacement::PowerOffMidBatchUpload,
        SwarmPlacement::DropSettlementAnswer,
        SwarmPlacement::PowerOffWhileReversalInFlight,
        SwarmPlacement::PowerOffWhileSettlementInFlight,
        SwarmPlacement::PowerOffDuringOfflineUpload,
        SwarmPlacement::PowerOffDuringSignIn,
        SwarmPlacement::SwitchCrashWithReversalsQueued,
        SwarmPlacement::CutoffDuringSettlement,
        SwarmPlacement::TamperAfterRequestLeft,
        SwarmPlacement::UploadNotReconciled,
        SwarmPlacement::ReconciliationError,
    ];

    /// The weight a kind has when a scenario names no weights: 1 for the
    /// first nine, 0 for the phases added after them, so a scenario that
    /// names none draws what it drew before they existed (a scenario opts
    /// in by naming them in `weights`).
    pub const fn default_weight(self) -> u32 {
        match self {
            SwarmPlacement::PowerOffWhileReversalInFlight
            | SwarmPlacement::PowerOffWhileSettlementInFlight
            | SwarmPlacement::PowerOffDuringOfflineUpload
            | SwarmPlacement::PowerOffDuringSignIn
            | SwarmPlacement::SwitchCrashWithReversalsQueued
            | SwarmPlacement::CutoffDuringSettlement
            | SwarmPlacement::TamperAfterRequestLeft
            | SwarmPlacement::UploadNotReconciled
            | SwarmPlacement::ReconciliationError => 0,
            _ => 1,
        }
    }

    /// The highest weight a scenario may give a kind.
    pub const WEIGHT_MAX: u32 = 1_000;

    /// The kind as the scenario writes it.
    pub const fn name(self) -> &'static str {
        match self {
            SwarmPlacement::DropAnswer => "drop_answer",
            SwarmPlacement::DropRequest => "drop_request",
            SwarmPlacement::DelayAnswerToTimerEdge => "delay_answer_to_timer_edge",
            SwarmPlacement::CorruptAnswer => "corrupt_answer",
            SwarmPlacement::DuplicateRequest => "duplicate_request",
            SwarmPlacement::PowerOffAfterRequestLeft => "power_off_after_request_left",
            SwarmPlacement::PowerOffAfterIssuerApproved => "power_off_after_issuer_approved",
            SwarmPlacement::PowerOffMidBatchUpload => "power_off_mid_batch_upload",
            SwarmPlacement::DropSettlementAnswer => "drop_settlement_answer",
            SwarmPlacement::PowerOffWhileReversalInFlight => "power_off_while_reversal_in_flight",
            SwarmPlacement::PowerOffWhileSettlementInFlight => {
                "power_off_while_settlement_in_flight"
            }
            SwarmPlacement::PowerOffDuringOfflineUpload => "power_off_during_offline_upload",
            SwarmPlacement::PowerOffDuringSignIn => "power_off_during_sign_in",
            SwarmPlacement::SwitchCrashWithReversalsQueued => "switch_crash_with_reversals_queued",
            SwarmPlacement::CutoffDuringSettlement => "cutoff_during_settlement",
            SwarmPlacement::TamperAfterRequestLeft => "tamper_after_request_left",
            SwarmPlacement::UploadNotReconciled => "upload_not_reconciled",
            SwarmPlacement::ReconciliationError => "reconciliation_error",
        }
    }
}

impl Default for SwarmPlaced {
    fn default() -> SwarmPlaced {
        SwarmPlaced {
            per_seed: [0, 3],
            trade_max: 8,
            focus: 0.5,
            weights: SwarmPlacement::ALL
                .into_iter()
                .filter(|kind| kind.default_weight() > 0)
                .map(|kind| (kind, kind.default_weight()))
                .collect(),
        }
    }
}

impl Default for SwarmBounds {
    fn default() -> SwarmBounds {
        SwarmBounds {
            blackholes_per_hour: [0.0, 6.0],
            resets_per_hour: [0.0, 4.0],
            drop_per_frame: [0.0, 0.05],
            duplicate_per_frame: [0.0, 0.02],
            corrupt_per_frame: [0.0, 0.02],
            power_cuts_per_hour: [0.0, 2.0],
            printer_faults_per_hour: [0.0, 2.0],
            partitions_per_hour: [0.0, 2.0],
            switch_crashes_per_hour: [0.0, 1.0],
            placed: SwarmPlaced::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultPlan {
    pub scheduled: Vec<ScheduledFault>,
    #[serde(deserialize_with = "protocol_faults")]
    pub protocol: Vec<ProtocolFault>,
    pub swarm: SwarmBounds,
}

/// What the run should find. A safe scenario expects no violation; a
/// variant names the invariant its unsafe policy breaks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expectations {
    pub violates: Vec<String>,
    /// Invariants the unsafe policy breaks as well, as a consequence of the
    /// one it is for (a reversal never sent leaves the card charged, so the
    /// money invariants fail too). A sweep of a variant fails on any
    /// invariant in neither list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_violates: Vec<String>,
    /// A placed fault that never lands fails the run (it tested less than
    /// it says); `true` where the scenario's own randomness may take its
    /// moment away (a line that loses the request before the answer a fault
    /// would drop). The miss is printed either way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub placed_may_miss: bool,
    /// A run in which no trade reaches an issuer fails
    /// (`exercised-nothing`): its money invariants judged nothing. `true`
    /// where that is the scenario's point (sign-in, key checks, a terminal
    /// that must refuse every trade).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exercises_nothing: bool,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn default_farm() -> String {
    "farm-0".into()
}

fn default_link() -> String {
    "clean".into()
}

fn default_pin() -> String {
    "123456".into()
}

fn default_status() -> CardStatus {
    CardStatus::Active
}

fn default_pan_length() -> u8 {
    16
}
