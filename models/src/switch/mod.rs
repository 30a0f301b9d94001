//! The acquirer switch (see docs/DESIGN.md, "Actors"): terminal registry,
//! sign-in and working keys, MAC checks, routing to the network with PIN
//! translation, duplicate detection, batch records and reconciliation, and
//! store-and-forward of reversals.
//!
//! It talks to each terminal on that terminal's own link (MAC under the MAK
//! of its last sign-in) and to the network on one link with fixed zone keys.
//!
//! - [`config`]: the registry, keys, bounds and policies.
//! - [`registry`]: what the switch keeps per terminal (keys, batches, trades).
//! - [`store_forward`]: reversals the network has not acknowledged yet.
//! - [`events`]: what the oracle and the report learn; the operator's commands.
//!
//! Choices the shared design leaves open, all documented where they live:
//! a trade on another batch than the one the 0810 gave gets 22; a reversal is
//! acknowledged to the terminal at once and owned by the switch from then on;
//! an uploaded trade the switch does not hold is reported, not added; an
//! in-flight reversible trade lost in a crash is reversed by the switch.
//!
//! ```
//! use possim_models::actor::{Actor, Node};
//! use possim_models::iso8583::cup::CupMessage;
//! use possim_models::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
//! use possim_models::iso8583::network::{NetworkCode, NetworkRequest};
//! use possim_models::iso8583::values::*;
//! use possim_models::iso8583::Tpdu;
//! use possim_models::switch::{HexKey, RegisteredTerminal, Switch, SwitchConfig};
//! use possim_models::time::Instant;
//! use possim_models::wire::{receive, seal};
//!
//! let key = |hex: &str| HexKey(DesKey::from_hex(hex).unwrap());
//! let mut config = SwitchConfig::new(key("1111111111111111"), key("2222222222222222"), key("3333333333333333"));
//! let (terminal, merchant) = (TerminalId::new("T0000001").unwrap(), MerchantId::new("M1").unwrap());
//! config.terminals.push(RegisteredTerminal { terminal_id: terminal, merchant_id: merchant, tmk: key("0123456789ABCDEF") });
//! let mut switch = Switch::new(config, Instant::ZERO).unwrap();
//!
//! let sign_in = CupMessage::Network(NetworkRequest {
//!     code: NetworkCode::SignIn(KeyMode::Single),
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal,
//!     merchant,
//!     operator: None,
//! });
//! switch.handle_message(Instant::ZERO, Node::Terminal(terminal), &seal(&sign_in, Tpdu::new(3, 0), None));
//! let answer = switch.poll_transmit().unwrap();
//! let CupMessage::NetworkAnswer(answer) = receive(&answer.bytes, None).unwrap().message else { panic!() };
//! assert!(answer.response_code.is_approved());
//! let tmk = DesKey::from_hex("0123456789ABCDEF").unwrap();
//! assert!(WorkingKeys::unwrap(&tmk, KeyMode::Single, answer.keys.as_deref().unwrap()).is_ok());
//! ```

pub mod config;
pub mod events;
mod machine;
pub mod registry;
pub mod store_forward;

#[cfg(test)]
mod tests;

pub use config::{
    HexKey, LinkKeysConfig, RegisteredTerminal, SwitchConfig, SwitchConfigError, SwitchQuirk,
};
pub use events::{
    CloseReason, DropReason, SwitchCommand, SwitchEvent, SwitchEventKind, UnexpectedFrame,
};
pub use machine::{Authentication, Switch, SwitchPersistent, NETWORK_ADDRESS, SWITCH_ADDRESS};
