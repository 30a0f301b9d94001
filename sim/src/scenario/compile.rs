//! From a scenario to the configurations of every actor: the world is built
//! from a [`CompiledScenario`] and nothing else.
//!
//! - Terminal groups and card groups are expanded; terminals are sorted by
//!   id, cards by number, issuers by index.
//! - Each terminal's configuration is its `config` with the identity and TMK
//!   of its spec and the run's calendar.
//! - The switch registers every terminal with its TMK; the network routes
//!   each issuer's bins to it; each issuer holds the cards its bins route to
//!   it (longest prefix wins, as in the network).
//! - Keys between network elements are derived from fixed constants (see
//!   [`zone_key`]): the scenario names only the terminals' TMKs, and a run
//!   stays a pure function of its scenario and seed.
//! - Table bounds (`terminals_max`, `pending_max`, `accounts_max`,
//!   `trades_max`, ...) are raised to fit the scenario, never lowered; a
//!   bound the scenario sets itself is kept as written.
//!
//! ```
//! use possim_sim::scenario::parse;
//! let text = "name: tiny\nmerchants: [{id: '898100000000001'}]\n\
//!             issuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!             card_groups: [{bin: '622202', count: 3, balance_fen: 100000}]\n";
//! let compiled = parse(text, "tiny.yaml").unwrap().compile().unwrap();
//! assert_eq!(compiled.terminals.len(), 1);
//! assert_eq!(compiled.cards[0].pan.as_str(), "6222020000000001");
//! assert_eq!(compiled.issuers[0].cards.len(), 3);
//! assert!(compiled.links.contains_key("clean"));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::actor::{HexKey, LinkKeysConfig};
use possim_models::iso8583::keys::{DesKey, KeyMode};
use possim_models::iso8583::subfields::BatchDetail;
use possim_models::iso8583::values::{Expiry, MerchantId, Pan, TerminalId};
use possim_models::issuer::{CardAccount, IssuerConfig, IssuerConfigError};
use possim_models::network::{IssuerLink, NetworkConfig, NetworkConfigError, Route};
use possim_models::switch::{RegisteredTerminal, SwitchConfig, SwitchConfigError};
use possim_models::terminal::config::TerminalConfigError;
use possim_models::terminal::TerminalConfig;
use possim_models::time::Calendar;

use super::bounds;
use super::error::{CompileError, FieldPath};
use super::model::{
    Backbone, Expectations, FaultPlan, IssuerSpec, LineProfile, RunSettings, Scenario, Workload,
};
use super::validate::{self, Targets, CLEAN_LINK};

/// Everything a run is built from, checked and expanded.
#[derive(Debug, Clone)]
pub struct CompiledScenario {
    pub name: String,
    pub run: RunSettings,
    pub calendar: Calendar,
    /// Sorted by terminal id.
    pub terminals: Vec<CompiledTerminal>,
    /// Distinct farm names, sorted.
    pub farms: Vec<String>,
    pub switch: SwitchConfig,
    pub network: NetworkConfig,
    /// Sorted by index.
    pub issuers: Vec<IssuerConfig>,
    /// Sorted by card number.
    pub cards: Vec<CompiledCard>,
    /// Always contains `clean` ([`LineProfile::default`]).
    pub links: BTreeMap<String, LineProfile>,
    pub backbone: Backbone,
    pub workload: Workload,
    pub faults: FaultPlan,
    pub expect: Expectations,
}

/// One terminal, where it lives and which line profile its connection has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledTerminal {
    pub config: TerminalConfig,
    pub farm: String,
    pub link: String,
    /// Whether the switch knows it (`registered: false`: it answers 97).
    pub registered: bool,
}

/// One card: the workload draws cardholders from these, and the issuer at
/// `issuer` holds the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCard {
    pub pan: Pan,
    pub issuer: u16,
    pub pin: String,
    pub balance_fen: i64,
    pub offline_balance_fen: i64,
    /// Whether the drawn workload picks it (else only the script does).
    pub drawn: bool,
}

/// Which key of which link a [`zone_key`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKey {
    /// The PIN key of the switch ↔ network link.
    SwitchNetworkPik,
    /// The MAC key of the switch ↔ network link.
    SwitchNetworkMak,
    /// The PIN key of the network ↔ issuer link.
    IssuerPik,
    /// The MAC key of the network ↔ issuer link.
    IssuerMak,
    /// The key the switch encrypts a counter under to make working keys.
    KeyGeneration,
}

/// A fixed single-length DES key: the role's tag byte six times, then the
/// issuer index big-endian (0 for the switch's keys). For example the MAC
/// key of the link to issuer 2 is `4D4D4D4D4D4D0002`. Every link thus has
/// its own keys, a scenario never has to write them, and two runs of one
/// scenario key their links alike.
pub fn zone_key(role: ZoneKey, issuer: u16) -> HexKey {
    let tag = match role {
        ZoneKey::SwitchNetworkPik => 0x5A,
        ZoneKey::SwitchNetworkMak => 0x5B,
        ZoneKey::IssuerPik => 0x4C,
        ZoneKey::IssuerMak => 0x4D,
        ZoneKey::KeyGeneration => 0x6B,
    };
    let [high, low] = issuer.to_be_bytes();
    let bytes = [tag, tag, tag, tag, tag, tag, high, low];
    HexKey(DesKey::from_bytes(&bytes).expect("eight bytes are a des key"))
}

/// The zone keys of the link between the network and issuer `index`.
pub fn issuer_link_keys(index: u16) -> LinkKeysConfig {
    LinkKeysConfig {
        pik: zone_key(ZoneKey::IssuerPik, index),
        mak: zone_key(ZoneKey::IssuerMak, index),
    }
}

/// The zone keys of the link between the switch and the network.
pub fn switch_link_keys() -> LinkKeysConfig {
    LinkKeysConfig {
        pik: zone_key(ZoneKey::SwitchNetworkPik, 0),
        mak: zone_key(ZoneKey::SwitchNetworkMak, 0),
    }
}

fn fail<T>(path: FieldPath, message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError::new(path, message))
}

/// A terminal before sorting, with the place it was written.
struct Staged {
    compiled: CompiledTerminal,
    path: FieldPath,
}

/// The parts of a terminal spec or group the compiler reads.
struct TerminalSource<'a> {
    merchant: &'a MerchantId,
    farm: &'a str,
    link: &'a str,
    tmk: &'a str,
    config: &'a TerminalConfig,
}

struct Context<'a> {
    scenario: &'a Scenario,
    merchants: BTreeSet<MerchantId>,
    calendar: Calendar,
}

impl Context<'_> {
    /// Checks what a terminal and a group have in common and builds the
    /// configuration of terminal `id`.
    fn terminal(
        &self,
        at: &FieldPath,
        id: TerminalId,
        source: &TerminalSource<'_>,
    ) -> Result<CompiledTerminal, CompileError> {
        if !self.merchants.contains(source.merchant) {
            return fail(at.key("merchant"), format!("unknown merchant {}", source.merchant));
        }
        if source.link != CLEAN_LINK && !self.scenario.links.contains_key(source.link) {
            let mut known: Vec<&str> = self.scenario.links.keys().map(String::as_str).collect();
            known.push(CLEAN_LINK);
            known.sort_unstable();
            return fail(
                at.key("link"),
                format!("unknown line profile {:?} (profiles: {})", source.link, known.join(", ")),
            );
        }
        check_farm(&at.key("farm"), source.farm)?;
        let tmk = DesKey::from_hex(source.tmk).map_err(|error| {
            CompileError::new(at.key("tmk"), format!("tmk is not a des key: {error}"))
        })?;
        let config = source.config;
        let digits = match config.key_mode {
            KeyMode::Single => 16,
            KeyMode::Double | KeyMode::DoubleWithTrackKey => 32,
        };
        if tmk.as_bytes().len() * 2 != digits {
            return fail(
                at.key("tmk"),
                format!(
                    "key mode {:03} needs a tmk of {digits} hex digits, not {}",
                    config.key_mode.code(),
                    tmk.as_bytes().len() * 2
                ),
            );
        }
        let config = TerminalConfig {
            terminal_id: id,
            merchant_id: *source.merchant,
            tmk: source.tmk.to_ascii_uppercase(),
            calendar: self.calendar,
            ..config.clone()
        };
        config.validate().map_err(|error| terminal_error(&at.key("config"), &error))?;
        Ok(CompiledTerminal {
            config,
            farm: source.farm.to_owned(),
            link: source.link.to_owned(),
            registered: true,
        })
    }
}

fn terminal_error(at: &FieldPath, error: &TerminalConfigError) -> CompileError {
    let path = match error {
        TerminalConfigError::Operator(_) => at.key("operator"),
        TerminalConfigError::OutOfRange { name, .. } => at.key(name),
        TerminalConfigError::Tmk(_) | TerminalConfigError::TmkLength { .. } => at.key("key_mode"),
    };
    CompileError::new(path, error.to_string())
}

/// Farms are hosts: their names must not be another host's.
fn check_farm(at: &FieldPath, farm: &str) -> Result<(), CompileError> {
    let reserved = farm == "switch" || farm == "network" || farm.starts_with("issuer-");
    if farm.is_empty() || reserved {
        return fail(
            at.clone(),
            format!(
                "farm name {farm:?} is empty or names another host (switch, network, issuer-N)"
            ),
        );
    }
    Ok(())
}

impl Scenario {
    /// Checks and expands the scenario into every actor's configuration.
    /// An error names the offending value by its path; [`super::validate`]
    /// turns that into a line and column.
    pub fn compile(&self) -> Result<CompiledScenario, CompileError> {
        let root = FieldPath::root();
        let (month, day) = validate::check_run(&self.run)?;
        super::durations::check(self)?;
        let calendar = Calendar::new(month, day);

        let mut merchants = BTreeSet::new();
        for (index, merchant) in self.merchants.iter().enumerate() {
            if !merchants.insert(merchant.id) {
                return fail(
                    root.key("merchants").index(index).key("id"),
                    format!("merchant {} is listed twice", merchant.id),
                );
            }
        }
        for (name, profile) in &self.links {
            validate::check_link(name, profile)?;
        }
        let context = Context { scenario: self, merchants, calendar };

        let terminals = self.compile_terminals(&context)?;
        let issuer_indexes = self.check_issuers()?;
        let cards = self.compile_cards()?;
        validate::check_workload(&self.workload)?;
        if self.workload.arrivals_per_terminal_per_hour > 0.0
            && !cards.is_empty()
            && cards.iter().all(|(card, _)| !card.drawn)
        {
            return fail(
                root.key("cards").index(0).key("drawn"),
                "every card says drawn: false, and the workload draws arrivals: expected at least one drawn card",
            );
        }

        let mut hosts: BTreeSet<String> = ["switch".to_owned(), "network".to_owned()].into();
        hosts.extend(issuer_indexes.iter().map(|index| format!("issuer-{index}")));
        let farms: BTreeSet<String> =
            terminals.iter().map(|terminal| terminal.farm.clone()).collect();
        hosts.extend(farms.iter().cloned());
        let timeouts: BTreeMap<String, u64> = terminals
            .iter()
            .map(|terminal| {
                let config = &terminal.config;
                (config.terminal_id.trimmed().to_owned(), config.response_timeout_ms)
            })
            .collect();
        let targets = Targets {
            hosts: &hosts,
            terminals: &timeouts,
            issuers: &issuer_indexes,
            safety_ms: self.run.safety_ms,
        };
        validate::check_faults(&self.faults, &targets)?;
        let known_cards: BTreeSet<Pan> = cards.iter().map(|(card, _)| card.pan).collect();
        validate::check_script(&self.workload.script, &targets, &known_cards)?;
        validate::check_commands(&self.workload.commands, &targets)?;
        super::bursts::check(&self.workload, &self.faults, self.run.tick_ms)?;
        let clean = LineProfile::default();
        let terminal_links: Vec<(&str, &LineProfile)> = terminals
            .iter()
            .map(|terminal| {
                (terminal.link.as_str(), self.links.get(&terminal.link).unwrap_or(&clean))
            })
            .collect();
        super::schedule::check(self, &terminal_links)?;
        validate::check_expect(&self.expect)?;
        if let Some(case) = &self.case {
            super::case::check(case, self)?;
        }

        let switch = self.compile_switch(&terminals, calendar)?;
        let network = self.compile_network(calendar, terminals.len())?;
        let issuers = self.compile_issuers(&cards, calendar, terminals.len())?;

        let mut links = self.links.clone();
        links.insert(CLEAN_LINK.to_owned(), LineProfile::default());
        Ok(CompiledScenario {
            name: self.name.clone(),
            run: self.run.clone(),
            calendar,
            terminals,
            farms: farms.into_iter().collect(),
            switch,
            network,
            issuers,
            cards: cards.into_iter().map(|(card, _)| card).collect(),
            links,
            backbone: self.backbone.clone(),
            workload: self.workload.clone(),
            faults: self.faults.clone(),
            expect: self.expect.clone(),
        })
    }

    fn compile_terminals(
        &self,
        context: &Context<'_>,
    ) -> Result<Vec<CompiledTerminal>, CompileError> {
        let root = FieldPath::root();
        let mut staged: BTreeMap<TerminalId, Staged> = BTreeMap::new();
        let mut per_farm: BTreeMap<String, usize> = BTreeMap::new();
        let mut add = |terminal: CompiledTerminal, path: FieldPath| -> Result<(), CompileError> {
            let in_farm = per_farm.entry(terminal.farm.clone()).or_default();
            *in_farm += 1;
            if *in_farm > bounds::TERMINALS_PER_FARM_MAX {
                let what = format!("terminals in farm {}:", terminal.farm);
                let (size, max) = (*in_farm as u64, bounds::TERMINALS_PER_FARM_MAX as u64);
                return fail(path, bounds::over(&what, size, "TERMINALS_PER_FARM_MAX", max));
            }
            if staged.len() >= bounds::TERMINALS_MAX {
                let (size, max) = (staged.len() as u64 + 1, bounds::TERMINALS_MAX as u64);
                return fail(path, bounds::over("terminals:", size, "TERMINALS_MAX", max));
            }
            let id = terminal.config.terminal_id;
            if let Some(first) = staged.get(&id) {
                return fail(path, format!("terminal id {id} is already used at {}", first.path));
            }
            staged.insert(id, Staged { compiled: terminal, path });
            Ok(())
        };
        for (index, spec) in self.terminals.iter().enumerate() {
            let at = root.key("terminals").index(index);
            let source = TerminalSource {
                merchant: &spec.merchant,
                farm: &spec.farm,
                link: &spec.link,
                tmk: &spec.tmk,
                config: &spec.config,
            };
            let compiled = CompiledTerminal {
                registered: spec.registered,
                ..context.terminal(&at, spec.id, &source)?
            };
            add(compiled, at.key("id"))?;
        }
        for (index, group) in self.terminal_groups.iter().enumerate() {
            let at = root.key("terminal_groups").index(index);
            let width =
                TerminalId::WIDTH.checked_sub(group.prefix.len()).filter(|width| *width > 0);
            let Some(width) = width else {
                return fail(
                    at.key("prefix"),
                    format!(
                        "prefix {:?} leaves no room for a number in 8 characters",
                        group.prefix
                    ),
                );
            };
            if group.count == 0 {
                return fail(at.key("count"), "a group has at least one terminal");
            }
            if u64::from(group.count) >= 10u64.pow(width as u32) {
                return fail(
                    at.key("count"),
                    format!(
                        "{} terminals do not fit: prefix {:?} leaves {width} digits",
                        group.count, group.prefix
                    ),
                );
            }
            let source = TerminalSource {
                merchant: &group.merchant,
                farm: &group.farm,
                link: &group.link,
                tmk: &group.tmk,
                config: &group.config,
            };
            if group.count as usize > bounds::TERMINALS_PER_FARM_MAX {
                let (size, max) = (u64::from(group.count), bounds::TERMINALS_PER_FARM_MAX as u64);
                return fail(
                    at.key("count"),
                    bounds::over(
                        "a group of terminals (one farm):",
                        size,
                        "TERMINALS_PER_FARM_MAX",
                        max,
                    ),
                );
            }
            for number in 1..=group.count {
                let text = format!("{}{number:0width$}", group.prefix);
                let id = TerminalId::new(&text).ok_or_else(|| {
                    CompileError::new(at.key("prefix"), format!("{text:?} is not a terminal id"))
                })?;
                add(context.terminal(&at, id, &source)?, at.key("prefix"))?;
            }
        }
        if staged.is_empty() {
            return fail(root.key("terminals"), "the scenario has no terminal");
        }
        Ok(staged.into_values().map(|staged| staged.compiled).collect())
    }

    fn check_issuers(&self) -> Result<BTreeSet<u16>, CompileError> {
        let root = FieldPath::root().key("issuers");
        if self.issuers.is_empty() {
            return fail(root, "the scenario has no issuer");
        }
        let mut indexes = BTreeSet::new();
        let mut bins: BTreeMap<&str, FieldPath> = BTreeMap::new();
        for (position, issuer) in self.issuers.iter().enumerate() {
            let at = root.index(position);
            if issuer.index > 99 {
                return fail(
                    at.key("index"),
                    format!(
                        "issuer index {} does not fit the two rrn digits (0 to 99)",
                        issuer.index
                    ),
                );
            }
            if !indexes.insert(issuer.index) {
                return fail(
                    at.key("index"),
                    format!("issuer index {} is used twice", issuer.index),
                );
            }
            if issuer.bins.is_empty() {
                return fail(at.key("bins"), "an issuer needs at least one bin");
            }
            for (number, bin) in issuer.bins.iter().enumerate() {
                let place = at.key("bins").index(number);
                if bin.is_empty() || bin.len() > 12 || !bin.bytes().all(|b| b.is_ascii_digit()) {
                    return fail(place, format!("bin {bin:?} is not 1 to 12 digits"));
                }
                if let Some(first) = bins.get(bin.as_str()) {
                    return fail(place, format!("bin {bin} is already routed at {first}"));
                }
                bins.insert(bin, place);
            }
        }
        Ok(indexes)
    }

    /// The issuer a card number routes to: the longest matching bin.
    fn route(&self, pan: &Pan) -> Option<u16> {
        self.issuers
            .iter()
            .flat_map(|issuer| issuer.bins.iter().map(move |bin| (bin, issuer.index)))
            .filter(|(bin, _)| pan.as_str().starts_with(bin.as_str()))
            .max_by_key(|(bin, _)| bin.len())
            .map(|(_, index)| index)
    }

    /// Every card with where it was written, sorted by number.
    fn compile_cards(&self) -> Result<Vec<(CompiledCard, CardExtra)>, CompileError> {
        let root = FieldPath::root();
        let mut cards: BTreeMap<Pan, (CompiledCard, CardExtra)> = BTreeMap::new();
        let mut add = |pan: Pan,
                       balance_fen: i64,
                       offline_balance_fen: i64,
                       pin: &str,
                       extra: CardExtra|
         -> Result<(), CompileError> {
            let at = &extra.path;
            let Some(issuer) = self.route(&pan) else {
                return fail(at.clone(), format!("no issuer routes card {pan} (no bin matches)"));
            };
            if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                return fail(
                    extra.pin_path.clone(),
                    format!("card {pan}: a pin is 4 to 12 digits"),
                );
            }
            // Field 54 carries a balance as a sign and 12 digits, and the
            // terminal's chip balance is an amount (12 digits too): a value
            // past them would stop the run at the first answer that shows it.
            let max = bounds::BALANCE_FEN_MAX;
            if balance_fen.unsigned_abs() > max.unsigned_abs() {
                return fail(
                    extra.balance_path.clone(),
                    format!(
                        "card {pan}: balance {balance_fen} fen is past the bound BALANCE_FEN_MAX = {max} (either sign)"
                    ),
                );
            }
            if offline_balance_fen < 0 {
                return fail(
                    extra.offline_path.clone(),
                    format!("card {pan}: offline balance {offline_balance_fen} fen is negative"),
                );
            }
            if offline_balance_fen > max {
                return fail(
                    extra.offline_path.clone(),
                    format!(
                        "card {pan}: offline balance {offline_balance_fen} fen is over the bound BALANCE_FEN_MAX = {max}"
                    ),
                );
            }
            if cards.len() >= bounds::CARDS_MAX {
                let (size, max) = (cards.len() as u64 + 1, bounds::CARDS_MAX as u64);
                return fail(at.clone(), bounds::over("cards:", size, "CARDS_MAX", max));
            }
            if let Some((_, first)) = cards.get(&pan) {
                return fail(at.clone(), format!("card {pan} is already listed at {}", first.path));
            }
            let card = CompiledCard {
                pan,
                issuer,
                pin: pin.to_owned(),
                balance_fen,
                offline_balance_fen,
                drawn: extra.drawn,
            };
            cards.insert(pan, (card, extra));
            Ok(())
        };
        for (index, spec) in self.cards.iter().enumerate() {
            let at = root.key("cards").index(index);
            if let Some(expiry) = &spec.expiry {
                if Expiry::from_digits(expiry.as_bytes()).is_none() {
                    return fail(at.key("expiry"), format!("expiry {expiry:?} is not YYMM"));
                }
            }
            let extra = CardExtra {
                pin_path: at.key("pin"),
                balance_path: at.key("balance_fen"),
                offline_path: at.key("offline_balance_fen"),
                path: at.key("pan"),
                status: spec.status,
                expiry: spec.expiry.clone(),
                drawn: spec.drawn,
            };
            add(spec.pan, spec.balance_fen, spec.offline_balance_fen, &spec.pin, extra)?;
        }
        for (index, group) in self.card_groups.iter().enumerate() {
            let at = root.key("card_groups").index(index);
            let length = usize::from(group.pan_length);
            if !(Pan::LEN_MIN..=Pan::LEN_MAX).contains(&length) {
                return fail(at.key("pan_length"), format!("pan_length {length} is not 12 to 19"));
            }
            let bin = &group.bin;
            if bin.is_empty() || bin.starts_with('0') || !bin.bytes().all(|b| b.is_ascii_digit()) {
                return fail(at.key("bin"), format!("bin {bin:?} is not digits starting 1 to 9"));
            }
            let Some(width) = length.checked_sub(bin.len()).filter(|width| *width > 0) else {
                return fail(
                    at.key("bin"),
                    format!("bin {bin:?} leaves no digits in a {length}-digit card number"),
                );
            };
            if group.count == 0 {
                return fail(at.key("count"), "a group has at least one card");
            }
            if width < 10 && u64::from(group.count) >= 10u64.pow(width as u32) {
                return fail(
                    at.key("count"),
                    format!("{} cards do not fit in {width} digits after bin {bin}", group.count),
                );
            }
            if group.count as usize > bounds::CARDS_MAX {
                let (size, max) = (u64::from(group.count), bounds::CARDS_MAX as u64);
                return fail(
                    at.key("count"),
                    bounds::over("a group of cards:", size, "CARDS_MAX", max),
                );
            }
            for number in 1..=group.count {
                let text = format!("{bin}{number:0width$}");
                let pan = Pan::new(&text).ok_or_else(|| {
                    CompileError::new(at.key("bin"), format!("{text} is not a card number"))
                })?;
                let extra = CardExtra {
                    pin_path: at.key("pin"),
                    balance_path: at.key("balance_fen"),
                    offline_path: at.key("offline_balance_fen"),
                    path: at.key("bin"),
                    status: possim_models::issuer::CardStatus::Active,
                    expiry: None,
                    drawn: true,
                };
                add(pan, group.balance_fen, group.offline_balance_fen, &group.pin, extra)?;
            }
        }
        Ok(cards.into_values().collect())
    }

    fn compile_switch(
        &self,
        terminals: &[CompiledTerminal],
        calendar: Calendar,
    ) -> Result<SwitchConfig, CompileError> {
        let keys = switch_link_keys();
        let mut switch = SwitchConfig::new(keys.pik, keys.mak, zone_key(ZoneKey::KeyGeneration, 0));
        for terminal in terminals.iter().filter(|terminal| terminal.registered) {
            let config = &terminal.config;
            switch.terminals.push(RegisteredTerminal {
                terminal_id: config.terminal_id,
                merchant_id: config.merchant_id,
                tmk: HexKey::from_hex(&config.tmk).expect("checked when the terminal was compiled"),
            });
        }
        switch.calendar = calendar;
        // Every terminal has at most one message in flight, and each may
        // leave one reversal queued: room for all of them at once.
        let count = terminals.len();
        switch.terminals_max = switch.terminals_max.max(count);
        switch.pending_max = switch.pending_max.max(count);
        switch.store_forward_max = switch.store_forward_max.max(count);
        let spec = &self.switch;
        if let Some(value) = spec.upstream_timeout_ms {
            switch.upstream_timeout_ms = value;
        }
        if let Some(value) = spec.reversal_retry_interval_ms {
            switch.reversal_retry_interval_ms = value;
        }
        if let Some(value) = spec.pending_max {
            switch.pending_max = value;
        }
        if let Some(value) = spec.store_forward_max {
            switch.store_forward_max = value;
        }
        if let Some(value) = spec.duplicate_check {
            switch.duplicate_check = value;
        }
        if let Some(value) = spec.replay_duplicates {
            switch.replay_duplicates = value;
        }
        if let Some(value) = spec.mac_checked_on_0200_only {
            switch.mac_checked_on_0200_only = value;
        }
        if let Some(value) = spec.clearing_from_own_approvals {
            switch.clearing_from_own_approvals = value;
        }
        if let Some(value) = spec.forward_repeated_reversals {
            switch.forward_repeated_reversals = value;
        }
        switch.quirks = spec.quirks.clone();
        // The output queues must hold what one call can produce (the
        // switch's validate() states the same sums).
        let (pending, store_forward) = (switch.pending_max, switch.store_forward_max);
        switch.transmits_max = switch.transmits_max.max(2 * pending + store_forward + 2);
        switch.events_max =
            switch.events_max.max(4 * pending + store_forward + BatchDetail::ENTRIES_MAX + 8);
        switch.validate().map_err(|error| {
            let at = FieldPath::root().key("switch");
            let path = match &error {
                SwitchConfigError::Zero { field } => at.key(field),
                SwitchConfigError::OutputTooSmall { field, .. } => at.key(field),
                SwitchConfigError::Quirk { index, .. } => at.key("quirks").index(*index),
                _ => at,
            };
            CompileError::new(path, format!("switch: {error}"))
        })?;
        Ok(switch)
    }

    fn compile_network(
        &self,
        calendar: Calendar,
        terminal_count: usize,
    ) -> Result<NetworkConfig, CompileError> {
        let mut issuers: Vec<&IssuerSpec> = self.issuers.iter().collect();
        issuers.sort_by_key(|issuer| issuer.index);
        let links = issuers
            .iter()
            .map(|issuer| IssuerLink { index: issuer.index, link: issuer_link_keys(issuer.index) })
            .collect();
        let mut routes: Vec<Route> = issuers
            .iter()
            .flat_map(|issuer| {
                issuer
                    .bins
                    .iter()
                    .map(|bin| Route { bin_prefix: bin.clone(), issuer: issuer.index })
            })
            .collect();
        routes.sort_by(|a, b| a.bin_prefix.cmp(&b.bin_prefix));
        let mut network = NetworkConfig::new(switch_link_keys(), links, routes);
        network.calendar = calendar;
        network.routes_max = network.routes_max.max(network.routes.len());
        // Sized as the acquirer's own tables are (docs/DESIGN.md, "Capacities
        // follow the topology"): every terminal may have a request in flight
        // with a reversal behind it, and the clearing list holds the day.
        network.pending_max = network.pending_max.max(terminal_count);
        network.store_forward_max = network.store_forward_max.max(2 * terminal_count);
        network.clearing_max = network.clearing_max.max(self.trades_bound(terminal_count));
        let spec = &self.network;
        if let Some(value) = spec.issuer_timeout_ms {
            network.issuer_timeout_ms = value;
        }
        if let Some(value) = spec.reversal_retry_interval_ms {
            network.reversal_retry_interval_ms = value;
        }
        if let Some(value) = spec.reversal_tries_max {
            network.reversal_tries_max = value;
        }
        if let Some(value) = spec.pending_max {
            network.pending_max = value;
        }
        if let Some(value) = spec.store_forward_max {
            network.store_forward_max = value;
        }
        // The network's validate() requires these sums of the bounds above.
        network.transmits_max = network.transmits_max.max(2 * network.store_forward_max + 8);
        network.events_max =
            network.events_max.max(3 * network.store_forward_max + network.issuers_max + 16);
        network.validate().map_err(|error| {
            let at = FieldPath::root().key("network");
            let path = match &error {
                NetworkConfigError::Zero { name } | NetworkConfigError::TooSmall { name, .. } => {
                    at.key(name)
                }
                NetworkConfigError::TooMany { what: "issuers", .. } => {
                    FieldPath::root().key("issuers")
                }
                _ => at,
            };
            CompileError::new(path, format!("network: {error}"))
        })?;
        Ok(network)
    }

    /// Room for every trade the run could make: arrivals over both phases,
    /// doubled for reversals and uploads, within the six-digit auth code
    /// limit.
    fn trades_bound(&self, terminal_count: usize) -> usize {
        let hours = (self.run.safety_ms + self.run.healing_max_ms).div_ceil(3_600_000);
        let arrivals = self.workload.arrivals_per_terminal_per_hour.ceil() as u64;
        let trades =
            arrivals.saturating_mul(hours).saturating_mul(terminal_count as u64).saturating_mul(2);
        usize::try_from(trades).unwrap_or(usize::MAX).min(999_999)
    }

    fn compile_issuers(
        &self,
        cards: &[(CompiledCard, CardExtra)],
        calendar: Calendar,
        terminal_count: usize,
    ) -> Result<Vec<IssuerConfig>, CompileError> {
        let mut positions: Vec<usize> = (0..self.issuers.len()).collect();
        positions.sort_by_key(|position| self.issuers[*position].index);
        // Room for every trade the run could make: arrivals over both
        // phases, doubled for reversals and uploads, within the six-digit
        // auth code limit.
        let trades = self.trades_bound(terminal_count);
        let mut configs = Vec::with_capacity(positions.len());
        for position in positions {
            let spec = &self.issuers[position];
            let at = FieldPath::root().key("issuers").index(position);
            let mut issuer = IssuerConfig::new(spec.index, issuer_link_keys(spec.index));
            if let Some(limits) = &spec.limits {
                issuer.limits = limits.clone();
            }
            if let Some(policy) = &spec.policy {
                issuer.policy = policy.clone();
            }
            issuer.calendar = calendar;
            for (card, extra) in cards.iter().filter(|(card, _)| card.issuer == spec.index) {
                if card.offline_balance_fen > issuer.limits.ecash_load_max_fen {
                    return fail(
                        extra.offline_path.clone(),
                        format!(
                            "card {}: offline balance {} fen is over the issuer's ecash_load_max_fen {}",
                            card.pan, card.offline_balance_fen, issuer.limits.ecash_load_max_fen
                        ),
                    );
                }
                issuer.cards.push(CardAccount {
                    pan: card.pan,
                    balance_fen: card.balance_fen,
                    pin: card.pin.clone(),
                    offline_balance_fen: card.offline_balance_fen,
                    status: extra.status,
                    expiry: extra.expiry.clone(),
                });
            }
            issuer.accounts_max = issuer.accounts_max.max(issuer.cards.len());
            issuer.trades_max = issuer.trades_max.max(trades);
            issuer.events_max = issuer.events_max.max(2 * issuer.trades_max + 8);
            issuer.validate().map_err(|error| {
                let path = match &error {
                    IssuerConfigError::ZeroPinTries => at.key("limits").key("pin_tries_max"),
                    _ => at.clone(),
                };
                CompileError::new(path, format!("issuer {}: {error}", spec.index))
            })?;
            configs.push(issuer);
        }
        Ok(configs)
    }
}

/// What an issuer needs of a card beyond [`CompiledCard`], and where the
/// card was written.
#[derive(Debug, Clone)]
struct CardExtra {
    path: FieldPath,
    pin_path: FieldPath,
    balance_path: FieldPath,
    offline_path: FieldPath,
    status: possim_models::issuer::CardStatus,
    expiry: Option<String>,
    drawn: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn farms(count: usize) -> CompiledScenario {
        let text = format!(
            "name: city\nrun: {{safety_ms: 1800000, healing_max_ms: 1800000}}\n\
             merchants: [{{id: '898100000000001'}}]\n\
             issuers: [{{index: 0, bins: ['622202']}}]\n\
             terminal_groups: [{{prefix: A, count: {count}, merchant: '898100000000001', \
             farm: farm-a, tmk: 0123456789ABCDEF}}]\n\
             card_groups: [{{bin: '622202', count: 3, balance_fen: 100000}}]\n\
             workload: {{arrivals_per_terminal_per_hour: 30}}\n"
        );
        crate::scenario::parse(&text, "city.yaml").unwrap().compile().unwrap()
    }

    /// The reference hosts' defaults carry a few thousand terminals; a
    /// city's tables grow with it (the clearing list filled at 100,000
    /// trades and every later request was refused 96), a small world's stay
    /// as they were.
    #[test]
    fn capacities_follow_the_topology_and_keep_their_defaults_below_it() {
        let small = farms(300);
        let defaults = NetworkConfig::new(switch_link_keys(), Vec::new(), Vec::new());
        assert_eq!(small.network.pending_max, defaults.pending_max);
        assert_eq!(small.network.store_forward_max, defaults.store_forward_max);
        assert_eq!(small.network.clearing_max, defaults.clearing_max);
        let city = farms(5_000);
        // 30 an hour over one hour of trading and healing, doubled.
        assert_eq!(city.network.clearing_max, 300_000);
        assert_eq!(city.issuers[0].trades_max, 300_000);
        assert_eq!(city.network.pending_max, 5_000);
        assert_eq!(city.network.store_forward_max, 10_000);
        assert!(city.switch.pending_max >= 5_000 && city.switch.store_forward_max >= 5_000);
    }

    #[test]
    fn zone_keys_differ_per_link_and_role() {
        let keys = [
            zone_key(ZoneKey::SwitchNetworkPik, 0),
            zone_key(ZoneKey::SwitchNetworkMak, 0),
            zone_key(ZoneKey::IssuerPik, 0),
            zone_key(ZoneKey::IssuerMak, 0),
            zone_key(ZoneKey::IssuerMak, 2),
            zone_key(ZoneKey::KeyGeneration, 0),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(zone_key(ZoneKey::IssuerMak, 2), HexKey::from_hex("4D4D4D4D4D4D0002").unwrap());
    }
}
