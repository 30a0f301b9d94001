//! A frame as one JSON object: `tpdu`, `header`, `mti`, then each present
//! field by its number, every value a string exactly as it travels: numeric
//! fields as their digits at full width, track data with `=`, text with its
//! space padding, binary fields (52, 55, 62, 64) as uppercase hex.
//!
//! ```
//! use possim_sim::frame_json::{from_json, to_json};
//! let json = serde_json::json!({
//!     "tpdu": "6000030000", "header": "603100310001", "mti": "0820",
//!     "11": "000001", "41": "12345678", "42": "123456789012345", "60": "00000001301"
//! });
//! let frame = from_json(&json).unwrap();
//! assert_eq!(to_json(&frame), json);
//! ```

use possim_models::iso8583::hex;
use possim_models::iso8583::spec::{field_spec, Alphabet};
use possim_models::iso8583::{
    FieldError, Frame, Header, Message, Mti, ProcessingRequirement, Tpdu,
};
use serde_json::{Map, Value};

/// Why a JSON object is not a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameJsonError {
    #[error("expected one JSON object")]
    NotAnObject,
    #[error("key {key:?}: expected a string value")]
    NotAString { key: String },
    #[error("key {key:?} is missing")]
    Missing { key: &'static str },
    #[error("key {key:?} is not tpdu, header, mti or a field number 2 to 64")]
    UnknownKey { key: String },
    #[error("{key}: {reason}")]
    BadValue { key: String, reason: String },
    #[error("{0}")]
    Field(#[from] FieldError),
}

/// The JSON object of `frame`.
pub fn to_json(frame: &Frame) -> Value {
    let mut object = Map::new();
    object.insert("tpdu".into(), Value::String(hex::encode_upper(&frame.tpdu.to_bytes())));
    object.insert("header".into(), Value::String(hex::encode_upper(&frame.header.to_bytes())));
    object.insert("mti".into(), Value::String(frame.message.mti().to_string()));
    for (field, value) in frame.message.fields() {
        let binary = field_spec(field).is_some_and(|spec| spec.alphabet == Alphabet::Binary);
        let text = if binary {
            hex::encode_upper(value)
        } else {
            String::from_utf8_lossy(value).into_owned()
        };
        object.insert(field.to_string(), Value::String(text));
    }
    Value::Object(object)
}

fn hex_of<const N: usize>(key: &str, text: &str) -> Result<[u8; N], FrameJsonError> {
    let bytes = hex::decode(text)
        .map_err(|error| FrameJsonError::BadValue { key: key.into(), reason: error.to_string() })?;
    bytes.try_into().map_err(|bytes: Vec<u8>| FrameJsonError::BadValue {
        key: key.into(),
        reason: format!("expected {N} bytes of hex, got {}", bytes.len()),
    })
}

/// The frame a JSON object describes; every value is checked against the field table.
pub fn from_json(json: &Value) -> Result<Frame, FrameJsonError> {
    let object = json.as_object().ok_or(FrameJsonError::NotAnObject)?;
    let string = |key: &'static str| -> Result<&str, FrameJsonError> {
        object
            .get(key)
            .ok_or(FrameJsonError::Missing { key })?
            .as_str()
            .ok_or(FrameJsonError::NotAString { key: key.into() })
    };
    let tpdu = hex_of::<5>("tpdu", string("tpdu")?)?;
    let header = hex_of::<6>("header", string("header")?)?;
    let mti: Mti = string("mti")?.parse().map_err(|reason: &str| FrameJsonError::BadValue {
        key: "mti".into(),
        reason: reason.into(),
    })?;
    let software = possim_models::iso8583::bcd::read_length(&header[3..6]).ok_or_else(|| {
        FrameJsonError::BadValue {
            key: "header".into(),
            reason: "software version is not BCD".into(),
        }
    })?;
    let frame_header = Header {
        application: header[0],
        version: header[1],
        terminal_status: header[2] >> 4,
        processing: ProcessingRequirement(header[2] & 0x0F),
        software_version: software as u32,
    };
    let frame_tpdu = Tpdu {
        id: tpdu[0],
        destination: u16::from_be_bytes([tpdu[1], tpdu[2]]),
        source: u16::from_be_bytes([tpdu[3], tpdu[4]]),
    };
    let mut message = Message::new(mti);
    for (key, value) in object {
        if matches!(key.as_str(), "tpdu" | "header" | "mti") {
            continue;
        }
        let field: u8 = key
            .parse()
            .ok()
            .filter(|n| (2..=64).contains(n))
            .ok_or_else(|| FrameJsonError::UnknownKey { key: key.clone() })?;
        let text = value.as_str().ok_or_else(|| FrameJsonError::NotAString { key: key.clone() })?;
        let spec = field_spec(field).ok_or(FieldError::NotInTable { field })?;
        if spec.alphabet == Alphabet::Binary {
            let bytes = hex::decode(text).map_err(|error| FrameJsonError::BadValue {
                key: key.clone(),
                reason: error.to_string(),
            })?;
            message.set(field, &bytes)?;
        } else {
            message.set(field, text.as_bytes())?;
        }
    }
    Ok(Frame { tpdu: frame_tpdu, header: frame_header, message })
}
