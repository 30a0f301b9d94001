//! The CUP POS ISO 8583 wire format, hand-written and table-driven.
//!
//! Layers, bottom up: [`bcd`] packing, the field table ([`spec`]), the untyped
//! [`Message`] (MTI, bitmap, fields), the [`Frame`] (length, TPDU, header), the
//! MAC ([`mac`]) and keys ([`keys`]); on top, typed messages for every trade
//! in the catalogue ([`trade`], [`network`], [`settlement`]), recognised in
//! one place by [`cup::CupMessage::parse`].
//!
//! Decoding never panics on any input and never allocates more than a small
//! multiple of the input's length; every error names the field and the
//! reason.
//!
//! ```
//! use possim_models::iso8583::{cup::CupMessage, mac::MacKey, Frame, Header, Tpdu};
//! use possim_models::iso8583::trade::*;
//! use possim_models::iso8583::values::*;
//! let sale = FinancialRequest {
//!     trade: Trade::Sale { amount: AmountFen::new(1000).unwrap() },
//!     card: CardRead::swiped(Pan::new("6222021234567890123").unwrap()),
//!     pin_block: None,
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("12345678").unwrap(),
//!     merchant: MerchantId::new("123456789012345").unwrap(),
//! };
//! let key = MacKey::new(*b"\x01\x23\x45\x67\x89\xAB\xCD\xEF");
//! let mut frame = Frame { tpdu: Tpdu::new(3, 0), header: Header::new(1), message: sale.to_message() };
//! let mut wire = Vec::new();
//! key.seal(&mut frame, &mut wire);
//!
//! let (received, mac_span) = Frame::decode_with_mac_span(&wire).unwrap();
//! assert!(key.verify(&wire, mac_span, &received).is_valid());
//! assert_eq!(CupMessage::parse(&received.message).unwrap(), CupMessage::Trade(sale));
//! ```

pub(crate) mod access;
pub mod bcd;
pub mod cup;
pub mod describe;
pub mod digits;
pub mod error;
pub mod frame;
pub mod hex;
pub mod keys;
pub mod mac;
pub mod message;
pub mod mti;
pub mod network;
pub mod pin;
pub mod response_code;
pub mod settlement;
pub mod spec;
pub mod subfields;
pub mod trade;
pub mod values;

pub use error::{DecodeError, FieldError, FieldFault, MessageError};
pub use frame::{split_frame, Frame, Header, ProcessingRequirement, Tpdu};
pub use message::Message;
pub use mti::Mti;
pub use response_code::ResponseCode;
