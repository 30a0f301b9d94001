//! What the harness saw: every frame with its fate, and every actor event, in
//! the order they happened.

use crate::actor::Node;
use crate::iso8583::Mti;
use crate::issuer::IssuerEvent;
use crate::network::NetworkEvent;
use crate::switch::SwitchEvent;
use crate::terminal::TerminalEvent;
use crate::time::Instant;

/// The fate of one frame in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    Dropped,
    Delayed,
    Duplicated,
    Corrupted,
    /// The receiver was powered off when it arrived.
    Lost,
}

#[derive(Debug, Clone)]
pub enum Record {
    /// `bytes`: the frame as sent, before any fault, so the oracle reads
    /// the trade it names (fields 41, 60.2, 11) as a line tap would.
    Frame {
        at: Instant,
        from: Node,
        to: Node,
        mti: Option<Mti>,
        stan: Option<u32>,
        fate: Fate,
        bytes: Vec<u8>,
    },
    Terminal(TerminalEvent),
    Switch(SwitchEvent),
    Network(NetworkEvent),
    Issuer(u16, IssuerEvent),
}
