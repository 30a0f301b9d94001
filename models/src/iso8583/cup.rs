//! Every CUP POS message the models exchange, recognised from a decoded
//! [`Message`] in one place.
//!
//! ```
//! use possim_models::iso8583::cup::CupMessage;
//! use possim_models::iso8583::{Message, Mti};
//! let mut message = Message::new(Mti::NETWORK_ADVICE);
//! message.set(11, b"000001").unwrap();
//! message.set(41, b"12345678").unwrap();
//! message.set(42, b"123456789012345").unwrap();
//! message.set(60, b"00000001301").unwrap();
//! assert!(matches!(CupMessage::parse(&message), Ok(CupMessage::Network(_))));
//! ```

use super::error::MessageError;
use super::message::Message;
use super::mti::Mti;
use super::network::{NetworkRequest, NetworkResponse};
use super::settlement::{
    BatchUploadEnd, BatchUploadRequest, BatchUploadResponse, SettlementRequest, SettlementResponse,
    NETWORK_CODE_SETTLEMENT,
};
use super::trade::{FinancialRequest, ReversalRequest, TradeKind, TradeResponse};
use super::values::{Stan, TerminalId};

/// A typed CUP POS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CupMessage {
    Network(NetworkRequest),
    NetworkAnswer(NetworkResponse),
    Trade(FinancialRequest),
    /// The answer to a trade or to a reversal (`reversal` says which).
    TradeAnswer(TradeResponse),
    Reversal(ReversalRequest),
    Settlement(SettlementRequest),
    SettlementAnswer(SettlementResponse),
    BatchUpload(BatchUploadRequest),
    BatchUploadEnd(BatchUploadEnd),
    BatchUploadAnswer(BatchUploadResponse),
}

fn message_type(message: &Message) -> Option<u8> {
    let digits = message.get(60)?;
    (digits.len() >= 2 && digits[..2].iter().all(u8::is_ascii_digit))
        .then(|| (digits[0] - b'0') * 10 + (digits[1] - b'0'))
}

fn network_code(message: &Message) -> Option<u16> {
    let digits = message.get(60)?;
    let code = digits.get(8..11)?;
    code.iter()
        .all(u8::is_ascii_digit)
        .then(|| code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
}

impl CupMessage {
    pub fn parse(message: &Message) -> Result<CupMessage, MessageError> {
        let ecash = message_type(message) == Some(TradeKind::ECashUpload.message_type());
        Ok(match message.mti() {
            Mti::NETWORK | Mti::NETWORK_ADVICE => {
                CupMessage::Network(NetworkRequest::from_message(message)?)
            }
            Mti::NETWORK_RESPONSE | Mti::NETWORK_ADVICE_RESPONSE => {
                CupMessage::NetworkAnswer(NetworkResponse::from_message(message)?)
            }
            Mti::SETTLEMENT => CupMessage::Settlement(SettlementRequest::from_message(message)?),
            Mti::SETTLEMENT_RESPONSE => {
                CupMessage::SettlementAnswer(SettlementResponse::from_message(message)?)
            }
            Mti::BATCH if ecash => CupMessage::Trade(FinancialRequest::from_message(message)?),
            Mti::BATCH if network_code(message) == Some(NETWORK_CODE_SETTLEMENT) => {
                CupMessage::BatchUpload(BatchUploadRequest::from_message(message)?)
            }
            Mti::BATCH => CupMessage::BatchUploadEnd(BatchUploadEnd::from_message(message)?),
            Mti::BATCH_RESPONSE if ecash => {
                CupMessage::TradeAnswer(TradeResponse::from_message(message)?)
            }
            Mti::BATCH_RESPONSE => {
                CupMessage::BatchUploadAnswer(BatchUploadResponse::from_message(message)?)
            }
            Mti::REVERSAL => CupMessage::Reversal(ReversalRequest::from_message(message)?),
            Mti::AUTHORIZATION | Mti::FINANCIAL | Mti::ADVICE => {
                CupMessage::Trade(FinancialRequest::from_message(message)?)
            }
            Mti::AUTHORIZATION_RESPONSE
            | Mti::FINANCIAL_RESPONSE
            | Mti::ADVICE_RESPONSE
            | Mti::REVERSAL_RESPONSE => {
                CupMessage::TradeAnswer(TradeResponse::from_message(message)?)
            }
            other => {
                return Err(MessageError::WrongKind {
                    mti: other,
                    detail: String::new(),
                    expected: "a message type CUP POS uses",
                })
            }
        })
    }

    pub fn to_message(&self) -> Message {
        match self {
            CupMessage::Network(m) => m.to_message(),
            CupMessage::NetworkAnswer(m) => m.to_message(),
            CupMessage::Trade(m) => m.to_message(),
            CupMessage::TradeAnswer(m) => m.to_message(),
            CupMessage::Reversal(m) => m.to_message(),
            CupMessage::Settlement(m) => m.to_message(),
            CupMessage::SettlementAnswer(m) => m.to_message(),
            CupMessage::BatchUpload(m) => m.to_message(),
            CupMessage::BatchUploadEnd(m) => m.to_message(),
            CupMessage::BatchUploadAnswer(m) => m.to_message(),
        }
    }

    /// Whether field 64 belongs on this message: financial messages,
    /// reversals and uploads carry it; network management, settlement and
    /// batch upload do not.
    pub fn carries_mac(&self) -> bool {
        matches!(self, CupMessage::Trade(_) | CupMessage::TradeAnswer(_) | CupMessage::Reversal(_))
    }

    /// The terminal the message is from or for.
    pub fn terminal(&self) -> TerminalId {
        match self {
            CupMessage::Network(m) => m.terminal,
            CupMessage::NetworkAnswer(m) => m.terminal,
            CupMessage::Trade(m) => m.terminal,
            CupMessage::TradeAnswer(m) => m.terminal,
            CupMessage::Reversal(m) => m.original().terminal,
            CupMessage::Settlement(m) => m.terminal,
            CupMessage::SettlementAnswer(m) => m.terminal,
            CupMessage::BatchUpload(m) => m.terminal,
            CupMessage::BatchUploadEnd(m) => m.terminal,
            CupMessage::BatchUploadAnswer(m) => m.terminal,
        }
    }

    pub fn stan(&self) -> Stan {
        match self {
            CupMessage::Network(m) => m.stan,
            CupMessage::NetworkAnswer(m) => m.stan,
            CupMessage::Trade(m) => m.stan,
            CupMessage::TradeAnswer(m) => m.stan,
            CupMessage::Reversal(m) => m.original().stan,
            CupMessage::Settlement(m) => m.stan,
            CupMessage::SettlementAnswer(m) => m.stan,
            CupMessage::BatchUpload(m) => m.stan,
            CupMessage::BatchUploadEnd(m) => m.stan,
            CupMessage::BatchUploadAnswer(m) => m.stan,
        }
    }
}
