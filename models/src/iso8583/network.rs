//! Network management: sign-in (0800/0810), sign-off and echo test (0820/0830).
//!
//! ```
//! use possim_models::iso8583::keys::KeyMode;
//! use possim_models::iso8583::network::{NetworkCode, NetworkRequest};
//! use possim_models::iso8583::values::*;
//! let request = NetworkRequest {
//!     code: NetworkCode::SignIn(KeyMode::Single),
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("12345678").unwrap(),
//!     merchant: MerchantId::new("123456789012345").unwrap(),
//!     operator: Some(*b"01 "),
//! };
//! let message = request.to_message();
//! assert_eq!(message.mti().to_string(), "0800");
//! assert_eq!(message.get_str(60), Some("00000001001"));
//! ```

use super::access::{batch_of, invalid, put, put_60, put_ids, put_number, Reader};
use super::error::MessageError;
use super::keys::KeyMode;
use super::message::Message;
use super::mti::Mti;
use super::response_code::ResponseCode;
use super::subfields::Field60;
use super::values::{BatchNo, MerchantId, MonthDay, Rrn, Stan, TerminalId, TimeOfDay};

/// Field 60.3 of a network management message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkCode {
    SignIn(KeyMode),
    SignOff,
    Echo,
}

impl NetworkCode {
    pub const fn code(self) -> u16 {
        match self {
            NetworkCode::SignIn(mode) => mode.code(),
            NetworkCode::SignOff => 2,
            NetworkCode::Echo => 301,
        }
    }

    pub const fn from_code(code: u16) -> Option<NetworkCode> {
        match code {
            2 => Some(NetworkCode::SignOff),
            301 => Some(NetworkCode::Echo),
            other => match KeyMode::from_code(other) {
                Some(mode) => Some(NetworkCode::SignIn(mode)),
                None => None,
            },
        }
    }

    pub const fn request_mti(self) -> Mti {
        match self {
            NetworkCode::SignIn(_) => Mti::NETWORK,
            NetworkCode::SignOff | NetworkCode::Echo => Mti::NETWORK_ADVICE,
        }
    }
}

/// A terminal's network management request. No MAC: before sign-in there is no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRequest {
    pub code: NetworkCode,
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    /// Field 63.1, the operator number (ans3), sent with sign-in.
    pub operator: Option<[u8; 3]>,
}

fn code_of(field_60: &Field60, mti: Mti) -> Result<NetworkCode, MessageError> {
    let code = NetworkCode::from_code(field_60.network_code).ok_or_else(|| {
        invalid(60, format!("60.3 {:03} is not a network code", field_60.network_code))
    })?;
    if code.request_mti() != mti && code.request_mti().response() != mti {
        return Err(MessageError::WrongKind {
            mti,
            detail: format!("60.3 {:03}", field_60.network_code),
            expected: "a network management message",
        });
    }
    Ok(code)
}

impl NetworkRequest {
    pub fn to_message(&self) -> Message {
        let mut message = Message::new(self.code.request_mti());
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_ids(&mut message, &self.terminal, &self.merchant);
        put_60(&mut message, &Field60::new(0, self.batch, self.code.code()));
        if let Some(operator) = &self.operator {
            put(&mut message, 63, operator);
        }
        message
    }

    pub fn from_message(message: &Message) -> Result<NetworkRequest, MessageError> {
        let reader = Reader::new(message, "a network request");
        let (field_60, batch) = batch_of(&reader)?;
        let code = code_of(&field_60, message.mti())?;
        if message.mti().is_response() {
            return Err(MessageError::WrongKind {
                mti: message.mti(),
                detail: String::new(),
                expected: "a network request",
            });
        }
        let operator = reader.optional(
            63,
            |bytes| <[u8; 3]>::try_from(bytes).ok(),
            "an operator number of 3 characters",
        )?;
        Ok(NetworkRequest {
            code,
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            operator,
        })
    }
}

/// The host's answer. A sign-in that succeeds carries the working keys in F62
/// and the batch number the terminal must use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkResponse {
    pub code: NetworkCode,
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub time: TimeOfDay,
    pub date: MonthDay,
    pub rrn: Option<Rrn>,
    pub response_code: ResponseCode,
    /// Field 62: working keys under the TMK, with check values.
    pub keys: Option<Vec<u8>>,
}

impl NetworkResponse {
    pub const KEYS_BYTES_MAX: usize = 512;

    pub fn to_message(&self) -> Message {
        let mut message = Message::new(self.code.request_mti().response());
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_number(&mut message, 12, self.time.number());
        put_number(&mut message, 13, self.date.number());
        if let Some(rrn) = &self.rrn {
            put(&mut message, 37, rrn.as_bytes());
        }
        put(&mut message, 39, self.response_code.as_bytes());
        put_ids(&mut message, &self.terminal, &self.merchant);
        put_60(&mut message, &Field60::new(0, self.batch, self.code.code()));
        if let Some(keys) = &self.keys {
            assert!(keys.len() <= Self::KEYS_BYTES_MAX);
            put(&mut message, 62, keys);
        }
        message
    }

    pub fn from_message(message: &Message) -> Result<NetworkResponse, MessageError> {
        let reader = Reader::new(message, "a network response");
        let (field_60, batch) = batch_of(&reader)?;
        let code = code_of(&field_60, message.mti())?;
        if !message.mti().is_response() {
            return Err(MessageError::WrongKind {
                mti: message.mti(),
                detail: String::new(),
                expected: "a network response",
            });
        }
        Ok(NetworkResponse {
            code,
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            time: reader.time()?,
            date: reader.date()?,
            rrn: reader.rrn()?,
            response_code: reader.response_code()?,
            keys: message.get(62).map(<[u8]>::to_vec),
        })
    }
}
