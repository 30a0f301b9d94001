//! Typed errors of the wire format. Every one names the field (where there is
//! one) and the reason; decode errors also give the byte offset in the frame.

use thiserror::Error;

use super::mti::Mti;

/// What is wrong with one field's value or its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FieldFault {
    #[error("needs {needed} bytes but only {remaining} remain")]
    Truncated { needed: usize, remaining: usize },
    #[error("length prefix is not BCD")]
    LengthPrefixNotBcd,
    #[error("length {length} is over the maximum {max}")]
    LengthOverMax { length: usize, max: usize },
    #[error("length {length} is not the fixed length {expected}")]
    WrongLength { length: usize, expected: usize },
    #[error("nibble {nibble:#x} at digit {position} is not allowed here")]
    BadNibble { position: usize, nibble: u8 },
    #[error("pad nibble {nibble:#x} is not zero")]
    PadNotZero { nibble: u8 },
    #[error("byte {byte:#04x} at position {position} is not allowed in this field")]
    BadCharacter { position: usize, byte: u8 },
}

/// Setting a field to a value the table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FieldError {
    #[error("field {field} is not in the CUP POS table")]
    NotInTable { field: u8 },
    #[error("field {field}: {fault}")]
    Invalid { field: u8, fault: FieldFault },
}

/// Why a byte string is not a CUP POS frame or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("frame is {length} bytes, shorter than the {minimum}-byte minimum")]
    TooShort { length: usize, minimum: usize },
    #[error("length prefix says {declared} bytes but {actual} follow")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("length prefix says {declared} bytes, over the {maximum}-byte limit")]
    TooLong { declared: usize, maximum: usize },
    #[error("byte {offset}: tpdu id {id:#04x} is not 0x60")]
    BadTpdu { offset: usize, id: u8 },
    #[error("byte {offset}: header {what}")]
    BadHeader { offset: usize, what: &'static str },
    #[error("byte {offset}: message type is not BCD")]
    BadMti { offset: usize },
    #[error("byte {offset}: bitmap sets bit 1 (secondary bitmap), which CUP POS does not use")]
    SecondaryBitmap { offset: usize },
    #[error("byte {offset}: bitmap sets field {field}, which is not in the CUP POS table")]
    UnknownField { offset: usize, field: u8 },
    #[error("byte {offset}: field {field}: {fault}")]
    Field { offset: usize, field: u8, fault: FieldFault },
    #[error("byte {offset}: {extra} bytes left over after the last field")]
    TrailingBytes { offset: usize, extra: usize },
}

impl DecodeError {
    /// The field the error is about, if any.
    pub fn field(&self) -> Option<u8> {
        match self {
            DecodeError::UnknownField { field, .. } | DecodeError::Field { field, .. } => {
                Some(*field)
            }
            _ => None,
        }
    }

    /// The offset of the offending byte from the start of the input, if known.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            DecodeError::BadTpdu { offset, .. }
            | DecodeError::BadHeader { offset, .. }
            | DecodeError::BadMti { offset }
            | DecodeError::SecondaryBitmap { offset }
            | DecodeError::UnknownField { offset, .. }
            | DecodeError::Field { offset, .. }
            | DecodeError::TrailingBytes { offset, .. } => Some(offset),
            _ => None,
        }
    }

    pub(crate) fn shifted(self, by: usize) -> DecodeError {
        match self {
            DecodeError::BadTpdu { offset, id } => DecodeError::BadTpdu { offset: offset + by, id },
            DecodeError::BadHeader { offset, what } => {
                DecodeError::BadHeader { offset: offset + by, what }
            }
            DecodeError::BadMti { offset } => DecodeError::BadMti { offset: offset + by },
            DecodeError::SecondaryBitmap { offset } => {
                DecodeError::SecondaryBitmap { offset: offset + by }
            }
            DecodeError::UnknownField { offset, field } => {
                DecodeError::UnknownField { offset: offset + by, field }
            }
            DecodeError::Field { offset, field, fault } => {
                DecodeError::Field { offset: offset + by, field, fault }
            }
            DecodeError::TrailingBytes { offset, extra } => {
                DecodeError::TrailingBytes { offset: offset + by, extra }
            }
            other => other,
        }
    }
}

/// A message that decodes but is not the typed message asked for: a mandatory
/// field missing, a sub-field out of range, the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    #[error("field {field} is mandatory in {message} but absent")]
    Missing { message: &'static str, field: u8 },
    #[error("field {field}: {reason}")]
    Invalid { field: u8, reason: String },
    #[error("message type {mti} with {detail} is not {expected}")]
    WrongKind { mti: Mti, detail: String, expected: &'static str },
}
