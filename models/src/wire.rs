//! Sending and receiving frames, shared by every actor: seal a typed message
//! (with a MAC when it carries one), and take apart an inbound frame into its
//! typed message and the verdict on its MAC.
//!
//! ```
//! use possim_models::iso8583::cup::CupMessage;
//! use possim_models::iso8583::mac::MacKey;
//! use possim_models::iso8583::network::{NetworkCode, NetworkRequest};
//! use possim_models::iso8583::values::*;
//! use possim_models::iso8583::Tpdu;
//! use possim_models::wire::{receive, seal};
//! let echo = CupMessage::Network(NetworkRequest {
//!     code: NetworkCode::Echo,
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("T1").unwrap(),
//!     merchant: MerchantId::new("M1").unwrap(),
//!     operator: None,
//! });
//! let bytes = seal(&echo, Tpdu::new(3, 0), None);
//! let inbound = receive(&bytes, None).unwrap();
//! assert_eq!(inbound.message, echo);
//! ```

use crate::iso8583::cup::CupMessage;
use crate::iso8583::mac::{MacCheck, MacKey};
use crate::iso8583::{DecodeError, Frame, Header, MessageError, Tpdu};

/// The software version every modelled element puts in its header.
pub const SOFTWARE_VERSION: u32 = 310_001;

/// Encodes `message` as a whole frame, with field 64 when it carries a MAC
/// and a key is given.
pub fn seal(message: &CupMessage, tpdu: Tpdu, mak: Option<&MacKey>) -> Vec<u8> {
    seal_with_header(message, tpdu, Header::new(SOFTWARE_VERSION), mak)
}

pub fn seal_with_header(
    message: &CupMessage,
    tpdu: Tpdu,
    header: Header,
    mak: Option<&MacKey>,
) -> Vec<u8> {
    let mut frame = Frame { tpdu, header, message: message.to_message() };
    let mut out = Vec::with_capacity(256);
    match mak {
        Some(key) if message.carries_mac() => key.seal(&mut frame, &mut out),
        _ => frame.encode(&mut out),
    }
    out
}

/// An inbound frame taken apart.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub frame: Frame,
    pub message: CupMessage,
    /// `Missing` when no key was given or the frame has no field 64.
    pub mac: MacCheck,
}

/// Why an inbound frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Not a CUP frame at all: a real element drops it (or answers 30 when it
    /// can still tell who sent it).
    #[error("undecodable frame: {0}")]
    Decode(#[from] DecodeError),
    /// A frame, but not a complete message of its type: answer 30.
    #[error("format error: {error}")]
    Format { frame: Box<Frame>, error: MessageError },
}

/// Decodes `bytes`, recognises the message, and checks its MAC under `mak`.
pub fn receive(bytes: &[u8], mak: Option<&MacKey>) -> Result<Inbound, InboundError> {
    let (frame, span) = Frame::decode_with_mac_span(bytes)?;
    let message = match CupMessage::parse(&frame.message) {
        Ok(message) => message,
        Err(error) => return Err(InboundError::Format { frame: Box::new(frame), error }),
    };
    let mac = match mak {
        Some(key) => key.verify(bytes, span, &frame),
        None => MacCheck::Missing,
    };
    Ok(Inbound { frame, message, mac })
}
