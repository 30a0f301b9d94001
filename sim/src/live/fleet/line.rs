//! The line between a fleet terminal and the host under test, as the
//! simulated line has it: with [`FleetOptions::line_faults`] on (`possim
//! certify --drive`), a request dropped before it leaves (`drop_request`,
//! `drop_reversals`), an answer that arrives but never reaches the terminal
//! (`drop_answer`), and the `frame` faults placed on the Nth frame up or
//! down (drop, corrupt). To the host these look as a bad line does: a
//! request it never saw, an answer lost, a garbled MAC. Off (`possim
//! drive`), those kinds stay skipped as before.
//!
//! ```
//! use possim_sim::live::fleet::line::corrupt;
//! let mut bytes = vec![0, 2, 0xAA, 0xBB];
//! corrupt(&mut bytes, None, None);
//! assert_eq!(bytes, vec![0, 2, 0xAA, 0xBA]);
//! ```
//!
//! [`FleetOptions::line_faults`]: super::FleetOptions::line_faults

use possim_models::iso8583::values::TerminalId;

use crate::scenario::model::{FrameAction, LineDirection, ProtocolFault};
use crate::trace::Fate;

/// Flips `bit` of `byte` (default: bit 0 of the last byte, inside the MAC).
pub fn corrupt(bytes: &mut [u8], byte: Option<u32>, bit: Option<u8>) {
    let Some(last) = bytes.len().checked_sub(1) else { return };
    let index = byte.map_or(last, |byte| (byte as usize).min(last));
    bytes[index] ^= 1u8 << (bit.unwrap_or(0) % 8);
}

/// Whether a line fault kind is one the fleet plays when asked to.
pub fn is_line_fault(fault: &ProtocolFault) -> bool {
    matches!(
        fault,
        ProtocolFault::DropRequest { .. }
            | ProtocolFault::DropAnswer { .. }
            | ProtocolFault::DropReversals { .. }
            | ProtocolFault::Frame { action: FrameAction::Drop | FrameAction::Corrupt, .. }
    )
}

/// What a placed `frame` fault does to the `index`-th frame (from 1) of
/// `terminal`'s line in `direction`, if one is placed there.
pub fn frame_fate(
    faults: &[ProtocolFault],
    terminal: TerminalId,
    direction: LineDirection,
    index: u32,
    bytes: &mut [u8],
) -> Option<(Fate, String)> {
    faults.iter().find_map(|fault| match fault {
        ProtocolFault::Frame { terminal: t, direction: d, frame, action, byte, bit, .. }
            if *t == terminal && *d == direction && *frame == index =>
        {
            let way = match direction {
                LineDirection::Up => "up",
                LineDirection::Down => "down",
            };
            match action {
                FrameAction::Drop => Some((Fate::Dropped, format!("drop frame {index} {way}"))),
                FrameAction::Corrupt => {
                    corrupt(bytes, *byte, *bit);
                    Some((Fate::Corrupted, format!("corrupt frame {index} {way}")))
                }
                FrameAction::Duplicate | FrameAction::Delay => None,
            }
        }
        _ => None,
    })
}
