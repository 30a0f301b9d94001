//! What every actor shares: addresses, outgoing frames, and the sans-IO
//! interface in the style of quinn-proto's `Connection`.
//!
//! An actor is driven only through [`Actor`]'s methods. Inputs: a frame
//! arrived, a deadline passed, a person acted. Outputs are polled: frames to
//! send, the next deadline, events for the oracle and the report. Time is
//! always a parameter; nothing here blocks, sleeps, or reads a clock.

use crate::iso8583::values::TerminalId;
use crate::time::Instant;

/// A network element or terminal, as the shells route frames between them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Node {
    Terminal(TerminalId),
    /// The acquirer's switch.
    Switch,
    /// The card network (CUP).
    Network,
    /// An issuer, by its index in the scenario.
    Issuer(u16),
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Terminal(id) => write!(f, "terminal {id}"),
            Node::Switch => f.write_str("switch"),
            Node::Network => f.write_str("network"),
            Node::Issuer(index) => write!(f, "issuer {index}"),
        }
    }
}

/// A whole frame (length prefix included) for `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Node,
    pub bytes: Vec<u8>,
}

/// The sans-IO interface every actor implements.
///
/// The draining contract (quinn-proto's): after every `handle_*` call the
/// caller polls `poll_transmit` and `poll_event` until each returns `None`,
/// then asks `poll_timeout` again; an actor's output queues are bounded by
/// what one call can produce, so a caller that skips draining loses output
/// (the bound is asserted, never silently exceeded). Polling more often is
/// harmless: an empty queue answers `None`.
pub trait Actor {
    /// What a person (cashier, cardholder, operator) or the scenario can ask.
    type Command;
    /// What the oracle and the report need to know.
    type Event;

    /// A frame from `from` arrived. Bytes are untrusted: any content must be
    /// answered as a real element would (format error, MAC error) or dropped.
    fn handle_message(&mut self, now: Instant, from: Node, bytes: &[u8]);
    /// The deadline from [`Actor::poll_timeout`] passed (it may be called late, never early).
    fn handle_timeout(&mut self, now: Instant);
    fn handle_command(&mut self, now: Instant, command: Self::Command);
    /// The next frame to send; drain until `None` after every `handle_*`.
    #[must_use = "a transmit not taken is a frame never sent"]
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The earliest instant at which `handle_timeout` must be called; ask
    /// again after every `handle_*` (it moves).
    #[must_use = "a deadline not kept is a timer that never fires"]
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next event for the oracle and the report; drain until `None`.
    #[must_use = "an event not taken is missing from the trace"]
    fn poll_event(&mut self) -> Option<Self::Event>;
}

/// The identity of a trade from the terminal to the issuer: how a repeated
/// request and the original of a reversal are recognised at every hop.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TradeKey {
    pub terminal: TerminalId,
    pub merchant: crate::iso8583::values::MerchantId,
    pub batch: crate::iso8583::values::BatchNo,
    pub stan: crate::iso8583::values::Stan,
}

impl TradeKey {
    pub fn of(request: &crate::iso8583::trade::FinancialRequest) -> TradeKey {
        TradeKey {
            terminal: request.terminal,
            merchant: request.merchant,
            batch: request.batch,
            stan: request.stan,
        }
    }

    /// The key of the trade an answer (or a reversal's answer) is for.
    pub fn of_answer(answer: &crate::iso8583::trade::TradeResponse) -> TradeKey {
        TradeKey {
            terminal: answer.terminal,
            merchant: answer.merchant,
            batch: answer.batch,
            stan: answer.stan,
        }
    }
}

impl std::fmt::Display for TradeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} batch {} stan {}", self.terminal, self.merchant, self.batch, self.stan)
    }
}

/// The fixed zone keys of one link between network elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkKeys {
    pub pik: crate::iso8583::keys::DesKey,
    pub mak: crate::iso8583::keys::DesKey,
}

impl LinkKeys {
    pub fn mac_key(&self) -> crate::iso8583::mac::MacKey {
        crate::iso8583::mac::MacKey::new(self.mak.first_half())
    }
}

/// A DES key written as hex in a scenario (8 or 16 bytes), checked when the
/// scenario is read so a bad key is reported with its line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexKey(pub crate::iso8583::keys::DesKey);

impl HexKey {
    pub fn from_hex(text: &str) -> Result<HexKey, crate::iso8583::keys::KeyError> {
        crate::iso8583::keys::DesKey::from_hex(text).map(HexKey)
    }
}

impl std::fmt::Debug for HexKey {
    // Key material never reaches logs: DesKey's Debug prints the check value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> serde::Deserialize<'de> for HexKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<HexKey, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        HexKey::from_hex(&text)
            .map_err(|error| serde::de::Error::custom(format!("bad key: {error}")))
    }
}

impl serde::Serialize for HexKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::iso8583::hex::encode_upper(self.0.as_bytes()))
    }
}

/// The zone keys of one link as a scenario writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkKeysConfig {
    pub pik: HexKey,
    pub mak: HexKey,
}

impl LinkKeysConfig {
    pub fn link_keys(&self) -> LinkKeys {
        LinkKeys { pik: self.pik.0, mak: self.mak.0 }
    }

    /// From hex text; for tests and examples, where a bad key is a bug.
    pub fn from_hex(pik: &str, mak: &str) -> LinkKeysConfig {
        LinkKeysConfig {
            pik: HexKey::from_hex(pik).expect("a hex DES key"),
            mak: HexKey::from_hex(mak).expect("a hex DES key"),
        }
    }
}
