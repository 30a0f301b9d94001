//! The frames as they travelled, one view per frame record: who sent it to
//! whom, its MTI, the trade it names (field 41, field 60.2 batch, field 11
//! STAN), and whether it arrived intact. The invariants that trust no
//! actor's word about itself judge from these.
//!
//! The batch is read from the record's field listing (`60=22000001000`:
//! 60.1 type, 60.2 batch, 60.3), where the recorder keeps every field but
//! 4, 11, 39 and 41; field 60 is short enough never to be cut.
//!
//! *Intact* means the receiver got the bytes the sender's MAC covers: the
//! frame was delivered (on time, late or twice) and no bit was flipped from
//! the MTI on. A line fault that flipped a bit of the TPDU or the header
//! only (the MAC does not cover them) leaves the frame intact; the fault
//! records written just before the frame say which byte was flipped. A
//! corrupted frame whose flipped byte is unknown counts as garbled.
//!
//! ```
//! use possim_sim::oracle::wire::{field, MAC_SPAN_START_BYTE};
//! assert_eq!(field("3=000000 60=22000001000 64=41", 60), Some("22000001000"));
//! assert_eq!(field("3=000000", 60), None);
//! assert_eq!(MAC_SPAN_START_BYTE, 13);
//! ```

use possim_models::actor::Node;
use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::{BatchNo, Stan, TerminalId};
use possim_models::iso8583::Mti;

use crate::trace::{Fate, FaultKind, FrameRecord, TraceEvent, TraceRecord};

/// The first byte the MAC covers, counted in the frame as sent: past the
/// length (2), the TPDU (5) and the header (6), the MTI.
pub const MAC_SPAN_START_BYTE: u32 = 2 + 5 + 6;

/// Fault records looked back over for one frame: a frame carries at most a
/// placed and a random fault of each kind.
const FAULTS_PER_FRAME_MAX: usize = 8;

/// One frame as it travelled.
#[derive(Debug, Clone, Copy)]
pub struct WireFrame<'a> {
    pub seq: u64,
    pub from: Node,
    pub to: Node,
    pub mti: Option<&'a str>,
    pub terminal: Option<TerminalId>,
    /// Field 11.
    pub stan: Option<Stan>,
    /// Field 60.2.
    pub batch: Option<BatchNo>,
    pub code: Option<ResponseCode>,
    pub amount_fen: Option<u64>,
    /// Field 3.
    pub processing_code: Option<&'a str>,
    /// The trade kind fields MTI, 3, 25 and 60.1 name (requests only).
    pub kind: Option<TradeKind>,
    pub fate: Fate,
    /// A bit flipped inside what the MAC covers: whatever arrived is not
    /// what the sender signed.
    pub garbled: bool,
    /// Any bit flipped, the MAC's span or not: a frame without a MAC (0510,
    /// 0330) may be refused for a flip in its header.
    pub flipped: bool,
    pub record: &'a FrameRecord,
}

impl WireFrame<'_> {
    /// Whether the receiver got it, and got what the sender signed.
    pub fn intact(&self) -> bool {
        self.arrived() && !self.garbled
    }

    /// Whether any copy reached the receiver.
    pub fn arrived(&self) -> bool {
        matches!(
            self.fate,
            Fate::Delivered | Fate::Delayed { .. } | Fate::Duplicated | Fate::Corrupted
        )
    }

    /// A request (an odd third MTI digit is an answer: 0210, 0410, ...).
    pub fn is_request(&self) -> bool {
        self.mti
            .is_some_and(|mti| mti.as_bytes().get(2).is_some_and(|d| (d - b'0').is_multiple_of(2)))
    }

    /// The MTI of the request this frame answers (`0210` → `0200`).
    pub fn request_mti(&self) -> Option<String> {
        let mti = self.mti?;
        if self.is_request() {
            return Some(mti.to_string());
        }
        let mut bytes = mti.as_bytes().to_vec();
        bytes[2] -= 1;
        String::from_utf8(bytes).ok()
    }

    /// The trade it names: terminal, batch, STAN.
    pub fn trade(&self) -> Option<WireKey> {
        Some(WireKey { terminal: self.terminal?, batch: self.batch, stan: self.stan? })
    }

    pub fn from_terminal(&self) -> bool {
        matches!(self.from, Node::Terminal(_))
    }

    pub fn to_terminal(&self) -> bool {
        matches!(self.to, Node::Terminal(_))
    }

    /// The switch passing a message on to the network.
    pub fn upstream(&self) -> bool {
        self.from == Node::Switch && self.to == Node::Network
    }

    /// The network answering the switch.
    pub fn downstream_to_switch(&self) -> bool {
        self.from == Node::Network && self.to == Node::Switch
    }

    pub fn to_issuer(&self) -> bool {
        matches!(self.to, Node::Issuer(_))
    }
}

/// A trade as the frames name it (fields 41, 60.2, 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireKey {
    pub terminal: TerminalId,
    pub batch: Option<BatchNo>,
    pub stan: Stan,
}

/// The value of `field` in a record's listing.
pub fn field(listing: &str, field: u8) -> Option<&str> {
    // `N=` without formatting: read for every frame of a run, five times.
    let digits = [b'0' + field / 100, b'0' + field / 10 % 10, b'0' + field % 10];
    let skip = usize::from(field < 100) + usize::from(field < 10);
    let number = std::str::from_utf8(&digits[skip..]).expect("ASCII digits");
    listing.split(' ').find_map(|entry| entry.strip_prefix(number)?.strip_prefix('='))
}

/// Field 60.2 from field 60 (`22000001000`: 60.1 is two digits).
pub fn batch_of(field_60: &str) -> Option<BatchNo> {
    let digits = field_60.get(2..8)?;
    BatchNo::new(digits.parse().ok()?)
}

/// The fields of a frame's listing the oracle reads: 3, 25 and 60 for the
/// trade's kind and batch, 48 for a settlement answer's totals.
pub const FIELDS_READ: [u8; 5] = [3, 25, 48, 60, 61];
/// [`FIELDS_READ`] as a listing names them.
const FIELDS_READ_NAMES: [&str; 5] = ["3", "25", "48", "60", "61"];

/// `listing` with only the entries of [`FIELDS_READ`], in order: what
/// [`field`] finds in it for those fields is what it finds in the whole.
pub fn fields_read(listing: &str) -> String {
    let mut kept = String::new();
    for entry in listing.split(' ') {
        // Kept exactly when `field` would find one of the fields in it: its
        // name, up to the first `=`, is one of theirs. Read once per entry,
        // since every frame of a streamed run passes here.
        let Some((name, _)) = entry.split_once('=') else { continue };
        if FIELDS_READ_NAMES.contains(&name) {
            if !kept.is_empty() {
                kept.push(' ');
            }
            kept.push_str(entry);
        }
    }
    kept.shrink_to_fit();
    kept
}

/// The trade kind a request frame names, by [`TradeKind::identify`].
fn kind_of(frame: &FrameRecord) -> Option<TradeKind> {
    let mti: Mti = frame.mti.as_deref()?.parse().ok()?;
    let processing_code = field(&frame.fields, 3)?.parse().ok()?;
    let condition = field(&frame.fields, 25)?.parse().ok()?;
    let message_type = field(&frame.fields, 60)?.get(..2)?.parse().ok()?;
    TradeKind::identify(mti, processing_code, condition, message_type)
}

/// Every frame of `records`, in log order.
pub fn frames(records: &[TraceRecord]) -> Vec<WireFrame<'_>> {
    let mut frames = Vec::new();
    for (position, record) in records.iter().enumerate() {
        let TraceEvent::Frame(frame) = &record.event else { continue };
        let (garbled, flipped) = garbled(records, position, frame);
        frames.push(WireFrame {
            seq: record.seq,
            from: frame.from,
            to: frame.to,
            mti: frame.mti.as_deref(),
            terminal: frame.terminal,
            stan: frame.stan.and_then(Stan::new),
            batch: field(&frame.fields, 60).and_then(batch_of),
            code: frame.code,
            amount_fen: frame.amount_fen,
            processing_code: field(&frame.fields, 3),
            kind: kind_of(frame),
            fate: frame.fate,
            garbled,
            flipped,
            record: frame,
        });
    }
    frames
}

/// Whether the frame at `position` had a bit flipped inside its MAC span:
/// its fate says corrupted, or a corruption fault was written for it (a
/// corrupted frame that was also duplicated is recorded as duplicated).
/// Also returns whether any bit was flipped.
fn garbled(records: &[TraceRecord], position: usize, frame: &FrameRecord) -> (bool, bool) {
    let mut flips = Vec::new();
    let mut unknown = false;
    for record in records[..position].iter().rev().take(FAULTS_PER_FRAME_MAX) {
        let TraceEvent::Fault(fault) = &record.event else { break };
        if fault.kind != FaultKind::LineCorrupt {
            continue;
        }
        match fault.frame.and_then(|slot| slot.flipped) {
            Some((byte, _)) => flips.push(byte),
            None => unknown = true,
        }
    }
    if frame.fate != Fate::Corrupted && flips.is_empty() && !unknown {
        return (false, false);
    }
    (unknown || flips.is_empty() || flips.iter().any(|&byte| byte >= MAC_SPAN_START_BYTE), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_fields_read() {
        let names: Vec<String> = FIELDS_READ.iter().map(u8::to_string).collect();
        assert_eq!(names, FIELDS_READ_NAMES);
    }

    #[test]
    fn fields_read_keeps_what_field_finds() {
        let listing = "2=6222******0001 3=000000 4=000000001000 11=000005 25=00 \
                       35=x 41=T0000000 48=00000001 60=22000001000 61=000001000002 64=ABCD \
                       300=nothing";
        let kept = fields_read(listing);
        assert_eq!(kept, "3=000000 25=00 48=00000001 60=22000001000 61=000001000002");
        for number in FIELDS_READ {
            assert_eq!(field(&kept, number), field(listing, number), "field {number}");
        }
        assert_eq!(fields_read("no-equals 3"), "");
    }
}
