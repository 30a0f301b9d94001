//! One TCP connection's framing, with limits: a frame announces at most
//! [`FRAME_BYTES_MAX`] bytes, a connection buffers at most one frame and one
//! read chunk, and a connection that completes no frame within
//! `idle_timeout_ms` is closed (a silent client, or one sending a byte a
//! second). Everything refused is said why, for the log.
//!
//! ```
//! use possim_sim::live::connection::{FrameBuffer, FramingError};
//! let mut buffer = FrameBuffer::new();
//! assert_eq!(buffer.push(&[0x00]).unwrap(), Vec::<Vec<u8>>::new());
//! assert!(matches!(buffer.push(&[0x01]), Err(FramingError::TooShort { .. })));
//! let mut buffer = FrameBuffer::new();
//! assert!(matches!(buffer.push(&[0xFF, 0xFF]), Err(FramingError::TooLong { .. })));
//! ```

use possim_models::iso8583::frame::{FRAME_BYTES_MAX, FRAME_BYTES_MIN, LENGTH_BYTES};

/// Bytes read from the socket at once.
pub const READ_CHUNK_BYTES: usize = 1024;
/// The most a connection ever buffers.
pub const BUFFER_BYTES_MAX: usize = FRAME_BYTES_MAX + READ_CHUNK_BYTES;
/// Frames waiting to be written on one connection; past it, one is dropped (logged).
pub const OUTBOX_FRAMES_MAX: usize = 64;

/// Why a byte stream stopped being CUP frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("frame length {declared} over the maximum {maximum}")]
    TooLong { declared: usize, maximum: usize },
    #[error("frame length {declared} under the minimum {minimum}")]
    TooShort { declared: usize, minimum: usize },
}

/// Splits a byte stream into whole frames (length prefix included).
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buffer: Vec<u8>,
}

impl FrameBuffer {
    pub fn new() -> FrameBuffer {
        FrameBuffer { buffer: Vec::with_capacity(FRAME_BYTES_MAX) }
    }

    /// Bytes of a frame begun but not finished.
    pub fn pending_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Adds bytes; returns the frames they completed. After an error the
    /// stream cannot be realigned: the caller closes the connection.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FramingError> {
        assert!(bytes.len() <= READ_CHUNK_BYTES, "reads come in chunks of {READ_CHUNK_BYTES}");
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        // Each pass takes one frame of at least FRAME_BYTES_MIN bytes.
        for _ in 0..=BUFFER_BYTES_MAX / FRAME_BYTES_MIN {
            if self.buffer.len() < LENGTH_BYTES {
                break;
            }
            let declared = usize::from(u16::from_be_bytes([self.buffer[0], self.buffer[1]]));
            let total = declared + LENGTH_BYTES;
            if total > FRAME_BYTES_MAX {
                return Err(FramingError::TooLong {
                    declared,
                    maximum: FRAME_BYTES_MAX - LENGTH_BYTES,
                });
            }
            if total < FRAME_BYTES_MIN {
                return Err(FramingError::TooShort {
                    declared,
                    minimum: FRAME_BYTES_MIN - LENGTH_BYTES,
                });
            }
            if self.buffer.len() < total {
                break;
            }
            frames.push(self.buffer.drain(..total).collect());
        }
        assert!(self.buffer.len() <= BUFFER_BYTES_MAX, "a partial frame over the limit");
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(length: usize) -> Vec<u8> {
        let mut bytes = (length as u16).to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(0x60, length));
        bytes
    }

    #[test]
    fn frames_split_across_reads_and_packed_in_one() {
        let mut buffer = FrameBuffer::new();
        let whole = frame(30);
        assert!(buffer.push(&whole[..5]).unwrap().is_empty());
        assert_eq!(buffer.push(&whole[5..]).unwrap(), vec![whole.clone()]);
        let mut two = whole.clone();
        two.extend(frame(40));
        let frames = buffer.push(&two).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].len(), 42);
        assert_eq!(buffer.pending_bytes(), 0);
    }

    #[test]
    fn lying_lengths_are_refused_before_buffering() {
        let mut buffer = FrameBuffer::new();
        assert_eq!(
            buffer.push(&[0x08, 0x00]),
            Err(FramingError::TooLong { declared: 2048, maximum: 2046 })
        );
        let mut buffer = FrameBuffer::new();
        assert!(matches!(buffer.push(&[0x00, 0x02, 0, 0]), Err(FramingError::TooShort { .. })));
    }
}
