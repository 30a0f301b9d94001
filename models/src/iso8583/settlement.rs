//! Settlement (0500/0510) and batch upload (0320/0330 with 60.3 = 201, ended by
//! 202 when the batch did not balance or 207 when it did).
//!
//! ```
//! use possim_models::iso8583::settlement::SettlementRequest;
//! use possim_models::iso8583::subfields::BatchTotals;
//! use possim_models::iso8583::values::*;
//! let request = SettlementRequest {
//!     stan: Stan::new(9).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("12345678").unwrap(),
//!     merchant: MerchantId::new("123456789012345").unwrap(),
//!     totals: BatchTotals { debit_amount: 1000, debit_count: 1, ..Default::default() },
//!     operator: None,
//! };
//! let message = request.to_message();
//! assert_eq!(message.get_str(48), Some("0000000010000010000000000000000"));
//! ```

use super::access::{batch_of, invalid, put, put_60, put_ids, put_number, Reader};
use super::error::MessageError;
use super::message::Message;
use super::mti::Mti;
use super::response_code::ResponseCode;
use super::subfields::{BatchDetail, BatchTotals, Field60, SettlementResult, SettlementTotals};
use super::trade::CURRENCY_CNY;
use super::values::{BatchNo, MerchantId, MonthDay, Rrn, Stan, TerminalId, TimeOfDay};

/// 60.3 of a settlement and of a batch upload.
pub const NETWORK_CODE_SETTLEMENT: u16 = 201;
/// 60.3 of the batch-upload end message when the batch did not balance.
pub const NETWORK_CODE_UPLOAD_END_UNBALANCED: u16 = 202;
/// 60.3 of the batch-upload end message when it did.
pub const NETWORK_CODE_UPLOAD_END_BALANCED: u16 = 207;

fn expect_mti(message: &Message, mti: Mti, expected: &'static str) -> Result<(), MessageError> {
    if message.mti() != mti {
        return Err(MessageError::WrongKind {
            mti: message.mti(),
            detail: String::new(),
            expected,
        });
    }
    Ok(())
}

/// The terminal's batch totals (0500). No MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRequest {
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub totals: BatchTotals,
    pub operator: Option<[u8; 3]>,
}

impl SettlementRequest {
    pub fn to_message(&self) -> Message {
        let mut message = Message::new(Mti::SETTLEMENT);
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_ids(&mut message, &self.terminal, &self.merchant);
        let totals = SettlementTotals {
            domestic: self.totals,
            domestic_result: SettlementResult::NotChecked,
            foreign: None,
        };
        put(&mut message, 48, totals.to_digits().as_bytes());
        put(&mut message, 49, CURRENCY_CNY);
        put_60(&mut message, &Field60::new(0, self.batch, NETWORK_CODE_SETTLEMENT));
        if let Some(operator) = &self.operator {
            put(&mut message, 63, operator);
        }
        message
    }

    pub fn from_message(message: &Message) -> Result<SettlementRequest, MessageError> {
        expect_mti(message, Mti::SETTLEMENT, "a settlement 0500")?;
        let reader = Reader::new(message, "a settlement");
        let (_, batch) = batch_of(&reader)?;
        let totals =
            SettlementTotals::parse(reader.raw(48)?).map_err(|reason| invalid(48, reason))?;
        Ok(SettlementRequest {
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            totals: totals.domestic,
            operator: reader.optional(63, |b| <[u8; 3]>::try_from(b).ok(), "an operator number")?,
        })
    }
}

/// The host's settlement answer (0510): the totals echoed with the result flag
/// at position 30. It has no field 39.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementResponse {
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub time: TimeOfDay,
    pub date: MonthDay,
    pub settlement_date: Option<MonthDay>,
    pub rrn: Option<Rrn>,
    pub totals: BatchTotals,
    pub result: SettlementResult,
}

impl SettlementResponse {
    pub fn to_message(&self) -> Message {
        let mut message = Message::new(Mti::SETTLEMENT_RESPONSE);
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_number(&mut message, 12, self.time.number());
        put_number(&mut message, 13, self.date.number());
        if let Some(date) = self.settlement_date {
            put_number(&mut message, 15, date.number());
        }
        if let Some(rrn) = &self.rrn {
            put(&mut message, 37, rrn.as_bytes());
        }
        put_ids(&mut message, &self.terminal, &self.merchant);
        let totals =
            SettlementTotals { domestic: self.totals, domestic_result: self.result, foreign: None };
        put(&mut message, 48, totals.to_digits().as_bytes());
        put(&mut message, 49, CURRENCY_CNY);
        put_60(&mut message, &Field60::new(0, self.batch, NETWORK_CODE_SETTLEMENT));
        message
    }

    pub fn from_message(message: &Message) -> Result<SettlementResponse, MessageError> {
        expect_mti(message, Mti::SETTLEMENT_RESPONSE, "a settlement answer 0510")?;
        let reader = Reader::new(message, "a settlement answer");
        let (_, batch) = batch_of(&reader)?;
        let totals =
            SettlementTotals::parse(reader.raw(48)?).map_err(|reason| invalid(48, reason))?;
        Ok(SettlementResponse {
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            time: reader.time()?,
            date: reader.date()?,
            settlement_date: reader.optional(15, MonthDay::from_digits, "a date MMDD")?,
            rrn: reader.rrn()?,
            totals: totals.domestic,
            result: totals.domestic_result,
        })
    }
}

/// One batch upload message (0320, 60.3 = 201): up to eight trades' detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUploadRequest {
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub detail: BatchDetail,
}

/// The end of a batch upload (0320, 60.3 = 202 unbalanced / 207 balanced),
/// with the number of trades uploaded (n4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUploadEnd {
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub total_count: u16,
    pub balanced: bool,
}

/// The host's answer to either (0330 with field 39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUploadResponse {
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub network_code: u16,
    pub response_code: ResponseCode,
}

impl BatchUploadRequest {
    pub fn to_message(&self) -> Message {
        let mut message = Message::new(Mti::BATCH);
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_ids(&mut message, &self.terminal, &self.merchant);
        put(&mut message, 48, self.detail.to_digits().as_bytes());
        put_60(&mut message, &Field60::new(0, self.batch, NETWORK_CODE_SETTLEMENT));
        message
    }

    pub fn from_message(message: &Message) -> Result<BatchUploadRequest, MessageError> {
        expect_mti(message, Mti::BATCH, "a batch upload 0320")?;
        let reader = Reader::new(message, "a batch upload");
        let (field_60, batch) = batch_of(&reader)?;
        if field_60.message_type != 0 || field_60.network_code != NETWORK_CODE_SETTLEMENT {
            return Err(invalid(60, "a batch upload has 60.1 00 and 60.3 201"));
        }
        Ok(BatchUploadRequest {
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            detail: BatchDetail::parse(reader.raw(48)?).map_err(|reason| invalid(48, reason))?,
        })
    }
}

impl BatchUploadEnd {
    pub const COUNT_MAX: u16 = 9999;

    pub fn network_code(&self) -> u16 {
        if self.balanced {
            NETWORK_CODE_UPLOAD_END_BALANCED
        } else {
            NETWORK_CODE_UPLOAD_END_UNBALANCED
        }
    }

    pub fn to_message(&self) -> Message {
        assert!(self.total_count <= Self::COUNT_MAX);
        let mut message = Message::new(Mti::BATCH);
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_ids(&mut message, &self.terminal, &self.merchant);
        put(&mut message, 48, format!("{:04}", self.total_count).as_bytes());
        put_60(&mut message, &Field60::new(0, self.batch, self.network_code()));
        message
    }

    pub fn from_message(message: &Message) -> Result<BatchUploadEnd, MessageError> {
        expect_mti(message, Mti::BATCH, "a batch upload end 0320")?;
        let reader = Reader::new(message, "a batch upload end");
        let (field_60, batch) = batch_of(&reader)?;
        let balanced = match field_60.network_code {
            NETWORK_CODE_UPLOAD_END_BALANCED => true,
            NETWORK_CODE_UPLOAD_END_UNBALANCED => false,
            other => {
                return Err(invalid(60, format!("60.3 {other:03} does not end a batch upload")))
            }
        };
        let count = reader.raw(48)?;
        if count.len() != 4 {
            return Err(invalid(48, "the uploaded count is n4"));
        }
        Ok(BatchUploadEnd {
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            total_count: reader.number(48)? as u16,
            balanced,
        })
    }
}

impl BatchUploadResponse {
    pub fn to_message(&self) -> Message {
        let mut message = Message::new(Mti::BATCH_RESPONSE);
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put(&mut message, 39, self.response_code.as_bytes());
        put_ids(&mut message, &self.terminal, &self.merchant);
        put_60(&mut message, &Field60::new(0, self.batch, self.network_code));
        message
    }

    pub fn from_message(message: &Message) -> Result<BatchUploadResponse, MessageError> {
        expect_mti(message, Mti::BATCH_RESPONSE, "a batch upload answer 0330")?;
        let reader = Reader::new(message, "a batch upload answer");
        let (field_60, batch) = batch_of(&reader)?;
        Ok(BatchUploadResponse {
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            network_code: field_60.network_code,
            response_code: reader.response_code()?,
        })
    }
}
