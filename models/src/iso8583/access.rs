//! Helpers the typed messages share: reading mandatory fields with errors that
//! name the message and field, and writing values that are valid by type.

use super::error::MessageError;
use super::message::Message;
use super::response_code::ResponseCode;
use super::subfields::Field60;
use super::values::{
    AuthCode, BatchNo, Expiry, MerchantId, MonthDay, Pan, Rrn, Stan, TerminalId, TimeOfDay,
};

/// Reads the fields of one typed message out of a [`Message`].
pub(crate) struct Reader<'a> {
    pub message: &'a Message,
    pub name: &'static str,
}

pub(crate) fn invalid(field: u8, reason: impl Into<String>) -> MessageError {
    MessageError::Invalid { field, reason: reason.into() }
}

impl<'a> Reader<'a> {
    pub fn new(message: &'a Message, name: &'static str) -> Reader<'a> {
        Reader { message, name }
    }

    pub fn raw(&self, field: u8) -> Result<&'a [u8], MessageError> {
        self.message.get(field).ok_or(MessageError::Missing { message: self.name, field })
    }

    pub fn number(&self, field: u8) -> Result<u64, MessageError> {
        self.message.get_number(field).ok_or(MessageError::Missing { message: self.name, field })
    }

    pub fn typed<T>(
        &self,
        field: u8,
        parse: impl FnOnce(&[u8]) -> Option<T>,
        what: &str,
    ) -> Result<T, MessageError> {
        parse(self.raw(field)?).ok_or_else(|| invalid(field, format!("is not {what}")))
    }

    pub fn optional<T>(
        &self,
        field: u8,
        parse: impl FnOnce(&[u8]) -> Option<T>,
        what: &str,
    ) -> Result<Option<T>, MessageError> {
        match self.message.get(field) {
            None => Ok(None),
            Some(bytes) => {
                parse(bytes).map(Some).ok_or_else(|| invalid(field, format!("is not {what}")))
            }
        }
    }

    pub fn stan(&self) -> Result<Stan, MessageError> {
        Stan::new(self.number(11)? as u32).ok_or_else(|| invalid(11, "trace number 000000"))
    }

    pub fn terminal(&self) -> Result<TerminalId, MessageError> {
        self.typed(41, TerminalId::from_wire, "a terminal id")
    }

    pub fn merchant(&self) -> Result<MerchantId, MessageError> {
        self.typed(42, MerchantId::from_wire, "a merchant id")
    }

    pub fn pan(&self) -> Result<Pan, MessageError> {
        self.typed(2, Pan::from_wire, "a card number")
    }

    pub fn response_code(&self) -> Result<ResponseCode, MessageError> {
        self.typed(39, ResponseCode::from_wire, "a response code")
    }

    pub fn field_60(&self) -> Result<Field60, MessageError> {
        Field60::parse(self.raw(60)?).map_err(|reason| invalid(60, reason))
    }

    pub fn rrn(&self) -> Result<Option<Rrn>, MessageError> {
        self.optional(37, Rrn::from_wire, "a reference number")
    }

    pub fn auth_code(&self) -> Result<Option<AuthCode>, MessageError> {
        self.optional(38, AuthCode::from_wire, "an authorization code")
    }

    pub fn time(&self) -> Result<TimeOfDay, MessageError> {
        self.typed(12, TimeOfDay::from_digits, "a time hhmmss")
    }

    pub fn date(&self) -> Result<MonthDay, MessageError> {
        self.typed(13, MonthDay::from_digits, "a date MMDD")
    }

    pub fn expiry(&self) -> Result<Option<Expiry>, MessageError> {
        self.optional(14, Expiry::from_digits, "an expiry YYMM")
    }
}

/// Writes values that are valid by their type; a failure here is a bug in
/// this crate, never bad input, hence the assertion.
pub(crate) fn put(message: &mut Message, field: u8, value: &[u8]) {
    if let Err(error) = message.set(field, value) {
        panic!("typed value rejected by the field table: {error}");
    }
}

pub(crate) fn put_number(message: &mut Message, field: u8, value: u64) {
    if let Err(error) = message.set_number(field, value) {
        panic!("typed number rejected by the field table: {error}");
    }
}

pub(crate) fn put_ids(message: &mut Message, terminal: &TerminalId, merchant: &MerchantId) {
    put(message, 41, terminal.as_bytes());
    put(message, 42, merchant.as_bytes());
}

pub(crate) fn put_60(message: &mut Message, field_60: &Field60) {
    put(message, 60, field_60.to_digits().as_bytes());
}

pub(crate) fn batch_of(reader: &Reader<'_>) -> Result<(Field60, BatchNo), MessageError> {
    let field_60 = reader.field_60()?;
    Ok((field_60, field_60.batch))
}
