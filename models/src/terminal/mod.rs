//! The POS terminal (see docs/DESIGN.md, "Actors"): a sans-IO state machine
//! that signs in, runs trades, keeps its reversal and offline queue in
//! persistent storage, settles and uploads its batch, and prints.
//!
//! One file per concern: [`config`] (configuration and policies),
//! [`persistent`] and [`volatile`] (what survives a power cut and what does
//! not), [`journal`], [`reversal`], [`offline`] (the advice queue),
//! [`refund`] (refunds as advices), [`settlement`], [`printer`],
//! [`battery`], [`commands`], [`events`]. The state machine itself is
//! `terminal.rs` (life cycle, the one-message-at-a-time driver, answers to
//! trades); each concern's file also holds the `impl Terminal` block that
//! runs it (commands, reversal, offline uploads, settlement, printing).
//!
//! The rules it keeps: a reversible trade's reversal is written before the
//! request leaves and armed when no usable answer comes; an armed reversal
//! goes before any other online message; advices (offline trades, refunds)
//! are kept until acknowledged and all sent before any 0500 leaves; the journal is cleared only once the host has answered the
//! settlement.
//!
//! ```
//! use possim_models::actor::{Actor, Node};
//! use possim_models::terminal::{Terminal, TerminalCommand, TerminalConfig};
//! use possim_models::time::Instant;
//! let mut terminal = Terminal::new(TerminalConfig::default(), Instant::ZERO).unwrap();
//! terminal.handle_command(Instant::ZERO, TerminalCommand::OperatorSignIn {
//!     operator: "01".into(),
//!     password: "0000".into(),
//! });
//! terminal.handle_command(Instant::ZERO, TerminalCommand::SignIn);
//! let sign_in = terminal.poll_transmit().unwrap();
//! assert_eq!(sign_in.to, Node::Switch);
//! assert_eq!(&sign_in.bytes[13..15], &[0x08, 0x00]); // MTI 0800
//! assert_eq!(terminal.poll_timeout(), Some(Instant::from_millis(60_000)));
//! // A power cut: the store survives, the session does not.
//! let store = terminal.persistent().clone();
//! let rebooted = Terminal::restart(TerminalConfig::default(), store, Instant::from_millis(5)).unwrap();
//! assert_eq!(rebooted.poll_timeout(), None);
//! ```

pub mod battery;
pub mod commands;
pub mod config;
pub mod events;
pub mod journal;
pub mod offline;
pub mod persistent;
pub mod printer;
pub mod reasons;
pub mod refund;
pub mod reversal;
pub mod settlement;
#[allow(clippy::module_inception)]
mod terminal;
pub mod volatile;

#[cfg(test)]
mod tests;

pub use commands::TerminalCommand;
pub use config::{
    JournalClear, OfflineUpload, ReversalExhausted, ReversalPersist, TerminalConfig,
    TerminalConfigError, TerminalMutation, UploadEndCode,
};
pub use events::{TerminalEvent, TerminalEventKind};
pub use persistent::Persistent;
pub use terminal::{Terminal, EVENTS_MAX, OUTBOX_MAX};
