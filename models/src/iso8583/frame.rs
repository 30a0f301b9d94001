//! The CUP POS frame: length, TPDU, header, message.
//!
//! `[len u16 BE, excluding itself][TPDU 5][header 6][MTI 2][bitmap 8][fields]`.
//!
//! ```
//! use possim_models::iso8583::{Frame, Header, Message, Mti, Tpdu};
//! let frame = Frame {
//!     tpdu: Tpdu::new(0x0003, 0x0000),
//!     header: Header::new(310_001),
//!     message: Message::new(Mti::NETWORK),
//! };
//! let wire = frame.to_bytes();
//! assert_eq!(&wire[..2], &[0x00, 0x15]); // 21 bytes follow
//! assert_eq!(Frame::decode(&wire).unwrap(), frame);
//! ```

use super::error::DecodeError;
use super::message::Message;

/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 2;
pub const TPDU_BYTES: usize = 5;
pub const HEADER_BYTES: usize = 6;
/// Where the message (MTI) starts in a frame.
pub const MESSAGE_OFFSET: usize = LENGTH_BYTES + TPDU_BYTES + HEADER_BYTES;
/// The shortest frame: prefix, TPDU, header, MTI, bitmap.
pub const FRAME_BYTES_MIN: usize = MESSAGE_OFFSET + 10;
/// The longest frame possible says less than this; a peer that announces more
/// is not speaking CUP POS, and we refuse before buffering it.
pub const FRAME_BYTES_MAX: usize = 2048;

/// Transport protocol data unit: id `0x60`, destination and source addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpdu {
    pub id: u8,
    pub destination: u16,
    pub source: u16,
}

impl Tpdu {
    pub const ID: u8 = 0x60;

    pub const fn new(destination: u16, source: u16) -> Tpdu {
        Tpdu { id: Tpdu::ID, destination, source }
    }

    /// The TPDU of an answer: addresses swapped.
    pub const fn reply(self) -> Tpdu {
        Tpdu { id: self.id, destination: self.source, source: self.destination }
    }

    pub fn to_bytes(self) -> [u8; TPDU_BYTES] {
        let [d0, d1] = self.destination.to_be_bytes();
        let [s0, s1] = self.source.to_be_bytes();
        [self.id, d0, d1, s0, s1]
    }
}

/// What the host asks the terminal to do next (header, low nibble of byte 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcessingRequirement(pub u8);

impl ProcessingRequirement {
    pub const NONE: ProcessingRequirement = ProcessingRequirement(0);
    pub const DOWNLOAD_PARAMETERS: ProcessingRequirement = ProcessingRequirement(1);
    pub const UPLOAD_STATUS: ProcessingRequirement = ProcessingRequirement(2);
    pub const SIGN_IN_AGAIN: ProcessingRequirement = ProcessingRequirement(3);
}

/// The 6-byte CUP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Application class, `0x60` for POS.
    pub application: u8,
    /// Specification version, `0x31`.
    pub version: u8,
    /// Terminal status nibble (0 normal, 1 test).
    pub terminal_status: u8,
    pub processing: ProcessingRequirement,
    /// Six decimal digits.
    pub software_version: u32,
}

impl Header {
    pub const APPLICATION_POS: u8 = 0x60;
    pub const VERSION: u8 = 0x31;
    pub const SOFTWARE_VERSION_MAX: u32 = 999_999;

    pub fn new(software_version: u32) -> Header {
        assert!(software_version <= Header::SOFTWARE_VERSION_MAX);
        Header {
            application: Header::APPLICATION_POS,
            version: Header::VERSION,
            terminal_status: 0,
            processing: ProcessingRequirement::NONE,
            software_version,
        }
    }

    pub fn to_bytes(self) -> [u8; HEADER_BYTES] {
        assert!(self.terminal_status <= 0x0F && self.processing.0 <= 0x0F);
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[0] = self.application;
        bytes[1] = self.version;
        bytes[2] = self.terminal_status << 4 | self.processing.0;
        bytes[3..]
            .copy_from_slice(&super::bcd::pack_u64_array::<3>(u64::from(self.software_version)));
        bytes
    }

    fn from_bytes(bytes: &[u8], offset: usize) -> Result<Header, DecodeError> {
        debug_assert_eq!(bytes.len(), HEADER_BYTES);
        let software_version =
            super::bcd::read_length(&bytes[3..6]).ok_or(DecodeError::BadHeader {
                offset: offset + 3,
                what: "software version is not BCD",
            })?;
        Ok(Header {
            application: bytes[0],
            version: bytes[1],
            terminal_status: bytes[2] >> 4,
            processing: ProcessingRequirement(bytes[2] & 0x0F),
            software_version: software_version as u32,
        })
    }
}

/// A whole frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tpdu: Tpdu,
    pub header: Header,
    pub message: Message,
}

impl Frame {
    /// Appends the whole frame, length prefix included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.tpdu.to_bytes());
        out.extend_from_slice(&self.header.to_bytes());
        self.message.encode(out);
        let length = out.len() - start - LENGTH_BYTES;
        assert!(length + LENGTH_BYTES <= FRAME_BYTES_MAX, "frame of {length} bytes");
        out[start..start + 2].copy_from_slice(&(length as u16).to_be_bytes());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one frame, length prefix included.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        Frame::decode_with_mac_span(bytes).map(|(frame, _)| frame)
    }

    /// As [`Frame::decode`], also returning the byte range of `bytes` that the
    /// MAC covers when field 64 is present.
    pub fn decode_with_mac_span(
        bytes: &[u8],
    ) -> Result<(Frame, Option<std::ops::Range<usize>>), DecodeError> {
        if bytes.len() < FRAME_BYTES_MIN {
            return Err(DecodeError::TooShort { length: bytes.len(), minimum: FRAME_BYTES_MIN });
        }
        let declared = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        if declared + LENGTH_BYTES > FRAME_BYTES_MAX {
            return Err(DecodeError::TooLong { declared, maximum: FRAME_BYTES_MAX - LENGTH_BYTES });
        }
        let actual = bytes.len() - LENGTH_BYTES;
        if declared != actual {
            return Err(DecodeError::LengthMismatch { declared, actual });
        }
        let tpdu_bytes = &bytes[LENGTH_BYTES..LENGTH_BYTES + TPDU_BYTES];
        if tpdu_bytes[0] != Tpdu::ID {
            return Err(DecodeError::BadTpdu { offset: LENGTH_BYTES, id: tpdu_bytes[0] });
        }
        let tpdu = Tpdu {
            id: tpdu_bytes[0],
            destination: u16::from_be_bytes([tpdu_bytes[1], tpdu_bytes[2]]),
            source: u16::from_be_bytes([tpdu_bytes[3], tpdu_bytes[4]]),
        };
        let header_offset = LENGTH_BYTES + TPDU_BYTES;
        let header = Header::from_bytes(&bytes[header_offset..MESSAGE_OFFSET], header_offset)?;
        let (message, mac_start) = Message::decode_at(&bytes[MESSAGE_OFFSET..])
            .map_err(|error| error.shifted(MESSAGE_OFFSET))?;
        let mac_span = mac_start.map(|start| MESSAGE_OFFSET..MESSAGE_OFFSET + start);
        Ok((Frame { tpdu, header, message }, mac_span))
    }
}

/// Splits a byte stream into frames: `Ok(Some(n))` when the first `n` bytes of
/// `buffer` are one whole frame, `Ok(None)` when more bytes are needed, and an
/// error when the announced length can never be a CUP POS frame (the reader
/// should drop the connection: nothing after it can be trusted to align).
pub fn split_frame(buffer: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buffer.len() < LENGTH_BYTES {
        return Ok(None);
    }
    let declared = usize::from(u16::from_be_bytes([buffer[0], buffer[1]]));
    let total = declared + LENGTH_BYTES;
    if total > FRAME_BYTES_MAX {
        return Err(DecodeError::TooLong { declared, maximum: FRAME_BYTES_MAX - LENGTH_BYTES });
    }
    if total < FRAME_BYTES_MIN {
        return Err(DecodeError::TooShort { length: total, minimum: FRAME_BYTES_MIN });
    }
    Ok((buffer.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::spec::all_fields;

    #[test]
    fn the_largest_possible_frame_fits_the_limit() {
        let fields: usize = all_fields().map(|spec| spec.wire_bytes_max()).sum();
        assert!(FRAME_BYTES_MIN + fields <= FRAME_BYTES_MAX, "{}", FRAME_BYTES_MIN + fields);
    }

    #[test]
    fn split_waits_for_the_whole_frame() {
        assert_eq!(split_frame(&[0x00]), Ok(None));
        assert_eq!(split_frame(&[0x00, 0x15, 0x60]), Ok(None));
        let mut whole = vec![0x00, 0x15];
        whole.extend_from_slice(&[0; 0x15]);
        whole.push(0xFF); // first byte of the next frame
        assert_eq!(split_frame(&whole), Ok(Some(0x17)));
        assert!(split_frame(&[0xFF, 0xFF]).is_err());
    }

    #[test]
    fn tpdu_reply_swaps_addresses() {
        let tpdu = Tpdu::new(0x0003, 0x0100);
        assert_eq!(tpdu.reply(), Tpdu::new(0x0100, 0x0003));
        assert_eq!(tpdu.to_bytes(), [0x60, 0x00, 0x03, 0x01, 0x00]);
    }
}
