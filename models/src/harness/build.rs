//! A consistent set of configurations for a small world: terminals
//! registered at the switch with matching master keys, one issuer per card
//! range, the network routing each range to its issuer, and every link keyed.
//! Stories, property tests and benchmarks start from here and tweak.

use crate::actor::{HexKey, LinkKeysConfig};
use crate::iso8583::values::{MerchantId, Pan, TerminalId};
use crate::issuer::{CardAccount, CardStatus, Issuer, IssuerConfig};
use crate::network::{IssuerLink, Network, NetworkConfig, Route};
use crate::switch::{RegisteredTerminal, Switch, SwitchConfig};
use crate::terminal::{Terminal, TerminalConfig};

use super::Harness;

/// The PIN every standard card has.
pub const PIN: &str = "123456";
/// The card range the standard issuer holds.
pub const BIN: &str = "622202";

/// Everything a world is built from; fields are public so a story can tweak
/// a policy or a timeout before building.
#[derive(Debug, Clone)]
pub struct Configs {
    pub terminals: Vec<TerminalConfig>,
    pub switch: SwitchConfig,
    pub network: NetworkConfig,
    pub issuers: Vec<IssuerConfig>,
}

fn key(hex: &str) -> HexKey {
    HexKey::from_hex(hex).expect("a literal key")
}

/// The `index`-th standard card: `6222020000000000NNN`.
pub fn card_pan(index: usize) -> Pan {
    Pan::new(&format!("{BIN}{:013}", index)).expect("19 digits")
}

/// A standard account: active, PIN [`PIN`], some e-cash on the chip.
pub fn account(pan: Pan, balance_fen: i64) -> CardAccount {
    CardAccount {
        pan,
        balance_fen,
        pin: PIN.into(),
        offline_balance_fen: 50_000,
        status: CardStatus::Active,
        expiry: None,
    }
}

pub fn terminal_id(index: usize) -> TerminalId {
    TerminalId::new(&format!("T{:07}", index)).expect("8 characters")
}

impl Configs {
    /// `terminals` terminals (ids `T0000000`, `T0000001`, ...) at one merchant,
    /// and one issuer holding `cards`.
    pub fn standard(terminals: usize, cards: Vec<CardAccount>) -> Configs {
        let merchant = MerchantId::new("898100000000001").expect("15 characters");
        let tmk = "0123456789ABCDEF";
        let mut switch = SwitchConfig::new(
            key("1111111111111111"),
            key("2222222222222222"),
            key("3333333333333333"),
        );
        let mut terminal_configs = Vec::with_capacity(terminals);
        for index in 0..terminals {
            let id = terminal_id(index);
            switch.terminals.push(RegisteredTerminal {
                terminal_id: id,
                merchant_id: merchant,
                tmk: key(tmk),
            });
            terminal_configs.push(TerminalConfig {
                terminal_id: id,
                merchant_id: merchant,
                tmk: tmk.into(),
                ..TerminalConfig::default()
            });
        }
        switch.terminals_max = switch.terminals_max.max(terminals);
        let switch_link = LinkKeysConfig::from_hex("1111111111111111", "2222222222222222");
        let issuer_link = LinkKeysConfig::from_hex("4444444444444444", "5555555555555555");
        let network = NetworkConfig::new(
            switch_link,
            vec![IssuerLink { index: 0, link: issuer_link }],
            vec![Route { bin_prefix: BIN.into(), issuer: 0 }],
        );
        let mut issuer = IssuerConfig::new(0, issuer_link);
        issuer.cards = cards;
        Configs { terminals: terminal_configs, switch, network, issuers: vec![issuer] }
    }

    /// Builds the world; a configuration that does not validate is a bug in the caller.
    pub fn build(self) -> Harness {
        let now = crate::time::Instant::ZERO;
        let terminals = self
            .terminals
            .into_iter()
            .map(|config| Terminal::new(config, now).expect("a valid terminal config"))
            .collect();
        let switch = Switch::new(self.switch, now).expect("a valid switch config");
        let network = Network::new(self.network, now).expect("a valid network config");
        let issuers = self
            .issuers
            .into_iter()
            .map(|config| Issuer::new(config, now).expect("a valid issuer config"))
            .collect();
        Harness::new(terminals, switch, network, issuers)
    }
}

/// A chip card read with PIN entry.
pub fn chip_card(pan: Pan) -> crate::iso8583::trade::CardRead {
    use crate::iso8583::trade::{CardRead, EntryMode};
    CardRead { entry_mode: EntryMode::CHIP_PIN, ..CardRead::swiped(pan) }
}

/// Operator and terminal sign-in, as every trading day starts.
pub fn open_the_day(h: &mut Harness, t: &TerminalId) {
    use crate::terminal::TerminalCommand;
    let (operator, password) = {
        let config = h.terminal(t).config();
        (config.operator.clone(), config.operator_password.clone())
    };
    h.command(t, TerminalCommand::OperatorSignIn { operator, password });
    h.command(t, TerminalCommand::SignIn);
    h.settle(std::time::Duration::from_secs(1));
    assert!(h.terminal(t).persistent().signed_in(), "the terminal signed in");
}
